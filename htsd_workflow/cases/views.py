"""The case page, the self-assessment form, workflow actions, claims and score adjustments."""

from __future__ import annotations

import re
from datetime import datetime

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from sqlalchemy import select

from htsd_workflow.auth.access import access
from htsd_workflow.auth.models import User
from htsd_workflow.auth.roles import ASSESSMENT_EDITORS, REVIEWER_ROLES, SUPERVISOR_ROLES
from htsd_workflow.auth.scope import in_scope
from htsd_workflow.cases.assessment import KEEP
from htsd_workflow.cases.engine import get_registry
from htsd_workflow.cases.meetings import meeting_votes
from htsd_workflow.cases.models import Case, CaseEvent
from htsd_workflow.cases.operations import (
    PASS_MARK_TRIGGERS,
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
from htsd_workflow.core import transaction
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
from htsd_workflow.core.time import to_utc_naive
from htsd_workflow.evidence.operations import (
    add_attachment,
    attachments_by_item,
    may_edit_assessment,
    remove_attachment,
)
from htsd_workflow.extensions import db
from htsd_workflow.sla.operations import MAX_EXTENSION_WORKING_DAYS, extend_deadline

bp = Blueprint("cases", __name__)


def load_case(case_id: int) -> Case:
    """The case if the current user may see it; 404 otherwise (never another territory's)."""
    case = db.session.get(Case, case_id)
    if case is None or not in_scope(current_user, case):
        abort(404)
    return case


def _int(value) -> int | None:
    return whole_number(value)


#: history rows about the reviewers' own work (who holds the case, reminders to them): the
#: household's page leaves them out, as they concern no one outside the office
REVIEWER_ONLY_EVENTS = ("claim", "release", "take_over", "remind", "escalate")


def _timeline(case_id: int, *, for_applicant: bool = False) -> list[dict]:
    statement = (
        select(CaseEvent, User.full_name, User.username)
        .outerjoin(User, User.id == CaseEvent.actor_id)
        .where(CaseEvent.case_id == case_id)
        .order_by(CaseEvent.id)
    )
    if for_applicant:
        statement = statement.where(CaseEvent.trigger.not_in(REVIEWER_ONLY_EVENTS))
    rows = db.session.execute(statement).all()
    return [
        {
            "event": event,
            "who": full_name or username or _("Hệ thống"),
            "level": ROLE_LEVEL_LABELS.get(event.actor_role, "") if event.actor_role else "",
            "what": event_label(event.trigger, event.from_state),
            "new_due_at": _new_due_at(event),
        }
        for event, full_name, username in rows
    ]


def _new_due_at(event: CaseEvent):
    """The deadline an extension set (naive UTC), for the timeline."""
    value = (event.data or {}).get("new_due_at") if event.trigger == "extend_deadline" else None
    if not value:
        return None
    moment = datetime.fromisoformat(value)
    return to_utc_naive(moment) if moment.tzinfo else moment


def _returned_note(case: Case, timeline: list[dict]) -> dict | None:
    """The return that sent the case back to the applicant, shown on top until resubmitted.

    Only while the case is back with the applicant: a comment on an approval or a sign-off is
    not a return, and a case that moved on shows no banner.
    """
    state = get_registry().definition_of(case).states[case.state]
    if state.kind != "applicant" or not case.returned_from:
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
            "Hồ sơ đang ở bước “%(state)s”. Bạn chưa cần làm gì; kết quả sẽ hiện ở đây.",
            state=state_label(case.state),
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
    definition = registry.definition_of(case)
    state = definition.states[case.state]
    cset = registry.criteria_set(case.criteria_set_id)
    result = assessment_result(case)
    files = attachments_by_item(case.id)
    rows = {item.code: item for item in case.items}
    items = [
        {"spec": spec, "row": rows.get(spec.code), "files": files.get(spec.code, [])}
        for spec in cset.items
    ]
    timeline = _timeline(case.id, for_applicant=current_user.role == "applicant")
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
                "label": trigger_label(t, case.state, case.title, case.workflow),
                "confirm": definition.ends_case(t, case.state),
                "needs_comment": definition.requires_comment(t, case.state),
            }
            for t in allowed
            if t not in ("submit", "resubmit") or not may_edit_assessment(current_user, case)
        ],
        "can_submit_from_form": any(t in ("submit", "resubmit") for t in allowed),
        #: a failing case that this reviewer could move forward: ask for the override reason
        "needs_override": not result.passed and any(t in PASS_MARK_TRIGGERS for t in allowed),
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
        "can_extend": works_here and not case.is_extended,
        "max_extension_days": MAX_EXTENSION_WORKING_DAYS,
        "may_edit": may_edit_assessment(current_user, case),
        "next_step": next_step(case, current_user, state, allowed, result, signed),
        "form": request.form if request.method == "POST" else {},
        "back": safe_next(request.args.get("back")),
        "field_errors": {},
        # the village meeting's vote on the household, beside the case for the commune reviewer
        "village_vote": meeting_votes([case.id]).get(case.id),
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
    """The 409 page after a conflicting action (undone by ``undone_on_refusal``): who acted
    first, and a way to reload."""
    db.session.expire_all()
    case = db.session.get(Case, case_id)
    first = None
    if case is not None and in_scope(current_user, case):
        row = db.session.execute(
            select(CaseEvent, User.full_name, User.username)
            .outerjoin(User, User.id == CaseEvent.actor_id)
            .where(
                CaseEvent.case_id == case_id,
                CaseEvent.trigger.in_(get_registry().definition_of(case).triggers),
            )
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
        state = get_registry().definition_of(case).states[case.state]
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
        action=trigger_label(trigger, before_state, case.title, case.workflow),
        state=state_label(case.state),
    )


