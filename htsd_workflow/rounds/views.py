"""The round's pages: rounds opened and changed by the province; a village's households
registered and their paper forms entered in one grid by the village head or the commune."""

from __future__ import annotations

import io
from datetime import date

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user
from sqlalchemy import select

from htsd_workflow.auth.access import access
from htsd_workflow.auth.roles import ASSESSMENT_EDITORS, REGISTRARS, ROUND_EDITORS, STAFF_ROLES
from htsd_workflow.cases.engine import get_registry
from htsd_workflow.cases.models import AssessmentItem, Round, VillageMeeting
from htsd_workflow.cases.operations import ensure_round, score_results
from htsd_workflow.cases.rounds import (
    change_round,
    consecutive_years,
    copied_from,
    copy_last_year,
    list_rounds,
    meeting_votes_of,
    previous_case,
    record_meeting,
    register_households,
    round_of_year,
    round_progress,
    save_assessments,
    save_round,
    village_households,
    village_progress,
    villages_of,
    waiting_in_commune_review,
)
from htsd_workflow.core import transaction
from htsd_workflow.core.errors import DomainError, InvalidInput
from htsd_workflow.core.text import whole_number
from htsd_workflow.core.time import to_local, utcnow
from htsd_workflow.evidence.operations import keep_minutes, minutes_file
from htsd_workflow.extensions import db
from htsd_workflow.geography.models import Unit
from htsd_workflow.imports.assessments import registration_list
from htsd_workflow.imports.assessments import template_xlsx as assessment_xlsx
from htsd_workflow.imports.jobs import create_import_job, start_check
from htsd_workflow.imports.specs import ASSESSMENT_SPEC
from htsd_workflow.reports.targets import commune_target
from htsd_workflow.subjects.models import TITLE_OF_KIND, Subject

bp = Blueprint("rounds", __name__)

#: the title a village's households register for (a household is a family)
HOUSEHOLD_TITLE = TITLE_OF_KIND["family"]
#: the states in which the household's form is still with the household (the grid edits it)
EDITABLE_KINDS = ("applicant",)


def _today() -> date:
    return to_local(utcnow()).date()


