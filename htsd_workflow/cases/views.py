"""The case page, the self-assessment form, workflow actions, claims and score adjustments."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from htsd_workflow.auth.access import access
from htsd_workflow.auth.models import User
from htsd_workflow.auth.scope import in_scope
from htsd_workflow.cases.engine import get_registry
from htsd_workflow.cases.models import Case, CaseEvent
from htsd_workflow.cases.operations import (
    SUPERVISOR_ROLES,
    actor_department,
    allowed_triggers,
    assessment_result,
    claim_case,
    claim_holder,
    claim_part,
    fire_trigger,
    release_case,
    save_assessment,
)
from htsd_workflow.core.errors import Conflict, InvalidInput
from htsd_workflow.core.labels import (
    DEPARTMENT_LABELS,
    ROLE_LEVEL_LABELS,
    event_label,
    state_label,
    trigger_label,
)
from htsd_workflow.core.pages import error_page, format_moment, safe_next
from htsd_workflow.core.text import whole_number
from htsd_workflow.evidence.operations import (
    add_attachment,
    attachments_by_item,
    may_edit_assessment,
    remove_attachment,
)
from htsd_workflow.extensions import db

bp = Blueprint("cases", __name__)

#: triggers a person must confirm before they go (they cannot be undone)
CONFIRM_TRIGGERS = ("reject", "withdraw")
#: triggers whose comment box is required, shown as such before anyone presses them
COMMENT_TRIGGERS = ("return_to_applicant", "return_to_district", "reject")
#: history rows that change the case (a conflict page names the latest of them)
_ACTION_TRIGGERS = (
    "submit",
    "resubmit",
    "approve",
    "sign",
    "return_to_applicant",
    "return_to_district",
    "reject",
    "withdraw",
)


def load_case(case_id: int) -> Case:
    """The case if the current user may see it; 404 otherwise (never another territory's)."""
    case = db.session.get(Case, case_id)
    if case is None or not in_scope(current_user, case):
        abort(404)
    return case


def _int(value) -> int | None:
    return whole_number(value)


def _timeline(case_id: int) -> list[dict]:
    rows = db.session.execute(
        select(CaseEvent, User.full_name, User.username)
        .outerjoin(User, User.id == CaseEvent.actor_id)
        .where(CaseEvent.case_id == case_id)
        .order_by(CaseEvent.id)
    ).all()
    return [
        {
            "event": event,
            "who": full_name or username or _("Hệ thống"),
            "level": ROLE_LEVEL_LABELS.get(event.actor_role, "") if event.actor_role else "",
            "what": event_label(event.trigger, event.from_state),
        }
        for event, full_name, username in rows
    ]


def _returned_note(case: Case, timeline: list[dict]) -> dict | None:
    """The return that sent the case back to the applicant, shown on top until resubmitted."""
    if case.state == get_registry().definition(case.title).initial:
        return None
    for entry in reversed(timeline):
        event = entry["event"]
        if event.to_state == case.state and event.from_state != case.state:
            return entry if event.comment else None
    return None


def claim_holder_of(case: Case, user, state):
    """Who holds what ``user`` works on this case: at a joint stage their department's part
    (a claim there holds one part only), elsewhere the whole case; None if nobody."""
    held = {(case.id, c.part): c for c in case.part_claims} if state.joint else {}
    holder_id = claim_holder(case, user, state, {key: c.user_id for key, c in held.items()})
    if holder_id is None:
        return None
    if state.joint:
        return held[(case.id, claim_part(user, state))].user
    return case.claimed_by


def _is_supervisor(user, definition, case) -> bool:
    state = definition.states[case.state]
    return user.role in SUPERVISOR_ROLES or (
        state.is_review and user.role in definition.supervising_roles(case.state)
    )


def next_step(case, user, state, allowed, result, signed) -> str:
    """What the person looking at the case should do now, in one sentence."""
    is_owner = user.role == "applicant" or (
        user.role == "commune_reviewer" and state.kind == "applicant"
    )
    if state.is_final:
        if case.state == "recognized":
            return _("Hồ sơ đã được công nhận. Không cần làm gì thêm.")
        return _("Hồ sơ đã kết thúc ở bước “%(state)s”.", state=state_label(case.state))
    if state.kind == "applicant" and is_owner:
        if result.missing:
            return _(
                "Chấm điểm đủ các tiêu chí (còn thiếu: %(items)s), đính kèm minh chứng, rồi "
                "bấm “%(button)s”.",
                items=", ".join(result.missing),
                button=trigger_label("resubmit" if case.returned_from else "submit"),
            )
        if case.returned_from:
            return _("Bổ sung theo ý kiến trả lại ở trên, rồi bấm “Gửi lại”.")
        return _("Bản tự đánh giá đã đủ điểm. Kiểm tra minh chứng rồi bấm “Gửi hồ sơ”.")
    if state.kind == "applicant":
        return _("Hồ sơ đang ở phía hộ/đơn vị bổ sung; chưa có việc cho bạn.")
    # a reviewing stage
    if user.role == "applicant":
        return _(
            "Hồ sơ đang chờ %(level)s xử lý. Bạn chưa cần làm gì; kết quả sẽ hiện ở đây.",
            level=state_label(case.state),
        )
    if user.role in state.roles:
        department = actor_department(user)
        if department and department in signed:
            return _("Sở của bạn đã ký xác nhận; đang chờ Sở còn lại.")
        holder = claim_holder_of(case, user, state)
        if holder is not None and holder.id != user.id:
            return _("Hồ sơ đang do %(name)s xử lý.", name=holder.display_name)
        if holder is None:
            return _(
                "Bấm “Nhận xử lý”, xem bản tự đánh giá và minh chứng, rồi chọn một thao tác ở "
                "cuối trang."
            )
        return _("Xem bản tự đánh giá và minh chứng, rồi chọn một thao tác ở cuối trang.")
    return _("Hồ sơ đang ở bước “%(state)s”.", state=state_label(case.state))


def case_context(case: Case, **extra) -> dict:
    """Everything the case page shows."""
    registry = get_registry()
    definition = registry.definition(case.title)
    state = definition.states[case.state]
    cset = registry.criteria_set(case.criteria_set_id)
    result = assessment_result(case)
    files = attachments_by_item(case.id)
    rows = {item.code: item for item in case.items}
    items = [
        {"spec": spec, "row": rows.get(spec.code), "files": files.get(spec.code, [])}
        for spec in cset.items
    ]
    timeline = _timeline(case.id)
    allowed = allowed_triggers(case, current_user)
    signed = {s.department: s for s in case.sign_offs}
    joint_state = next((s for s in definition.states.values() if s.joint), None)
    works_here = state.is_review and current_user.role in state.roles
    holder = claim_holder_of(case, current_user, state)
    claimed_by_other = bool(holder and holder.id != current_user.id)
    # at a joint stage: each department's part and who holds it
    parts = [
        {
            "label": DEPARTMENT_LABELS.get(part, part),
            "claim": next((c for c in case.part_claims if c.part == part), None),
        }
        for part in state.joint
    ]
    holds_part = any(p["claim"] and p["claim"].user_id == current_user.id for p in parts)
    context = {
        "case": case,
        "subject": case.subject,
        "definition": definition,
        "state": state,
        "cset": cset,
        "result": result,
        "items": items,
        "timeline": timeline,
        "returned": _returned_note(case, timeline),
        "allowed": [
            {
                "trigger": t,
                "label": trigger_label(t, case.state),
                "confirm": t in CONFIRM_TRIGGERS,
                "needs_comment": t in COMMENT_TRIGGERS,
            }
            for t in allowed
            if t not in ("submit", "resubmit") or not may_edit_assessment(current_user, case)
        ],
        "can_submit_from_form": any(t in ("submit", "resubmit") for t in allowed),
        "signed": signed,
        "joint_state": joint_state,
        "parts": parts,
        "can_claim": works_here and holder is None,
        "can_release": holds_part
        or (
            bool(case.claimed_by_id)
            and (
                case.claimed_by_id == current_user.id
                or _is_supervisor(current_user, definition, case)
            )
        )
        or (any(p["claim"] for p in parts) and _is_supervisor(current_user, definition, case)),
        "can_take_over": state.is_review
        and claimed_by_other
        and (not state.joint or claim_part(current_user, state) is not None)
        and _is_supervisor(current_user, definition, case),
        "can_adjust": works_here and not claimed_by_other,
        "may_edit": may_edit_assessment(current_user, case),
        "next_step": next_step(case, current_user, state, allowed, result, signed),
        "form": request.form if request.method == "POST" else {},
        "back": safe_next(request.args.get("back")),
    }
    context.update(extra)
    return context


@bp.route("/cases/<int:case_id>")
@access()
def show(case_id: int):
    """The case page: stage, deadline, what to do next, assessment, sign-offs, history."""
    case = load_case(case_id)
    return render_template("cases/case.html", **case_context(case))


def conflict_page(case_id: int, exc: Conflict):
    """The 409 page after a conflicting action: who acted first, and a way to reload."""
    db.session.rollback()
    db.session.expire_all()
    case = db.session.get(Case, case_id)
    first = None
    if case is not None and in_scope(current_user, case):
        row = db.session.execute(
            select(CaseEvent, User.full_name, User.username)
            .outerjoin(User, User.id == CaseEvent.actor_id)
            .where(CaseEvent.case_id == case_id, CaseEvent.trigger.in_(_ACTION_TRIGGERS))
            .order_by(CaseEvent.id.desc())
            .limit(1)
        ).first()
        if row is not None:
            event, full_name, username = row
            first = {
                "who": full_name or username or _("Hệ thống"),
                "level": ROLE_LEVEL_LABELS.get(event.actor_role, ""),
                "what": event_label(event.trigger, event.from_state),
                "when": format_moment(event.at),
                "state": state_label(event.to_state),
            }
        state = get_registry().definition(case.title).states[case.state]
        holder = claim_holder_of(case, current_user, state)
        if holder is not None and holder.id != current_user.id:
            first = first or {}
            first["holder"] = holder.display_name
    return error_page(
        409,
        exc.message,
        first=first,
        reload_url=url_for("cases.show", case_id=case_id),
    )


def _done_message(case: Case, trigger: str, before_state: str) -> str:
    return _(
        "Đã thực hiện “%(action)s”. Hồ sơ hiện ở bước: %(state)s.",
        action=trigger_label(trigger, before_state),
        state=state_label(case.state),
    )


@bp.route("/cases/<int:case_id>/actions", methods=["POST"])
@access()
def act(case_id: int):
    """Fire one workflow action (approve, sign, return, reject, submit, withdraw …)."""
    case = load_case(case_id)
    trigger = request.form.get("trigger", "")
    comment = request.form.get("comment", "")
    before = case.state
    try:
        updated = fire_trigger(
            case.id,
            trigger,
            current_user,
            comment=comment,
            expected_version=_int(request.form.get("version")),
        )
    except Conflict as exc:
        return conflict_page(case_id, exc)
    except InvalidInput as exc:
        db.session.rollback()
        case = load_case(case_id)
        context = case_context(case, action_error=exc.message, action_details=exc.details)
        return render_template("cases/case.html", **context), 422
    db.session.commit()
    flash(_done_message(updated, trigger, before), "success")
    back = safe_next(request.form.get("back"))
    if back and current_user.role != "applicant":
        return redirect(back)
    return redirect(url_for("cases.show", case_id=case_id))


@bp.route("/cases/<int:case_id>/claim", methods=["POST"])
@access()
def claim(case_id: int):
    """Take the case from the queue (or take it over from a colleague, with a note)."""
    load_case(case_id)
    take_over = request.form.get("take_over") == "1"
    try:
        claim_case(case_id, current_user, take_over=take_over, note=request.form.get("note"))
    except Conflict as exc:
        return conflict_page(case_id, exc)
    db.session.commit()
    flash(_("Bạn đã nhận xử lý hồ sơ này."), "success")
    return redirect(safe_next(request.form.get("back")) or url_for("cases.show", case_id=case_id))


@bp.route("/cases/<int:case_id>/release", methods=["POST"])
@access()
def release(case_id: int):
    """Give the case back to the queue."""
    load_case(case_id)
    release_case(case_id, current_user)
    db.session.commit()
    flash(_("Đã trả hồ sơ về hàng chờ."), "success")
    return redirect(safe_next(request.form.get("back")) or url_for("cases.show", case_id=case_id))


@bp.route("/cases/<int:case_id>/scores", methods=["POST"])
@access()
def adjust_scores(case_id: int):
    """A reviewer's adjusted scores, each with a note; the history keeps both values."""
    case = load_case(case_id)
    cset = get_registry().criteria_set(case.criteria_set_id)
    entries = []
    for item in cset.items:
        score = request.form.get(f"review-{item.code}", "").strip()
        if score:
            entries.append(
                {"code": item.code, "score": score, "note": request.form.get(f"note-{item.code}")}
            )
    if not entries:
        flash(_("Bạn chưa nhập điểm điều chỉnh nào."), "warning")
        return redirect(url_for("cases.show", case_id=case_id) + "#assessment")
    try:
        save_assessment(case.id, entries, current_user)
    except InvalidInput as exc:
        db.session.rollback()
        case = load_case(case_id)
        context = case_context(case, score_error=exc.message, score_details=exc.details)
        return render_template("cases/case.html", **context), 422
    except Conflict as exc:
        return conflict_page(case_id, exc)
    db.session.commit()
    flash(_("Đã lưu điểm điều chỉnh."), "success")
    return redirect(url_for("cases.show", case_id=case_id) + "#assessment")


def _assessment_entries(cset) -> list[dict]:
    return [
        {
            "code": item.code,
            "score": request.form.get(f"score-{item.code}", ""),
            "evidence": request.form.get(f"evidence-{item.code}", ""),
        }
        for item in cset.items
    ]


def assessment_context(case: Case, **extra) -> dict:
    registry = get_registry()
    definition = registry.definition(case.title)
    cset = registry.criteria_set(case.criteria_set_id)
    result = assessment_result(case)
    files = attachments_by_item(case.id)
    rows = {item.code: item for item in case.items}
    typed = request.form if request.method == "POST" else None
    items = []
    for spec in cset.items:
        row = rows.get(spec.code)
        if typed is not None:
            score = typed.get(f"score-{spec.code}", "")
            evidence = typed.get(f"evidence-{spec.code}", "")
        else:
            score = "" if row is None or row.score is None else f"{row.score:g}"
            evidence = (row.evidence if row else "") or ""
        items.append(
            {
                "spec": spec,
                "row": row,
                "score": score,
                "evidence": evidence,
                "files": files.get(spec.code, []),
            }
        )
    resubmitting = not definition.candidates("submit", case.state)
    context = {
        "case": case,
        "subject": case.subject,
        "cset": cset,
        "result": result,
        "items": items,
        "submit_trigger": "resubmit" if resubmitting else "submit",
        "returned": _returned_note(case, _timeline(case.id)),
        "field_errors": {},
        "missing": (),
        "file_errors": [],
    }
    context.update(extra)
    return context


@bp.route("/cases/<int:case_id>/assessment", methods=["GET", "POST"])
@access("applicant", "commune_reviewer")
def assessment(case_id: int):
    """The self-assessment, item by item: score, evidence note and files; save or send."""
    case = load_case(case_id)
    if not may_edit_assessment(current_user, case):
        flash(_("Bản tự đánh giá chỉ sửa được khi hồ sơ đang soạn hoặc được trả lại."), "info")
        return redirect(url_for("cases.show", case_id=case_id))
    if request.method == "GET":
        return render_template("cases/assessment.html", **assessment_context(case))

    cset = get_registry().criteria_set(case.criteria_set_id)
    version = _int(request.form.get("version"))
    try:
        save_assessment(case.id, _assessment_entries(cset), current_user, expected_version=version)
    except InvalidInput as exc:
        db.session.rollback()
        context = assessment_context(
            load_case(case_id), error=exc.message, field_errors=exc.details
        )
        return render_template("cases/assessment.html", **context), 422
    except Conflict as exc:
        return conflict_page(case_id, exc)

    file_errors = []
    added = 0
    for item in cset.items:
        for upload in request.files.getlist(f"files-{item.code}"):
            if not upload or not upload.filename:
                continue
            try:
                add_attachment(case.id, item.code, upload.stream, upload.filename, current_user)
                added += 1
            except InvalidInput as exc:
                file_errors.append(exc.message)
    db.session.commit()
    case = load_case(case_id)
    if file_errors:
        context = assessment_context(
            case,
            error=_("Đã lưu điểm và minh chứng đã gõ, nhưng có tệp không nhận được:"),
            file_errors=file_errors,
        )
        return render_template("cases/assessment.html", **context), 422

    remove = _int(request.form.get("remove_file"))
    if remove:
        # "Gỡ" on a file submits the whole form: the scores typed so far were saved above
        path = remove_attachment(remove, case.id, current_user)
        db.session.commit()
        path.unlink(missing_ok=True)
        flash(_("Đã lưu bản nháp và gỡ tệp minh chứng."), "success")
        return redirect(url_for("cases.assessment", case_id=case_id))

    if request.form.get("action") == "send":
        trigger = (
            "resubmit"
            if not get_registry().definition(case.title).candidates("submit", case.state)
            else "submit"
        )
        before = case.state
        try:
            updated = fire_trigger(case.id, trigger, current_user, expected_version=case.version)
        except InvalidInput as exc:
            db.session.rollback()
            missing = tuple((exc.details.get("assessment") or {}).keys())
            context = assessment_context(
                load_case(case_id),
                error=_("Đã lưu bản nháp nhưng chưa gửi được: %(why)s", why=exc.message),
                missing=missing,
            )
            return render_template("cases/assessment.html", **context), 422
        except Conflict as exc:
            return conflict_page(case_id, exc)
        db.session.commit()
        flash(_done_message(updated, trigger, before), "success")
        return redirect(url_for("cases.show", case_id=case_id))

    if added:
        flash(_("Đã lưu bản nháp và %(num)s tệp minh chứng.", num=added), "success")
    else:
        flash(_("Đã lưu bản nháp."), "success")
    return redirect(url_for("cases.assessment", case_id=case_id))