def _typed_adjustments(case: Case) -> list[dict]:
    """The reviewer's adjusted scores typed on the case page, each with its note."""
    entries = []
    for item in get_registry().criteria_set(case.criteria_set_id).items:
        score = request.form.get(f"review-{item.code}", "").strip()
        if score:
            entries.append(
                {"code": item.code, "score": score, "note": request.form.get(f"note-{item.code}")}
            )
    return entries


def _case_again(case_id: int, exc, status: int, where: str):
    """The case page shown again after a refused save or action, with everything typed kept
    and each error once: beside its field, or in the box of the part that refused (the refused
    operation was undone by ``undone_on_refusal``)."""
    db.session.expire_all()
    case = load_case(case_id)
    codes = {item.code for item in get_registry().criteria_set(case.criteria_set_id).items}
    beside, others = split_errors(exc.details, codes)
    message = exc.message
    if status == 409:
        message = _(
            "%(why)s Hồ sơ hiện ở phiên bản %(version)s; những gì bạn vừa nhập vẫn ở dưới đây, "
            "chưa được lưu. Xem lại rồi làm lại.",
            why=exc.message,
            version=case.version,
        )
    elif beside:
        message = ngettext(
            "Chưa lưu: %(num)s ô cần sửa (ghi chú đỏ bên dưới).",
            "Chưa lưu: %(num)s ô cần sửa (ghi chú đỏ bên dưới).",
            len(beside),
        )
    details = {str(n): m for n, m in enumerate(others)}
    if where == "score":
        context = case_context(
            case, score_error=message, score_details=details, field_errors=beside
        )
    else:
        context = case_context(
            case, action_error=message, action_details=details, field_errors=beside
        )
    return render_template("cases/case.html", **context), status


@bp.route("/cases/<int:case_id>/actions", methods=["POST"])
@access()
def act(case_id: int):
    """Fire one workflow action (approve, sign, return, reject, submit, withdraw …)."""
    case = load_case(case_id)
    trigger = request.form.get("trigger", "")
    comment = request.form.get("comment", "")
    before = case.state
    version = _int(request.form.get("version"))
    # score adjustments typed on the page go with the action, or nothing does: one form, so a
    # reviewer who types a score and presses "Đồng ý" never loses it without a word
    adjustments = _typed_adjustments(case)
    try:
        with transaction.undone_on_refusal():
            if adjustments:
                save_assessment(case.id, adjustments, current_user, expected_version=version)
                version = None  # checked by the save, under the same row lock
            updated = fire_trigger(
                case.id,
                trigger,
                current_user,
                comment=comment,
                expected_version=version,
                override_reason=request.form.get("override_reason"),
            )
    except Conflict as exc:
        if adjustments:
            return _case_again(case_id, exc, 409, "score")
        return conflict_page(case_id, exc)
    except InvalidInput as exc:
        where = "score" if any(k.startswith("items") for k in exc.details) else "action"
        return _case_again(case_id, exc, 422, where)
    if adjustments:
        flash(_("Đã lưu điểm điều chỉnh."), "success")
    flash(_done_message(updated, trigger, before), "success")
    back = safe_next(request.form.get("back"))
    if back and current_user.role != "applicant":
        return redirect(back)
    return redirect(url_for("cases.show", case_id=case_id))


