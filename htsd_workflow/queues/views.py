"""The work queue, bulk actions with their result page, and search."""

from __future__ import annotations

import re
from dataclasses import dataclass
from operator import itemgetter

from flask import (
    Blueprint,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale, get_translations
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import or_, select

from htsd_workflow.auth.access import access, may_open
from htsd_workflow.auth.roles import DEPARTMENT_ROLES, STAFF_ROLES
from htsd_workflow.auth.scope import in_scope, scope_clause, units_in_territory
from htsd_workflow.cases.engine import get_registry, set_of
from htsd_workflow.cases.models import Case
from htsd_workflow.cases.operations import PASS_MARK_TRIGGERS, actor_department
from htsd_workflow.core import transaction
from htsd_workflow.core.calendar import get_calendar
from htsd_workflow.core.collation import collated
from htsd_workflow.core.errors import InvalidInput
from htsd_workflow.core.labels import DEPARTMENT_LABELS, TITLE_LABELS, state_label
from htsd_workflow.core.pages import (
    UrlPattern,
    conditional_page,
    due_status,
    format_moment,
    format_points,
)
from htsd_workflow.core.text import search_key, whole_number
from htsd_workflow.core.time import utcnow
from htsd_workflow.extensions import db
from htsd_workflow.geography.models import Unit
from htsd_workflow.jobs.models import own_job, progress_of
from htsd_workflow.jobs.runner import dispatch, run_job
from htsd_workflow.queues.models import BulkJob, BulkJobItem
from htsd_workflow.queues.operations import (
    BULK_JOB,
    bulk_triggers_for,
    create_bulk_job,
    needs_comment,
)
from htsd_workflow.queues.queries import (
    COUNT_CAP,
    PassMarks,
    QueueFilter,
    count_failing,
    count_matching,
    matching_ids,
    part_holders,
    queue_page,
    queue_states,
    units_in_scope,
)
from htsd_workflow.subjects.models import Subject

bp = Blueprint("queues", __name__)

#: results listed per group on a bulk result page
RESULT_ROWS = 500


@dataclass(slots=True)
class QueueRow:
    """One row of the queue table, every text already in the user's language."""

    id: int
    state: str
    state_label: str
    subject_name: str
    title: str
    year: int
    commune_name: str | None
    submitted: str
    due: str
    #: the deadline badge: its CSS classes ("" without a due moment) and its text
    overdue: bool
    due_badge: str
    due_text: str
    #: the score that counts (reviewers' adjusted), and the self-assessed one when it differs
    points: str
    self_points: str
    #: whether the score reaches the case's pass mark (None without a score)
    passed: bool | None
    is_escalated: bool
    claimed_by_id: int | None
    claimed_by_name: str | None
    show_url: str
    claim_url: str
    release_url: str
    #: at a joint stage: (department, who holds its part or None) for each part; the
    #: claimed_by_* fields are then the holder of the viewer's own department's part
    parts: tuple = ()
    #: a levels set: (the level applied for, the level reached), each a label or None
    levels: tuple | None = None


#: the columns of queue_page's rows that queue_rows reads, in the order it unpacks them
_ROW_COLUMNS = (
    "id",
    "state",
    "subject_name",
    "title",
    "workflow",
    "year",
    "commune_name",
    "submitted_at",
    "due_at",
    "self_score",
    "score",
    "criteria_set_id",
    "is_escalated",
    "claimed_by_id",
    "claimed_by_name",
    "commune_dbkk",
)


def queue_rows(rows, now, here: str, user=None) -> list[QueueRow]:
    """The page's rows ready to print: the language, translations, calendar and link patterns
    looked up once per page; the due date and its badge once per distinct due moment (rows
    share the 17:00 deadline of a day); labels and points from their per-language caches."""
    if not rows:
        return []
    locale = str(get_locale())
    translations = get_translations()
    calendar = get_calendar()
    titles = {code: str(label) for code, label in TITLE_LABELS.items()}
    states: dict[str, str] = {}
    show = UrlPattern("cases.show", "case_id", back=here)
    claim = UrlPattern("cases.claim", "case_id")
    release = UrlPattern("cases.release", "case_id")
    # the rows as plain tuples in a known order: reading a result row's attributes by name
    # costs more than everything else done per row here
    pick = itemgetter(*(rows[0]._fields.index(name) for name in _ROW_COLUMNS))
    dues: dict = {}
    marks = PassMarks(rows)
    result = []
    holders = part_holders(rows)
    registry = get_registry()
    own_part = actor_department(user) if user is not None else None
    for (
        case_id,
        state_code,
        subject_name,
        title,
        workflow,
        year,
        commune_name,
        submitted_at,
        due_at,
        self_score,
        score,
        criteria_set_id,
        is_escalated,
        claimed_by_id,
        claimed_by_name,
        commune_dbkk,
    ) in map(pick, rows):
        counted = self_score if score is None else score
        due = dues.get(due_at)
        if due is None:
            status = due_status(due_at, now, translations, calendar)
            if status is None:
                badge = ""
            elif status["overdue"]:
                badge = "due overdue"
            else:
                badge = "due soon" if status["soon"] else "due"
            due = dues[due_at] = (
                format_moment(due_at, False),
                bool(status and status["overdue"]),
                badge,
                status["text"] if status else "",
            )
        state = states.get(state_code)
        if state is None:
            state = states[state_code] = state_label(state_code)
        parts = ()
        joint = registry.definition(title, set_of(workflow)).states[state_code].joint
        if joint:
            held = holders.get(case_id, {})
            parts = tuple(
                (DEPARTMENT_LABELS.get(p, p), held[p][1] if p in held else None) for p in joint
            )
            claimed_by_id, claimed_by_name = held.get(own_part, (None, None))
        result.append(
            QueueRow(
                id=case_id,
                state=state_code,
                state_label=state,
                subject_name=subject_name,
                title=titles.get(title, title),
                year=year,
                commune_name=commune_name,
                submitted=format_moment(submitted_at, False),
                due=due[0],
                overdue=due[1],
                due_badge=due[2],
                due_text=due[3],
                points=format_points(counted, locale),
                self_points=format_points(self_score, locale) if counted != self_score else "",
                passed=marks.passes(counted, criteria_set_id, commune_dbkk, case_id),
                is_escalated=is_escalated,
                claimed_by_id=claimed_by_id,
                claimed_by_name=claimed_by_name,
                show_url=show(case_id),
                claim_url=claim(case_id),
                release_url=release(case_id),
                parts=parts,
                levels=_levels_of(marks.results.get(case_id)),
            )
        )
    return result


def _levels_of(result) -> tuple | None:
    """(applied for, reached) of a levels-kind case's result, as labels (None: not chosen,
    not reached); None for a points-kind case."""
    if result is None:
        return None
    return (
        result.applied.label if result.applied else None,
        result.level.label if result.level else None,
    )


def _queue_context(queue_filter: QueueFilter, **extra) -> dict:
    # the user itself, not the proxy: the queries read its attributes many times
    user = current_user._get_current_object()
    now = utcnow()
    page = queue_page(
        user,
        queue_filter,
        now,
        after=request.args.get("after"),
        before=request.args.get("before"),
        size=current_app.config["QUEUE_PAGE_SIZE"],
    )
    districts, communes = units_in_scope(user)
    if queue_filter.district:
        communes = [c for c in communes if c.district_code == queue_filter.district]
    bulk = bulk_triggers_for(user)
    here = request.full_path.rstrip("?")
    context = {
        "filter": queue_filter,
        "filter_args": queue_filter.as_args(),
        "page": page,
        "rows": queue_rows(page.rows, now, here, user),
        "total": count_matching(user, queue_filter, now),
        "count_cap": COUNT_CAP,
        "states": queue_states(user),
        "districts": districts,
        "communes": communes,
        "bulk_triggers": [(t, needs_comment(t)) for t in bulk],
        "bulk_override": any(t in PASS_MARK_TRIGGERS for t in bulk),
        "confirm": None,
        "is_department": user.role in DEPARTMENT_ROLES,
        "here": here,
        "threshold": current_app.config["BULK_BACKGROUND_THRESHOLD"],
        "form": request.form if request.method == "POST" else {},
        #: ids ticked before a refused bulk action (given then); defined here so that the rows
        #: do not make an Undefined each
        "selected": frozenset(),
    }
    context.update(extra)
    return context


@bp.route("/queue")
@access(*STAFF_ROLES)
def queue():
    """The cases waiting at the user's level inside their territory, soonest due first."""
    queue_filter = QueueFilter.from_args(request.args)
    context = _queue_context(queue_filter)
    # what the page shows of its own (the layout's part is page_validator's): an unchanged
    # queue answers 304 without rendering
    shown = (
        context["rows"],
        context["total"],
        context["page"].next_cursor,
        context["page"].prev_cursor,
        context["states"],
        context["districts"],
        context["communes"],
        context["bulk_triggers"],
        context["threshold"],
        queue_filter,
    )
    return conditional_page("queues/queue.html", shown, **context)


@bp.route("/queue/bulk", methods=["POST"])
@access(*STAFF_ROLES)
def bulk():
    """Approve, sign or return the ticked cases (or all matching the filter) at once."""
    queue_filter = QueueFilter.from_args(request.form)
    trigger = request.form.get("trigger", "")
    comment = request.form.get("comment", "")
    selection = "filter" if request.form.get("selection") == "filter" else "selected"
    if selection == "filter":
        ids = matching_ids(
            current_user, queue_filter, utcnow(), current_app.config["BULK_MAX_CASES"]
        )
    else:
        ids = [n for v in request.form.getlist("case_id") if (n := whole_number(v, 1))]
    override_reason = request.form.get("override_reason", "")
    if selection == "filter" and request.form.get("confirmed") != "1" and ids:
        # a whole filter is many cases: say how many, and how many are under the pass mark,
        # before anything is done
        failing = count_failing(ids) if trigger in PASS_MARK_TRIGGERS else 0
        context = _queue_context(
            queue_filter,
            confirm={
                "trigger": trigger,
                "count": len(ids),
                "failing": failing,
                "comment": comment,
                "override_reason": override_reason,
            },
        )
        return render_template("queues/queue.html", **context)
    try:
        with transaction.undone_on_refusal():
            job = create_bulk_job(
                current_user,
                trigger,
                ids,
                comment,
                selection=selection,
                override_reason=override_reason,
            )
    except InvalidInput as exc:
        context = _queue_context(
            queue_filter, bulk_error=exc.message, selected={str(i) for i in ids}
        )
        return render_template("queues/queue.html", **context), 422
    if job.is_background:
        transaction.after_commit(dispatch, BULK_JOB, job.id)
    else:
        transaction.after_commit(run_job, BULK_JOB, job.id)
    return redirect(url_for("queues.job", job_id=job.id))


def _own_job(job_id: int) -> BulkJob:
    return own_job(BulkJob, job_id, current_user)


def _job_items(job: BulkJob, is_ok: bool) -> list:
    return db.session.execute(
        select(BulkJobItem, Subject.name, Case.state)
        .outerjoin(Case, Case.id == BulkJobItem.case_id)
        .outerjoin(Subject, Subject.id == Case.subject_id)
        .where(BulkJobItem.job_id == job.id, BulkJobItem.is_ok.is_(is_ok))
        .order_by(BulkJobItem.id)
        .limit(RESULT_ROWS)
    ).all()


@bp.route("/bulk/<int:job_id>")
@access(*STAFF_ROLES)
def job(job_id: int):
    """A bulk action's progress, then what went through and what did not, and why."""
    job = _own_job(job_id)
    return render_template(
        "queues/job.html",
        job=job,
        failed=_job_items(job, False) if job.is_finished else [],
        succeeded=_job_items(job, True) if job.is_finished else [],
        result_rows=RESULT_ROWS,
        needs_comment=needs_comment(job.trigger),
    )


@bp.route("/bulk/<int:job_id>/status")
@access(*STAFF_ROLES)
def job_status(job_id: int):
    """The progress bar's data."""
    job = _own_job(job_id)
    return jsonify(progress_of(job, succeeded=job.succeeded, failed=job.failed))


@bp.route("/bulk/<int:job_id>/resume", methods=["POST"])
@access(*STAFF_ROLES)
def resume_job(job_id: int):
    """Run the rest of a job that stopped on an error."""
    job = _own_job(job_id)
    if job.status == "failed":
        job.status = "queued"
        transaction.after_commit(dispatch, BULK_JOB, job.id)
        flash(_("Đang chạy tiếp phần còn lại."), "info")
    return redirect(url_for("queues.job", job_id=job.id))


_CASE_CODE = re.compile(r"^\s*(?:hs[-\s]?)?([0-9]{1,12})\s*$", re.IGNORECASE)


def _units_matching(key: str) -> list[Unit]:
    return db.session.scalars(
        select(Unit)
        .where(
            units_in_territory(current_user),
            Unit.level != "province",
            Unit.name_search.contains(key, autoescape=True),
        )
        .order_by(Unit.level, collated(Unit.name))
        .limit(20)
    ).all()


@bp.route("/search")
@access(*STAFF_ROLES)
def search():
    """Find a household, clan, community, unit or case by name or code, without diacritics."""
    query = (request.args.get("q") or "").strip()[:100]
    key = search_key(query)
    cases, subjects, units, latest = [], [], [], {}
    if key:
        match = _CASE_CODE.match(query)
        case_id = whole_number(match.group(1), 1) if match else None
        if case_id is not None:
            case = db.session.get(Case, case_id)
            if case is not None and in_scope(current_user, case):
                cases = [case]
        subjects = db.session.scalars(
            select(Subject)
            .where(
                scope_clause(current_user, Subject, subject_column=Subject.id),
                or_(
                    Subject.name_search.contains(key, autoescape=True),
                    Subject.external_code == query.upper(),
                    Subject.external_code == query,
                ),
            )
            .order_by(collated(Subject.name), Subject.id)
            .limit(50)
        ).all()
        if subjects:
            for row in db.session.execute(
                select(Case.subject_id, Case.id, Case.state, Case.year)
                .where(Case.subject_id.in_([s.id for s in subjects]))
                .order_by(Case.year, Case.id)
            ):
                latest[row.subject_id] = row
        if current_user.role != "applicant":
            units = _units_matching(key)
    return render_template(
        "queues/search.html",
        query=query,
        cases=cases,
        subjects=subjects,
        latest=latest,
        units=units,
        has_queue=may_open(current_app.view_functions["queues.queue"], current_user.role),
    )