def _day(name: str) -> date | None:
    text = (request.form.get(name) or "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _level_days() -> dict:
    """Each level's deadline as typed (a cleared field removes the level's own deadline)."""
    return {level: day for level in Round.LEVELS if (day := _day(f"deadline_{level}")) is not None}


@bp.route("/rounds")
@access(*STAFF_ROLES, *REGISTRARS)
def index():
    """Every round with its dates; province officers and admins open, change and close them."""
    return render_template(
        "rounds/index.html",
        rounds=list_rounds(),
        may_edit=current_user.role in ROUND_EDITORS,
        titles=sorted(set(TITLE_OF_KIND.values())),
        levels=Round.LEVELS,
        this_year=_today().year,
        staff_roles=STAFF_ROLES,
    )


@bp.route("/rounds", methods=["POST"])
@access(*ROUND_EDITORS)
def save():
    """Open a round, or change or close one (the same checks as the command line)."""
    round_id = whole_number(request.form.get("round_id"))
    try:
        with transaction.undone_on_refusal():
            if round_id:
                change_round(
                    round_id,
                    current_user,
                    opens_on=_day("registration_opens_on"),
                    closes_on=_day("registration_closes_on"),
                    review_deadline=_day("review_deadline"),
                    close=request.form.get("action") == "close",
                    level_deadlines=_level_days(),
                )
            else:
                opens, closes, deadline = (
                    _day("registration_opens_on"),
                    _day("registration_closes_on"),
                    _day("review_deadline"),
                )
                if not (opens and closes and deadline):
                    flash(_("Nhập đủ ngày mở, ngày đóng đăng ký và hạn xét duyệt."), "error")
                    return redirect(url_for("rounds.index")), 303
                save_round(
                    request.form.get("title", ""),
                    whole_number(request.form.get("year")) or 0,
                    opens,
                    closes,
                    deadline,
                    current_user,
                    must_be_new=True,
                    level_deadlines=_level_days(),
                )
    except DomainError as exc:
        flash(exc.message, "error")
        return redirect(url_for("rounds.index")), 303
    flash(_("Đã lưu đợt xét công nhận."), "success")
    return redirect(url_for("rounds.index")), 303


@bp.route("/villages")
@access(*REGISTRARS)
def villages():
    """The villages whose households the user registers and enters; a village head goes
    straight to their own."""
    found = villages_of(current_user)
    if current_user.role == "village_head" and found:
        return _grid_page(found[0].id)
    return render_template("rounds/villages.html", villages=found)


def _grid_rows(village_id: int, round_) -> tuple[list[dict], list]:
    """The village's households: (rows of the registered ones with their scores and result,
    the households not registered yet)."""
    pairs = village_households(village_id, current_user, round_)
    cases = [case for _household, case in pairs if case is not None]
    scores: dict[int, dict] = {}
    if cases:
        for case_id, code, score in db.session.execute(
            select(AssessmentItem.case_id, AssessmentItem.code, AssessmentItem.score).where(
                AssessmentItem.case_id.in_([c.id for c in cases])
            )
        ):
            scores.setdefault(case_id, {})[code] = score
    results = score_results(cases)
    registry = get_registry()
    rows, unregistered = [], []
    for household, case in pairs:
        if case is None:
            unregistered.append(household)
            continue
        state = registry.definition_of(case).states[case.state]
        rows.append(
            {
                "household": household,
                "case": case,
                "scores": scores.get(case.id, {}),
                "result": results[case.id],
                "editable": state.kind in EDITABLE_KINDS,
            }
        )
    return rows, unregistered


@bp.route("/villages/<int:village_id>")
@access(*REGISTRARS)
def grid(village_id: int):
    """The village's grid: tick households to register them; one row per registered household,
    one column per criterion, saved as drafts or sent."""
    return _grid_page(village_id)


def _grid_page(village_id: int):
    village = db.session.get(Subject, village_id)
    round_ = round_of_year(HOUSEHOLD_TITLE, _today())
    rows, unregistered = _grid_rows(village_id, round_)
    year = round_.year if round_ else _today().year
    cset = get_registry().criteria_for(HOUSEHOLD_TITLE, year)
    return render_template(
        "rounds/grid.html",
        village=village,
        round=round_,
        rows=rows,
        unregistered=unregistered,
        items=cset.items,
        max_total=cset.max_total,
        today=_today(),
        outcome=None,
    )


@bp.route("/villages/<int:village_id>/register", methods=["POST"])
@access(*REGISTRARS)
def register(village_id: int):
    """Register the ticked households of the village for this year's round."""
    village_households(village_id, current_user)  # 404 outside the user's villages
    ids = [i for i in (whole_number(v) for v in request.form.getlist("subject_id")) if i]
    if not ids:
        flash(_("Chưa chọn hộ nào để đăng ký."), "error")
        return redirect(url_for("rounds.grid", village_id=village_id)), 303
    try:
        with transaction.undone_on_refusal():
            round_ = ensure_round(HOUSEHOLD_TITLE, _today().year)
            result = register_households(round_.id, ids, current_user)
    except DomainError as exc:
        flash(exc.message, "error")
        return redirect(url_for("rounds.grid", village_id=village_id)), 303
    counts = result["counts"]
    flash(
        _("Đã đăng ký %(num)s hộ.", num=counts["registered"]),
        "success" if not counts["failed"] else "error",
    )
    for failure in result["failed"]:
        flash(_("Hộ mã %(id)s: %(why)s", id=failure["subject_id"], why=failure["message"]), "error")
    return redirect(url_for("rounds.grid", village_id=village_id)), 303


@bp.route("/villages/<int:village_id>/register-list", methods=["POST"])
@access(*REGISTRARS)
def register_list(village_id: int):
    """Register the households a village's list names (a spreadsheet with a column "Mã hộ"):
    every row checked, and none registered while any is wrong."""
    village_households(village_id, current_user)  # 404 outside the user's villages
    village = db.session.get(Subject, village_id)
    upload = request.files.get("file")
    limit = current_app.config["IMPORT_MAX_BYTES"]
    data = upload.stream.read(limit + 1) if upload is not None else b""
    try:
        if not data or len(data) > limit:
            raise InvalidInput(
                _l("Chưa chọn tệp, tệp trống hoặc quá lớn."),
                details={"file": _l("Chọn tệp .xlsx hoặc .csv có cột “Mã hộ”")},
            )
        with transaction.undone_on_refusal():
            ids = registration_list(io.BytesIO(data), village, current_user)
            round_ = ensure_round(HOUSEHOLD_TITLE, _today().year)
            result = register_households(round_.id, ids, current_user)
    except DomainError as exc:
        flash(" ".join([exc.message, *_hints(exc)]), "error")
        for error in (exc.details or {}).get("errors", [])[:50]:
            flash(
                _("Dòng %(row)s: %(message)s", row=error["row"], message=error["message"]), "error"
            )
        return redirect(url_for("rounds.grid", village_id=village_id)), 303
    counts = result["counts"]
    flash(
        ngettext(
            "Đã đăng ký %(num)s hộ theo danh sách (%(already)s hộ đã đăng ký từ trước).",
            "Đã đăng ký %(num)s hộ theo danh sách (%(already)s hộ đã đăng ký từ trước).",
            counts["registered"],
            already=counts["already_registered"],
        ),
        "success" if not counts["failed"] else "error",
    )
    for failure in result["failed"]:
        flash(_("Hộ mã %(id)s: %(why)s", id=failure["subject_id"], why=failure["message"]), "error")
    return redirect(url_for("rounds.grid", village_id=village_id)), 303


def _typed_rows(items) -> list[dict]:
    """The grid's rows as typed: every criterion of every row (an empty cell clears a score)."""
    rows = []
    for position, case_id in enumerate(request.form.getlist("case_id"), start=1):
        case_id = whole_number(case_id)
        if not case_id:
            continue
        rows.append(
            {
                "case_id": case_id,
                "version": whole_number(request.form.get(f"version-{case_id}")),
                "row": position,
                "items": [
                    {"code": item.code, "score": request.form.get(f"score-{case_id}-{item.code}")}
                    for item in items
                ],
            }
        )
    return rows


@bp.route("/villages/<int:village_id>/grid", methods=["POST"])
@access(*REGISTRARS)
def save_grid(village_id: int):
    """Save the grid's rows as drafts; with "Gửi", send the complete ones and say why the
    others are not sent."""
    village_households(village_id, current_user)  # 404 outside the user's villages
    round_ = round_of_year(HOUSEHOLD_TITLE, _today())
    if round_ is None:
        abort(404)
    cset = get_registry().criteria_for(HOUSEHOLD_TITLE, round_.year)
    rows = _typed_rows(cset.items)
    if not rows:
        flash(_("Chưa có hộ nào để lưu."), "error")
        return redirect(url_for("rounds.grid", village_id=village_id)), 303
    send = request.form.get("action") == "send"
    try:
        with transaction.undone_on_refusal():
            outcome = save_assessments(rows, current_user, submit=send, source={"via": "grid"})
    except DomainError as exc:
        flash(exc.message, "error")
        return redirect(url_for("rounds.grid", village_id=village_id)), 303
    saved = outcome["saved"]["counts"]["succeeded"]
    sent = outcome["submitted"]["counts"]["succeeded"] if outcome["submitted"] else 0
    flash(
        ngettext("Đã lưu %(num)s hộ", "Đã lưu %(num)s hộ", saved)
        + ", "
        + ngettext("đã gửi %(num)s hộ.", "đã gửi %(num)s hộ.", sent)
        if send
        else ngettext("Đã lưu bản nháp của %(num)s hộ.", "Đã lưu bản nháp của %(num)s hộ.", saved),
        "success",
    )
    problems = outcome["saved"]["failed"] + (
        outcome["submitted"]["failed"] if outcome["submitted"] else []
    )
    if not problems:
        return redirect(url_for("rounds.grid", village_id=village_id)), 303
    rows, unregistered = _grid_rows(village_id, round_)
    names = {row["case"].id: row["household"].name for row in rows}
    village = db.session.get(Subject, village_id)
    return render_template(
        "rounds/grid.html",
        village=village,
        round=round_,
        rows=rows,
        unregistered=unregistered,
        items=cset.items,
        max_total=cset.max_total,
        today=_today(),
        outcome=[
            {"case_id": p["id"], "name": names.get(p["id"], ""), "message": p["message"]}
            for p in problems
        ],
    )


@bp.route("/villages/<int:village_id>/assessments.xlsx")
@access(*REGISTRARS)
def assessment_template(village_id: int):
    """The village's spreadsheet: its registered households as rows (with the scores saved so
    far), the criteria as columns, and a "Hướng dẫn" sheet."""
    pairs = village_households(village_id, current_user, round_of_year(HOUSEHOLD_TITLE, _today()))
    village = db.session.get(Subject, village_id)
    try:
        data = assessment_xlsx(village, pairs)
    except DomainError as exc:
        flash(exc.message, "error")
        return redirect(url_for("rounds.grid", village_id=village_id)), 303
    return send_file(
        io.BytesIO(data),
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        as_attachment=True,
        download_name=f"tu-danh-gia-{village.external_code or village.id}.xlsx",
    )


@bp.route("/villages/<int:village_id>/assessments", methods=["POST"])
@access(*REGISTRARS)
def upload_assessments(village_id: int):
    """Keep the filled spreadsheet and check it like every import (now, or in the worker
    when large); its page shows the report, then "Xác nhận nhập"."""
    village_households(village_id, current_user)  # 404 outside the user's villages
    upload = request.files.get("file")
    try:
        if upload is None:
            raise InvalidInput(
                _l("Chưa chọn tệp."),
                details={"file": _l("Chọn tệp .xlsx hoặc .csv rồi bấm Tải lên")},
            )
        with transaction.undone_on_refusal():
            job = create_import_job(
                current_user, ASSESSMENT_SPEC.kind, upload.stream, upload.filename
            )
    except DomainError as exc:
        flash(" ".join([exc.message, *_hints(exc)]), "error")
        return redirect(url_for("rounds.grid", village_id=village_id)), 303
    transaction.after_commit(start_check, job)
    return redirect(url_for("imports.job", job_id=job.id)), 303


def _hints(exc: DomainError) -> list[str]:
    return [str(v) for v in (exc.details or {}).values() if isinstance(v, str)]


def _meeting_of(village_id: int, round_):
    if round_ is None:
        return None
    return db.session.scalar(
        select(VillageMeeting).where(
            VillageMeeting.village_id == village_id, VillageMeeting.round_id == round_.id
        )
    )


def _meeting_page(village_id: int, errors: dict | None = None, status: int = 200):
    round_ = round_of_year(HOUSEHOLD_TITLE, _today())
    rows, _unregistered = _grid_rows(village_id, round_)
    meeting = _meeting_of(village_id, round_)
    votes = {}
    if meeting is not None:
        votes = {v.subject_id: v for v in meeting_votes_of([meeting.id])[meeting.id]}
    return (
        render_template(
            "rounds/meeting.html",
            village=db.session.get(Subject, village_id),
            round=round_,
            rows=rows,
            meeting=meeting,
            votes=votes,
            errors=errors or {},
            form=request.form,
            today=_today(),
        ),
        status,
    )


@bp.route("/villages/<int:village_id>/meeting")
@access(*REGISTRARS)
def meeting(village_id: int):
    """The village's meeting (bình xét) of this year's round: the record, or the form to
    record it (date, chair, secretary, attendance, each household's votes, the minutes)."""
    village_households(village_id, current_user)  # 404 outside the user's villages
    return _meeting_page(village_id)


def _typed_votes(rows) -> tuple[list[dict], dict]:
    votes, errors = [], {}
    for row in rows:
        subject_id = row["household"].id
        typed_for = (request.form.get(f"for-{subject_id}") or "").strip()
        typed_present = (request.form.get(f"present-{subject_id}") or "").strip()
        if not typed_for and not typed_present:
            continue
        votes_for, present = whole_number(typed_for, 0), whole_number(typed_present, 0)
        if votes_for is None or present is None:
            errors[f"for-{subject_id}"] = _(
                "%(name)s: nhập số phiếu đồng ý và số người biểu quyết", name=row["household"].name
            )
            continue
        votes.append({"subject_id": subject_id, "votes_for": votes_for, "present": present})
    return votes, errors


@bp.route("/villages/<int:village_id>/meeting", methods=["POST"])
@access(*REGISTRARS)
def record_village_meeting(village_id: int):
    """Record the meeting once, with the minutes' scan or photo; a refusal keeps what was
    typed and names each wrong field."""
    village_households(village_id, current_user)  # 404 outside the user's villages
    round_ = round_of_year(HOUSEHOLD_TITLE, _today())
    if round_ is None:
        abort(404)
    rows, _unregistered = _grid_rows(village_id, round_)
    votes, errors = _typed_votes(rows)
    held_on = _day("held_on")
    attendance = whole_number(request.form.get("attendance"), 1)
    if held_on is None:
        errors["held_on"] = _("Nhập ngày họp")
    if attendance is None:
        errors["attendance"] = _("Nhập số người dự họp")
    if errors:
        return _meeting_page(village_id, errors, 422)
    names = {row["household"].id: row["household"].name for row in rows}
    try:
        with transaction.undone_on_refusal():
            upload = request.files.get("minutes")
            minutes = (
                keep_minutes(upload.stream, upload.filename) if upload and upload.filename else None
            )
            record_meeting(
                village_id,
                round_.id,
                held_on=held_on,
                chair=request.form.get("chair", ""),
                secretary=request.form.get("secretary", ""),
                attendance=attendance,
                votes=votes,
                actor=current_user,
                minutes_path=minutes,
            )
    except DomainError as exc:
        found = {}
        for key, message in (exc.details or {}).items():
            if key.startswith("votes[") and key[6:-1].isdigit():
                subject_id = votes[int(key[6:-1])]["subject_id"]
                found[f"for-{subject_id}"] = f"{names.get(subject_id, '')}: {message}"
            else:
                found[key] = str(message)
        found.setdefault("form", exc.message)
        return _meeting_page(village_id, found, exc.status if exc.status != 404 else 422)
    flash(_("Đã ghi biên bản họp bình xét của thôn."), "success")
    return redirect(url_for("rounds.meeting", village_id=village_id)), 303


@bp.route("/villages/<int:village_id>/meeting/minutes")
@access(*REGISTRARS)
def meeting_minutes(village_id: int):
    """The meeting's minutes as it was uploaded (a scan or a photo)."""
    village_households(village_id, current_user)  # 404 outside the user's villages
    meeting = _meeting_of(village_id, round_of_year(HOUSEHOLD_TITLE, _today()))
    if meeting is None or not meeting.minutes_path:
        abort(404)
    path = minutes_file(meeting.minutes_path)
    if not path.is_file():
        abort(404)
    return send_file(path, download_name=f"bien-ban-hop-thon{path.suffix}")


@bp.app_template_global()
def years_in_a_row(years) -> int:
    """How many of ``years`` run in a row up to the latest ("3 năm liền")."""
    return consecutive_years(years)


@bp.app_template_global()
def last_year_case(case):
    """The household's previous case of the title (for "Chép bản tự đánh giá năm trước")."""
    return previous_case(case)


@bp.app_template_global()
def assessment_copied_from(case):
    """The case whose assessment this one's latest save copied, or None."""
    return copied_from(case)


@bp.route("/cases/<int:case_id>/copy-last-year", methods=["POST"])
@access(*ASSESSMENT_EDITORS)
def copy_assessment(case_id: int):
    """Start the draft's assessment from last year's: scores and evidence notes, not files."""
    try:
        with transaction.undone_on_refusal():
            copy_last_year(case_id, current_user)
    except DomainError as exc:
        if exc.status == 404:
            abort(404)
        flash(exc.message, "error")
        return redirect(url_for("cases.assessment", case_id=case_id)), 303
    flash(
        _("Đã chép điểm và ghi chú minh chứng năm trước; hãy kiểm tra lại từng tiêu chí."),
        "success",
    )
    return redirect(url_for("cases.assessment", case_id=case_id)), 303


def _totals(areas: list[dict]) -> dict:
    totals = {"registered": 0, "submitted": 0, "states": {}}
    for area in areas:
        totals["registered"] += area["registered"]
        totals["submitted"] += area["submitted"]
        for state, count in area["states"].items():
            totals["states"][state] = totals["states"].get(state, 0) + count
    return totals


@bp.route("/rounds/commune")
@access("commune_reviewer")
def commune():
    """The commune officer's start page: this year's round in their commune — figures, each
    village's progress, and the cases waiting on them, soonest due first."""
    round_ = round_of_year(HOUSEHOLD_TITLE, _today())
    areas = round_progress(round_, current_user) if round_ else []
    waiting = waiting_in_commune_review(current_user)
    overdue = sum(1 for case, _name in waiting if case.due_at and case.due_at < utcnow())
    totals = _totals(areas)
    deadline = round_.deadline_of("commune") if round_ else None
    return render_template(
        "rounds/commune.html",
        round=round_,
        commune_deadline=deadline,
        days_left=(deadline - _today()).days if deadline else None,
        # the round's own deadline for the commune, used: what is still with the commune after it
        late_in_round=(
            totals["states"].get("commune_review", 0) if deadline and _today() > deadline else 0
        ),
        target=_commune_target(round_),
        totals=totals,
        villages=village_progress(round_, current_user) if round_ else [],
        waiting=waiting,
        overdue=overdue,
        states=_state_order(),
    )


def _commune_target(round_) -> dict | None:
    """The officer's commune against the plan's target for this round (None without one)."""
    if round_ is None or not current_user.unit_code:
        return None
    return commune_target(current_user.unit_code, round_.title, round_.year)


def _state_order() -> list[str]:
    return [state.name for state in get_registry().states_in_force()]


@bp.route("/rounds/<int:round_id>/progress")
@access(*STAFF_ROLES)
def progress(round_id: int):
    """A round's progress per district and commune of the user's territory."""
    round_ = db.session.get(Round, round_id)
    if round_ is None:
        abort(404)
    areas = round_progress(round_, current_user)
    codes = {a["commune_code"] for a in areas} | {a["district_code"] for a in areas}
    names = dict(
        db.session.execute(select(Unit.code, Unit.name).where(Unit.code.in_(codes - {None}))).all()
    )
    return render_template(
        "rounds/progress.html",
        round=round_,
        areas=areas,
        names=names,
        totals=_totals(areas),
        states=_state_order(),
    )