@bp.route("/cases/<int:case_id>/extensions", methods=["POST"])
@access(*REVIEWER_ROLES)
def extend(case_id: int):
    """The reviewing level extends the stage's deadline once, by working days, with a reason."""
    case = load_case(case_id)
    days = _int(request.form.get("working_days"))
    try:
        with transaction.undone_on_refusal():
            extend_deadline(
                case.id,
                current_user,
                None,
                request.form.get("reason", ""),
                working_days=days if days is not None else 0,
            )
    except (InvalidInput, Conflict) as exc:
        context = case_context(
            load_case(case_id), extension_error=exc.message, extension_details=exc.details
        )
        return render_template("cases/case.html", **context), exc.status
    case = load_case(case_id)
    flash(
        _("Đã gia hạn. Hạn xử lý mới: %(due)s.", due=format_moment(case.due_at)),
        "success",
    )
    return redirect(url_for("cases.show", case_id=case_id))


@bp.route("/cases/<int:case_id>/claim", methods=["POST"])
@access()
def claim(case_id: int):
    """Take the case from the queue (or take it over from a colleague, with a note)."""
    load_case(case_id)
    take_over = request.form.get("take_over") == "1"
    try:
        with transaction.undone_on_refusal():
            claim_case(case_id, current_user, take_over=take_over, note=request.form.get("note"))
    except Conflict as exc:
        return conflict_page(case_id, exc)
    flash(_("Bạn đã nhận xử lý hồ sơ này."), "success")
    # whoever claims a case means to work on it: open it, wherever the button was
    return redirect(url_for("cases.show", case_id=case_id))


@bp.route("/cases/<int:case_id>/release", methods=["POST"])
@access()
def release(case_id: int):
    """Give the case back to the queue."""
    load_case(case_id)
    release_case(case_id, current_user)
    flash(_("Đã trả hồ sơ về hàng chờ."), "success")
    return redirect(safe_next(request.form.get("back")) or url_for("cases.show", case_id=case_id))


@bp.route("/cases/<int:case_id>/scores", methods=["POST"])
@access()
def adjust_scores(case_id: int):
    """A reviewer's adjusted scores, each with a note; the history keeps both values."""
    case = load_case(case_id)
    entries = _typed_adjustments(case)
    if not entries:
        flash(_("Bạn chưa nhập điểm điều chỉnh nào."), "warning")
        return redirect(url_for("cases.show", case_id=case_id) + "#assessment")
    try:
        with transaction.undone_on_refusal():
            save_assessment(
                case.id, entries, current_user, expected_version=_int(request.form.get("version"))
            )
    except InvalidInput as exc:
        return _case_again(case_id, exc, 422, "score")
    except Conflict as exc:
        return _case_again(case_id, exc, 409, "score")
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
    definition = registry.definition_of(case)
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
        "other_errors": [],
        "missing": (),
        "file_errors": {},
        "conflict": False,
    }
    context.update(extra)
    return context


def _keep_uploads(case_id: int, cset) -> tuple[int, dict[str, list[str]]]:
    """Keep the files uploaded with the assessment form; return how many were kept and, per
    item code, why the others were refused."""
    added = 0
    refused: dict[str, list[str]] = {}
    for item in cset.items:
        for upload in request.files.getlist(f"files-{item.code}"):
            if not upload or not upload.filename:
                continue
            try:
                add_attachment(case_id, item.code, upload.stream, upload.filename, current_user)
                added += 1
            except InvalidInput as exc:
                refused.setdefault(item.code, []).append(exc.message)
    return added, refused


#: an error key of ``validate_scores`` tied to one field of the form: items[<code>].<field>
_FIELD_KEY = re.compile(r"^items\[(?P<code>[^\]]+)\](?:\.(?P<field>score|evidence|note|code))?$")


def split_errors(details: dict, codes) -> tuple[dict[str, str], list[str]]:
    """An InvalidInput's details as (errors beside fields, keyed "score-<code>",
    "evidence-<code>", "note-<code>" or "item-<code>"; the errors no field shows)."""
    beside: dict[str, str] = {}
    others: list[str] = []
    for key, message in details.items():
        match = _FIELD_KEY.match(key)
        if match and match["code"] in codes and isinstance(message, str):
            field = match["field"] if match["field"] in ("score", "evidence", "note") else "item"
            beside[f"{field}-{match['code']}"] = message
        elif key == "level_applied" and isinstance(message, str):
            beside[key] = message  # the level applied for (a levels set)
        elif isinstance(message, str):
            others.append(message)
    return beside, others


def _assessment_again(case: Case, refusal, added: int, file_errors: dict):
    """The assessment form shown again with everything typed, each error once beside its
    field; the files already kept are listed with the item."""
    codes = {item.code for item in get_registry().criteria_set(case.criteria_set_id).items}
    field_errors: dict[str, str] = {}
    other_errors: list[str] = []
    status = 422
    if isinstance(refusal, Conflict):
        status = 409
        error = _(
            "Người khác đã lưu bản tự đánh giá này trước bạn (phiên bản %(version)s). Điểm và "
            "minh chứng bạn vừa nhập vẫn ở dưới đây, chưa được lưu; xem lại điểm đang lưu "
            "rồi bấm “Lưu bản nháp”.",
            version=case.version,
        )
    elif refusal is not None:
        field_errors, other_errors = split_errors(refusal.details, codes)
        error = _(
            "Chưa lưu điểm: %(num)s ô cần sửa (ghi chú đỏ bên dưới). Các giá trị bạn đã nhập "
            "vẫn được giữ.",
            num=len(field_errors) + len(other_errors),
        )
    else:
        error = _("Đã lưu điểm và minh chứng đã gõ, nhưng có tệp không nhận được.")
    if added:
        error = f"{error} " + _("Đã lưu %(num)s tệp vừa đính kèm.", num=added)
    context = assessment_context(
        case,
        error=error,
        field_errors=field_errors,
        other_errors=other_errors,
        file_errors=file_errors,
        conflict=isinstance(refusal, Conflict),
    )
    return render_template("cases/assessment.html", **context), status


@bp.route("/cases/<int:case_id>/assessment", methods=["GET", "POST"])
@access(*ASSESSMENT_EDITORS)
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
    refusal = None
    try:
        with transaction.undone_on_refusal():
            save_assessment(
                case.id,
                _assessment_entries(cset),
                current_user,
                expected_version=version,
                level_applied=(
                    request.form.get("level_applied", "")
                    if cset.kind == "levels" and "level_applied" in request.form
                    else KEEP
                ),
            )
    except (InvalidInput, Conflict) as exc:
        refusal = exc
    # every uploaded file is kept, even when the scores are refused: nothing typed or attached
    # is lost without a word
    added, file_errors = _keep_uploads(case.id, cset)
    db.session.flush()
    case = load_case(case_id)
    if refusal is not None or file_errors:
        transaction.keep_writes()  # the files (and scores) that were accepted
        return _assessment_again(case, refusal, added, file_errors)

    remove = _int(request.form.get("remove_file"))
    if remove:
        # "Gỡ" on a file submits the whole form: the scores typed so far were saved above
        path = remove_attachment(remove, case.id, current_user)
        transaction.after_commit(path.unlink, missing_ok=True)
        flash(_("Đã lưu bản nháp và gỡ tệp minh chứng."), "success")
        return redirect(url_for("cases.assessment", case_id=case_id))

    if request.form.get("action") == "send":
        trigger = (
            "resubmit"
            if not get_registry().definition_of(case).candidates("submit", case.state)
            else "submit"
        )
        before = case.state
        try:
            with transaction.undone_on_refusal():
                updated = fire_trigger(
                    case.id, trigger, current_user, expected_version=case.version
                )
        except InvalidInput as exc:
            transaction.keep_writes()  # the draft and its files
            missing = tuple((exc.details.get("assessment") or {}).keys())
            context = assessment_context(
                load_case(case_id),
                error=_("Đã lưu bản nháp nhưng chưa gửi được: %(why)s", why=exc.message),
                missing=missing,
                field_errors=split_errors(exc.details, ())[0],
            )
            return render_template("cases/assessment.html", **context), 422
        except Conflict as exc:
            transaction.keep_writes()  # the draft and its files
            return conflict_page(case_id, exc)
        flash(_done_message(updated, trigger, before), "success")
        return redirect(url_for("cases.show", case_id=case_id))

    if added:
        flash(_("Đã lưu bản nháp và %(num)s tệp minh chứng.", num=added), "success")
    else:
        flash(_("Đã lưu bản nháp."), "success")
    return redirect(url_for("cases.assessment", case_id=case_id))
