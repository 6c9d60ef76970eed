"""The only code that changes cases. Functions flush, never commit: the caller owns the commit.

``fire_trigger`` (one case) and ``fire_bulk`` (many) share one path: lock the rows, plan each
transition in Python against the shared machine, then write the updates, history, stage visits,
sign-offs and outbox rows with one statement per group of like changes.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from transitions import MachineError

from htsd_workflow.auth.models import User
from htsd_workflow.auth.roles import DEPARTMENT_OF_ROLE, REVIEWER_ROLES
from htsd_workflow.auth.scope import in_scope
from htsd_workflow.cases import pg_writer
from htsd_workflow.cases.definitions import TransitionDef, WorkflowDefinition
from htsd_workflow.cases.engine import TransitionContext, WorkflowRegistry, get_registry
from htsd_workflow.cases.models import (
    MAX_COMMENT_LENGTH,
    AssessmentItem,
    Case,
    CaseEvent,
    PartClaim,
    Round,
    SignOff,
    StageVisit,
)
from htsd_workflow.cases.pg_writer import Writes
from htsd_workflow.core import labels, pg
from htsd_workflow.core.calendar import WorkingCalendar, get_calendar
from htsd_workflow.core.errors import (
    BelowPassMark,
    Conflict,
    DomainError,
    InvalidInput,
    NotAllowed,
    NotFound,
    later,
)
from htsd_workflow.core.text import nfc
from htsd_workflow.core.time import to_local, utcnow
from htsd_workflow.criteria.scoring import ScoreResult, compute_result, validate_scores
from htsd_workflow.extensions import db
from htsd_workflow.geography.models import Unit
from htsd_workflow.geography.queries import unit_is_dbkk_in
from htsd_workflow.notifications.models import OutboxMessage
from htsd_workflow.subjects.models import TITLE_OF_KIND, Subject

#: roles that may act on any case of their territory as supervisors (take over a claim)
SUPERVISOR_ROLES = ("province_officer", "manager", "admin")
#: triggers that move a case forward towards recognition: refused below the pass mark unless
#: the reviewer gives an override reason
PASS_MARK_TRIGGERS = ("approve", "sign")

_SNAPSHOT_COLUMNS = (
    Case.id,
    Case.subject_id,
    Case.title,
    Case.year,
    Case.state,
    Case.version,
    Case.entry_level,
    Case.returned_from,
    Case.province_code,
    Case.district_code,
    Case.commune_code,
    Case.claimed_by_id,
    Case.criteria_set_id,
    Case.due_at,
    Case.submitted_at,
    Case.stage_entered_at,
)


@dataclass
class PlannedChange:
    """One case's transition, checked and ready to be written."""

    case: object  # a snapshot row with the _SNAPSHOT_COLUMNS
    transition: TransitionDef
    from_state: str
    to_state: str
    department: str | None = None
    comment: str | None = None
    #: a failing case moved forward anyway: the reason, the score and the mark (for history)
    override: dict | None = None

    @property
    def changes_state(self) -> bool:
        return self.from_state != self.to_state


@dataclass
class BulkResult:
    """Per-case outcome of a bulk call."""

    succeeded: list[dict] = field(default_factory=list)
    failed: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "succeeded": self.succeeded,
            "failed": self.failed,
            "counts": {"succeeded": len(self.succeeded), "failed": len(self.failed)},
        }


# --- permission --------------------------------------------------------------------------


def actor_department(user: User) -> str | None:
    return DEPARTMENT_OF_ROLE.get(user.role)


def _require_active(user: User | None) -> None:
    if user is None or not user.is_active:
        raise NotAllowed(_l("Tài khoản không còn hoạt động."))


def claim_part(user: User, state) -> str | None:
    """The part of a joint stage a user works: their department, if the stage lists it."""
    department = actor_department(user)
    return department if department in state.joint else None


def part_claims_of(case_ids) -> dict[tuple[int, str], int]:
    """Who holds each claimed department part of these cases: (case id, part) -> user id."""
    if not case_ids:
        return {}
    rows = db.session.execute(
        select(PartClaim.case_id, PartClaim.part, PartClaim.user_id).where(
            PartClaim.case_id.in_(case_ids)
        )
    )
    return {(case_id, part): user_id for case_id, part, user_id in rows}


def claim_holder(case, user: User, state, part_claims: dict | None) -> int | None:
    """Who holds what ``user`` would act on: at a joint stage their department's part (the
    other department's claim does not hold it), elsewhere the whole case."""
    if state.joint:
        part = claim_part(user, state)
        if part is None:
            return None
        if part_claims is None:
            part_claims = part_claims_of([case.id])
        return part_claims.get((case.id, part))
    return case.claimed_by_id


def _check_actor(
    user: User, case, definition: WorkflowDefinition, specs, part_claims: dict | None = None
) -> None:
    """Refuse unless the actor's role, level, territory and claim allow acting on the case."""
    _require_active(user)
    if not in_scope(user, case):
        raise NotFound(_l("Không tìm thấy hồ sơ trong phạm vi của bạn."))
    roles = {role for spec in specs for role in spec.roles}
    state = definition.states[case.state]
    reviewing = state.is_review and user.role != "applicant"
    if reviewing and user.role not in state.roles and user.role in REVIEWER_ROLES:
        # a reviewer of another stage: the case has moved on (or is not yet theirs)
        raise Conflict(
            _l(
                "Hồ sơ hiện ở bước “%(state)s”, không còn trong hàng chờ của bạn.",
                state=later(labels.state_label, case.state, definition),
            ),
            details={"state": case.state},
        )
    if user.role not in roles or (reviewing and user.role not in state.roles):
        raise NotAllowed(
            _l(
                "Vai trò của bạn không được thực hiện thao tác này khi hồ sơ ở bước “%(state)s”.",
                state=later(labels.state_label, case.state, definition),
            )
        )
    holder = claim_holder(case, user, state, part_claims) if state.is_review else None
    if holder is not None and holder != user.id and user.role != "applicant":
        raise NotAllowed(_l("Hồ sơ đang do cán bộ khác nhận xử lý; chỉ người đó được thao tác."))


# --- planning ----------------------------------------------------------------------------


def _missing_items(case_ids, registry: WorkflowRegistry, snapshots, cur=None) -> dict[int, tuple]:
    """Criteria item codes without a self-assessed score, per case (one query)."""
    scored = defaultdict(set)
    if cur is not None:
        rows = pg_writer.scored_items(cur, case_ids)
    else:
        rows = db.session.execute(
            select(AssessmentItem.case_id, AssessmentItem.code).where(
                AssessmentItem.case_id.in_(case_ids), AssessmentItem.score.is_not(None)
            )
        )
    for case_id, code in rows:
        scored[case_id].add(code)
    missing = {}
    for snap in snapshots:
        cset = registry.criteria_set(snap.criteria_set_id)
        missing[snap.id] = tuple(i.code for i in cset.items if i.code not in scored[snap.id])
    return missing


def score_results(cases) -> dict[int, ScoreResult]:
    """The score that counts (reviewers' adjusted scores where given) and pass/fail of each
    case, against the pass mark of its commune's ĐBKK status in the case's year; ``cases`` are
    rows or objects with id and criteria_set_id (one statement in all)."""
    cases = list(cases)
    if not cases:
        return {}
    registry = get_registry()
    scores: dict[int, dict] = defaultdict(dict)
    dbkk: set[int] = set()
    rows = db.session.execute(
        select(
            Case.id,
            AssessmentItem.code,
            func.coalesce(AssessmentItem.reviewed_score, AssessmentItem.score),
            unit_is_dbkk_in(Case.year),
        )
        .select_from(Case)
        .outerjoin(AssessmentItem, AssessmentItem.case_id == Case.id)
        .outerjoin(Unit, Unit.code == Case.commune_code)
        .where(Case.id.in_([c.id for c in cases]))
    )
    for case_id, code, score, is_dbkk in rows:
        if code is not None:
            scores[case_id][code] = score
        if is_dbkk:
            dbkk.add(case_id)
    return {
        c.id: compute_result(registry.criteria_set(c.criteria_set_id), scores[c.id], c.id in dbkk)
        for c in cases
    }


def _vn(value: float) -> str:
    return f"{value:g}".replace(".", ",")


def _check_pass_mark(result: ScoreResult | None, override_reason: str | None):
    """The override record of a failing case moved forward, None for a passing one; refuse a
    failing case without a reason."""
    if result is None or result.passed:
        return None
    reason = clean_comment(override_reason, "override_reason")
    facts = {"total": result.total, "max_total": result.max_total, "pass_mark": result.pass_mark}
    if reason is None:
        raise BelowPassMark(
            _l(
                "Hồ sơ chưa đạt: được %(total)s/%(max)s điểm, dưới điểm đạt %(mark)s. Muốn vẫn "
                "chuyển tiếp, ghi lý do vào ô “Lý do chuyển tiếp dù chưa đạt”.",
                total=_vn(result.total),
                max=_vn(result.max_total),
                mark=_vn(result.pass_mark),
            ),
            details={
                "override_reason": _l("Bắt buộc khi chuyển tiếp hồ sơ chưa đạt điểm"),
                **facts,
            },
        )
    return {"reason": reason, **facts}


def _signed_departments(case_ids, cur=None) -> dict[int, set[str]]:
    signed = defaultdict(set)
    if cur is not None:
        rows = pg_writer.signed_departments(cur, case_ids)
    else:
        rows = db.session.execute(
            select(SignOff.case_id, SignOff.department).where(SignOff.case_id.in_(case_ids))
        )
    for case_id, department in rows:
        signed[case_id].add(department)
    return signed


def clean_comment(comment: str | None, field: str = "comment") -> str | None:
    """``comment`` in NFC without surrounding spaces (None when empty); refused, naming
    ``field``, when longer than ``MAX_COMMENT_LENGTH`` characters."""
    comment = nfc(comment) or None
    if comment is not None and len(comment) > MAX_COMMENT_LENGTH:
        raise InvalidInput(
            _l("Nhận xét quá dài (tối đa %(limit)s ký tự).", limit=MAX_COMMENT_LENGTH),
            details={field: _l("Tối đa %(limit)s ký tự", limit=MAX_COMMENT_LENGTH)},
        )
    return comment


def _plan(
    snap,
    trigger: str,
    user: User,
    comment: str | None,
    registry: WorkflowRegistry,
    missing: dict,
    signed: dict,
    part_claims: dict | None = None,
    results: dict | None = None,
    override_reason: str | None = None,
) -> PlannedChange:
    definition = registry.definition(snap.title)
    if trigger not in definition.triggers:
        raise InvalidInput(
            _l("Thao tác “%(trigger)s” không có trong quy trình.", trigger=trigger),
            details={
                "trigger": _l("Chọn một trong: %(choices)s", choices=", ".join(definition.triggers))
            },
        )
    specs = definition.candidates(trigger, snap.state)
    if not specs:
        raise Conflict(
            _l(
                "Không thể thực hiện “%(trigger)s” khi hồ sơ đang ở bước “%(state)s”.",
                trigger=later(labels.trigger_label, trigger, snap.state),
                state=later(labels.state_label, snap.state, definition),
            ),
            details={"state": snap.state, "trigger": trigger},
        )
    _check_actor(user, snap, definition, specs, part_claims)
    comment = clean_comment(comment)
    if any(s.comment_required for s in specs) and not comment:
        raise InvalidInput(
            _l("Cần ghi rõ lý do hoặc nội dung cần bổ sung."),
            details={"comment": _l("Bắt buộc nhập nhận xét cho thao tác này.")},
        )
    state = definition.states[snap.state]
    department = None
    signed_now = frozenset(signed.get(snap.id, ()))
    if trigger == "sign":
        department = actor_department(user)
        if department is None or department not in state.joint:
            raise NotAllowed(_l("Chỉ các sở tham gia xác nhận liên ngành mới được ký."))
        if department in signed_now:
            raise Conflict(
                _l(
                    "%(department)s đã ký xác nhận hồ sơ này.",
                    department=labels.DEPARTMENT_LABELS.get(department, department),
                ),
                details={"department": department},
            )
        signed_now = signed_now | {department}
    override = None
    if trigger in PASS_MARK_TRIGGERS:
        override = _check_pass_mark((results or {}).get(snap.id), override_reason)
    ctx = TransitionContext(
        state=snap.state,
        entry_level=snap.entry_level,
        returned_from=snap.returned_from,
        missing_items=missing.get(snap.id),
        signed_departments=signed_now,
        joint_departments=state.joint,
    )
    try:
        taken = registry.engine(snap.title).run(ctx, trigger)
    except MachineError as exc:  # pragma: no cover - candidates() already checked the source
        raise Conflict(_l("Hồ sơ không còn ở bước cho phép thao tác này.")) from exc
    if taken is None:
        missing_codes = missing.get(snap.id)
        if missing_codes:
            raise InvalidInput(
                _l(
                    "Bản tự đánh giá chưa đầy đủ: còn thiếu điểm các tiêu chí %(codes)s.",
                    codes=", ".join(missing_codes),
                ),
                details={"assessment": {code: _l("Chưa chấm điểm") for code in missing_codes}},
            )
        raise NotAllowed(_l("Hồ sơ không đáp ứng điều kiện để thực hiện thao tác này."))
    if user.role not in taken.roles:
        # the roles were checked as a union over the trigger's rows; the row that fires decides
        raise NotAllowed(
            _l(
                "Vai trò của bạn không được thực hiện thao tác này khi hồ sơ ở bước “%(state)s”.",
                state=later(labels.state_label, snap.state, definition),
            )
        )
    return PlannedChange(
        case=snap,
        transition=taken,
        from_state=snap.state,
        to_state=ctx.state,
        department=department,
        comment=comment,
        override=override,
    )


# --- writing -----------------------------------------------------------------------------


def _close(change: PlannedChange, part: str | None, calendar, now: datetime) -> dict:
    """The stage visits a change ends: all the case's open ones, or one department's part.

    Every open visit began when the case entered its current stage, so the stay's working
    days follow from the case's ``stage_entered_at``; whether it was late follows from each
    visit's own ``due_at`` (in SQL). The writers refuse to go on if an open visit began at
    another moment.
    """
    entered = change.case.stage_entered_at
    return {
        "case_id": change.case.id,
        "part": part,
        "outcome": change.transition.trigger,
        "entered_at": entered,
        "working_days": calendar.elapsed_working_days(entered, now),
    }


def _writes(
    planned: list[PlannedChange],
    user: User | None,
    registry: WorkflowRegistry,
    calendar: WorkingCalendar,
    now: datetime,
) -> Writes:
    """Every row the planned changes write: case updates, stage visits, sign-offs, history,
    outbox."""
    writes = Writes()
    actor_id = user.id if user is not None else None
    for c in planned:
        definition = registry.definition(c.case.title)
        source = definition.states[c.from_state]
        dest = definition.states[c.to_state]
        if c.changes_state:
            # the case row
            due = calendar.due_at(now, dest.sla_days) if dest.is_review else None
            if dest.kind == "applicant" and source.is_review:
                keep, returned_from = False, c.from_state
            elif dest.is_review:
                keep, returned_from = False, None
            else:
                keep, returned_from = True, None
            writes.moves.append(
                {
                    "id": c.case.id,
                    "from_state": c.from_state,
                    "to_state": c.to_state,
                    "is_open": not dest.is_final,
                    "due_at": due,
                    "keep_returned": keep,
                    "returned_from": returned_from,
                    "is_final": dest.is_final,
                }
            )
            # sign-offs are cleared when the case leaves the joint stage, but not to an end
            if source.joint and not dest.is_final:
                writes.cleared.append(c.case.id)
            if source.joint:  # the parts' claims end with the stage, as the case's claim does
                writes.unclaimed.append((c.case.id, None))
            # stage visits: what the change ends, and what it begins
            if source.is_review:
                writes.closes.append(_close(c, None, calendar, now))
            if dest.is_review:
                for stage in (dest.name, *(f"{dest.name}:{d}" for d in dest.joint)):
                    writes.visits.append(
                        {
                            "case_id": c.case.id,
                            "stage": stage,
                            "title": c.case.title,
                            "year": c.case.year,
                            "province_code": c.case.province_code,
                            "district_code": c.case.district_code,
                            "commune_code": c.case.commune_code,
                            "entered_at": now,
                            "due_at": due,
                            "is_escalated": False,
                        }
                    )
        elif c.department:
            writes.closes.append(_close(c, f"{c.from_state}:{c.department}", calendar, now))
        if c.department:
            if not c.changes_state:  # signing ends the department's claim on its part
                writes.unclaimed.append((c.case.id, c.department))
            writes.signs.append(
                {"case_id": c.case.id, "department": c.department, "user_id": actor_id, "at": now}
            )
        data = {"department": c.department} if c.department else {}
        if c.override:
            data["override"] = c.override
        writes.events.append(
            {
                "case_id": c.case.id,
                "at": now,
                "actor_id": actor_id,
                "actor_role": user.role if user is not None else None,
                "trigger": c.transition.trigger,
                "from_state": c.from_state,
                "to_state": c.to_state,
                "comment": c.comment,
                "data": data or None,
            }
        )
        writes.outbox.append(
            {
                "case_id": c.case.id,
                "kind": c.transition.trigger,
                "payload": {
                    "from_state": c.from_state,
                    "to_state": c.to_state,
                    "actor_id": actor_id,
                    "department": c.department,
                    "comment": c.comment,
                },
            }
        )
    return writes


def _refuse_stray_visits(stray: int) -> None:
    if stray:
        raise RuntimeError(
            f"{stray} open stage visit(s) began at another moment than their case's stage: "
            "the stage_visits table no longer follows the cases"
        )


def _close_with_sqlalchemy(closes: list[dict], now: datetime) -> None:
    stay_began = (
        select(Case.stage_entered_at).where(Case.id == StageVisit.case_id).scalar_subquery()
    )
    groups: dict[tuple, list[int]] = defaultdict(list)
    for close in closes:
        groups[(close["part"], close["outcome"], close["working_days"])].append(close["case_id"])
    ids = [close["case_id"] for close in closes]
    stray = db.session.scalar(
        select(func.count()).where(
            StageVisit.case_id.in_(ids),
            StageVisit.left_at.is_(None),
            StageVisit.entered_at != stay_began,
        )
    )
    _refuse_stray_visits(stray)
    for (part, outcome, days), case_ids in groups.items():
        statement = update(StageVisit).where(
            StageVisit.case_id.in_(case_ids),
            StageVisit.left_at.is_(None),
            StageVisit.entered_at == stay_began,
        )
        if part is not None:
            statement = statement.where(StageVisit.stage == part)
        db.session.execute(
            statement.values(
                left_at=now,
                outcome=outcome,
                working_days=days,
                is_late=func.coalesce(StageVisit.due_at < now, False),
            ).execution_options(synchronize_session=False)
        )


def _write_with_sqlalchemy(writes: Writes, now: datetime, expected_version: int | None) -> int:
    """Write a batch with one statement per group of like changes; return the cases moved."""
    groups: dict[tuple, list[int]] = defaultdict(list)
    for m in writes.moves:
        key = (m["from_state"], m["to_state"], m["due_at"], m["keep_returned"])
        groups[key + (m["returned_from"], m["is_final"])].append(m["id"])
    if writes.closes:  # before the cases change: a visit is matched to its case's stay
        _close_with_sqlalchemy(writes.closes, now)
    moved = 0
    for (from_state, to_state, due, keep, returned_from, is_final), ids in groups.items():
        values = {
            "state": to_state,
            "is_open": not is_final,
            "version": Case.version + 1,
            "stage_entered_at": now,
            "due_at": due,
            "is_extended": False,
            "escalation_rung": 0,
            "is_escalated": False,
            "claimed_by_id": None,
            "claimed_at": None,
            "submitted_at": func.coalesce(Case.submitted_at, now),
        }
        if not keep:
            values["returned_from"] = returned_from
        if is_final:
            values["decided_at"] = now
        statement = update(Case).where(Case.id.in_(ids), Case.state == from_state)
        if expected_version is not None:
            statement = statement.where(Case.version == expected_version)
        result = db.session.execute(
            statement.values(**values).execution_options(synchronize_session=False)
        )
        moved += result.rowcount
    if writes.signs:
        db.session.execute(insert(SignOff), writes.signs)
    if writes.cleared:
        db.session.execute(delete(SignOff).where(SignOff.case_id.in_(writes.cleared)))
    if writes.visits:
        db.session.execute(insert(StageVisit), writes.visits)
    # one event per case in a batch, so RETURNING maps back by case id (no ordering needed,
    # which keeps the INSERT a single multi-row statement on SQLite too)
    event_of_case = dict(
        db.session.execute(
            insert(CaseEvent).returning(CaseEvent.case_id, CaseEvent.id), writes.events
        ).all()
    )
    db.session.execute(
        insert(OutboxMessage),
        [
            {
                "event_id": event_of_case[m["case_id"]],
                "case_id": m["case_id"],
                "kind": m["kind"],
                "payload": m["payload"],
                "created_at": now,
                "attempts": 0,
            }
            for m in writes.outbox
        ],
    )
    return moved


def _apply(
    planned: list[PlannedChange],
    user: User | None,
    registry: WorkflowRegistry,
    calendar: WorkingCalendar,
    now: datetime,
    expected_version: int | None = None,
    cur=None,
) -> tuple[dict[int, int], Writes]:
    """Write the planned changes set-wise; return the new version per case id, and the rows.

    ``cur`` (a PostgreSQL cursor from ``pg.cursor()``) writes everything in one statement;
    without it, SQLAlchemy statements do the same.
    """
    if not planned:
        return {}, Writes()
    writes = _writes(planned, user, registry, calendar, now)
    if cur is not None:
        moved, stray = pg_writer.write(
            cur,
            writes,
            now=now,
            actor_id=user.id if user is not None else None,
            actor_role=user.role if user is not None else None,
            expected_version=expected_version,
        )
        _refuse_stray_visits(stray)
    else:
        moved = _write_with_sqlalchemy(writes, now, expected_version)
    if moved != len(writes.moves):  # the rows are locked: only a bug or a stale version
        raise Conflict(_l("Hồ sơ vừa được người khác xử lý. Vui lòng tải lại trang."))
    _end_part_claims(writes.unclaimed)
    if writes.outbox:
        db.session.info["outbox_written"] = True  # the worker is told after the commit
    versions = {c.case.id: c.case.version + (1 if c.changes_state else 0) for c in planned}
    return versions, writes


def _end_part_claims(unclaimed: list[tuple[int, str | None]]) -> None:
    whole = [case_id for case_id, part in unclaimed if part is None]
    if whole:
        db.session.execute(delete(PartClaim).where(PartClaim.case_id.in_(whole)))
    parts = defaultdict(list)
    for case_id, part in unclaimed:
        if part is not None:
            parts[part].append(case_id)
    for part, case_ids in parts.items():
        db.session.execute(
            delete(PartClaim).where(PartClaim.part == part, PartClaim.case_id.in_(case_ids))
        )


def _joint_part_claims(rows, registry: WorkflowRegistry) -> dict:
    """The part claims of those rows that are at a joint stage (no query when none is)."""
    return part_claims_of(
        [r.id for r in rows if registry.definition(r.title).states[r.state].joint]
    )


def _lock(case_ids, cur=None) -> list:
    """Load and lock case rows (ordered, so two bulk calls cannot deadlock)."""
    if cur is not None:
        return pg_writer.lock(cur, case_ids)
    rows = db.session.execute(
        select(*_SNAPSHOT_COLUMNS).where(Case.id.in_(case_ids)).order_by(Case.id).with_for_update()
    ).all()
    return rows


def _expire_cases(case_ids) -> None:
    """Make ORM objects of these cases reload after a Core-level write."""
    wanted = set(case_ids)
    for obj in list(db.session.identity_map.values()):
        if isinstance(obj, Case) and obj.id in wanted:
            db.session.expire(obj)


_CASE_MANAGER = Case.__mapper__.class_manager


def _case_after(row, writes: Writes, version: int, now: datetime) -> Case:
    """The case as it now is, from its locked row and what was written: no reload needed.

    An instance the session already holds is brought up to date (its relationships reload
    when used); otherwise a new persistent instance is put in the session.
    """
    values = row._asdict()
    for move in writes.moves:
        values.update(
            state=move["to_state"],
            is_open=move["is_open"],
            version=version,
            stage_entered_at=now,
            due_at=move["due_at"],
            is_extended=False,
            escalation_rung=0,
            is_escalated=False,
            claimed_by_id=None,
            claimed_at=None,
            submitted_at=values["submitted_at"] or now,
        )
        if not move["keep_returned"]:
            values["returned_from"] = move["returned_from"]
        if move["is_final"]:
            values["decided_at"] = now
    session = db.session()
    key = (Case, (values["id"],), None)
    case = session.identity_map.get(key)
    if case is not None:
        session.expire(case)
        for name, value in values.items():
            set_committed_value(case, name, value)
        return case
    # filled the way the ORM's loader fills an instance: no attribute events, no SELECT
    case = _CASE_MANAGER.new_instance()
    case.__dict__.update(values)
    make_transient_to_detached(case)
    session.add(case)
    return case


def fire_trigger(
    case_id: int,
    trigger: str,
    user: User,
    *,
    comment: str | None = None,
    expected_version: int | None = None,
    override_reason: str | None = None,
    now: datetime | None = None,
) -> Case:
    """Fire ``trigger`` on one case for ``user``; return the updated case.

    Approving or signing a case under its pass mark needs ``override_reason``, kept in the
    history.

    Raises NotFound, NotAllowed, InvalidInput or Conflict (stale ``expected_version`` is
    checked before whether the trigger is still allowed, so a reviewer who lost a race learns
    that someone acted first).
    """
    _require_active(user)
    registry = get_registry()
    now = now or utcnow()
    cur = pg.cursor()
    rows = _lock([case_id], cur)
    if not rows or not in_scope(user, rows[0]):
        raise NotFound(_l("Không tìm thấy hồ sơ trong phạm vi của bạn."))
    snap = rows[0]
    if expected_version is not None and snap.version != expected_version:
        raise Conflict(
            _l("Hồ sơ đã được người khác cập nhật trước bạn."),
            details={"current_version": snap.version, "state": snap.state},
        )
    needs_missing = trigger in ("submit", "resubmit")
    missing = _missing_items([case_id], registry, rows, cur) if needs_missing else {}
    signed = _signed_departments([case_id], cur) if trigger == "sign" else {}
    part_claims = _joint_part_claims(rows, registry)
    results = score_results(rows) if trigger in PASS_MARK_TRIGGERS else {}
    planned = _plan(
        snap,
        trigger,
        user,
        comment,
        registry,
        missing,
        signed,
        part_claims,
        results,
        override_reason,
    )
    versions, writes = _apply([planned], user, registry, get_calendar(), now, expected_version, cur)
    if cur is not None:
        return _case_after(snap, writes, versions[case_id], now)
    _expire_cases([case_id])
    db.session.flush()
    return db.session.get(Case, case_id)


BULK_BATCH = 500


def fire_bulk(
    case_ids: list[int],
    trigger: str,
    user: User,
    *,
    comment: str | None = None,
    override_reason: str | None = None,
    now: datetime | None = None,
) -> BulkResult:
    """Fire ``trigger`` on many cases; cases that may not go through are listed with why
    (a case under its pass mark among them, unless ``override_reason`` is given)."""
    _require_active(user)
    clean_comment(comment)  # once for the whole request, not once per case
    registry = get_registry()
    calendar = get_calendar()
    now = now or utcnow()
    result = BulkResult()
    cur = pg.cursor()
    unique_ids = list(dict.fromkeys(int(i) for i in case_ids))
    for start in range(0, len(unique_ids), BULK_BATCH):
        batch = unique_ids[start : start + BULK_BATCH]
        rows = _lock(batch, cur)
        found = {row.id: row for row in rows}
        visible = [row for row in rows if in_scope(user, row)]
        missing = (
            _missing_items([r.id for r in visible], registry, visible, cur)
            if trigger in ("submit", "resubmit") and visible
            else {}
        )
        signed = (
            _signed_departments([r.id for r in visible], cur)
            if trigger == "sign" and visible
            else {}
        )
        part_claims = _joint_part_claims(visible, registry)
        results = score_results(visible) if trigger in PASS_MARK_TRIGGERS and visible else {}
        planned = []
        for case_id in batch:
            row = found.get(case_id)
            if row is None or not in_scope(user, row):
                result.failed.append(
                    {
                        "id": case_id,
                        "code": "not_found",
                        "message": str(_l("Không tìm thấy hồ sơ.")),
                    }
                )
                continue
            try:
                planned.append(
                    _plan(
                        row,
                        trigger,
                        user,
                        comment,
                        registry,
                        missing,
                        signed,
                        part_claims,
                        results,
                        override_reason,
                    )
                )
            except DomainError as exc:
                result.failed.append({"id": case_id, "code": exc.code, "message": exc.message})
        versions, _ = _apply(planned, user, registry, calendar, now, cur=cur)
        for change in planned:
            result.succeeded.append(
                {
                    "id": change.case.id,
                    "state": change.to_state,
                    "version": versions[change.case.id],
                }
            )
        _expire_cases([c.case.id for c in planned])
    db.session.flush()
    return result


def allowed_triggers(case: Case, user: User) -> list[str]:
    """Triggers ``user`` may fire on ``case`` now (for buttons and the API)."""
    registry = get_registry()
    definition = registry.definition(case.title)
    allowed = []
    missing = None
    signed = None
    part_claims = _joint_part_claims([case], registry)
    for trigger in definition.triggers:
        specs = definition.candidates(trigger, case.state)
        if not specs:
            continue
        try:
            _check_actor(user, case, definition, specs, part_claims)
        except DomainError:
            continue
        if trigger == "sign":
            if signed is None:
                signed = _signed_departments([case.id])
            if actor_department(user) in signed.get(case.id, set()):
                continue
        if any("assessment_complete" in s.guards for s in specs):
            if missing is None:
                missing = _missing_items([case.id], registry, [case])
            if missing[case.id]:
                continue
        if any("returned_from_dest" in s.guards for s in specs) and not any(
            s.dest == case.returned_from and user.role in s.roles for s in specs
        ):
            continue
        if trigger == "submit" and not any(
            f"managed_at_{case.entry_level}" in s.guards and user.role in s.roles for s in specs
        ):
            continue
        allowed.append(trigger)
    return allowed


# --- starting a case and the self-assessment ----------------------------------------------


def ensure_round(title: str, year: int) -> Round:
    """Return the round of a title and year, creating the default one (the whole year)."""
    found = db.session.scalar(select(Round).where(Round.title == title, Round.year == year))
    if found is None:
        found = Round(
            title=title,
            year=year,
            registration_opens_on=date(year, 1, 1),
            registration_closes_on=date(year, 12, 31),
            review_deadline=date(year, 12, 15),
        )
        db.session.add(found)
        db.session.flush()
    return found


def set_round(
    title: str, year: int, opens_on: date, closes_on: date, review_deadline: date
) -> Round:
    """Create or change a round's registration window and review deadline."""
    if title not in TITLE_OF_KIND.values():
        raise InvalidInput(
            _l("Danh hiệu không hợp lệ: %(title)s", title=title), details={"title": title}
        )
    if closes_on < opens_on:
        raise InvalidInput(
            _l("Ngày kết thúc đăng ký phải sau ngày bắt đầu."),
            details={"registration_closes_on": _l("Phải sau ngày bắt đầu")},
        )
    found = ensure_round(title, year)
    found.registration_opens_on = opens_on
    found.registration_closes_on = closes_on
    found.review_deadline = review_deadline
    db.session.flush()
    return found


def _may_start_for(user: User, subject: Subject) -> bool:
    if user.role == "applicant":
        return user.subject_id == subject.id
    if user.role == "commune_reviewer":
        return subject.managing_level == "commune" and in_scope(user, subject)
    if user.role == "district_reviewer":
        return subject.managing_level == "district" and in_scope(user, subject)
    if user.role == "province_officer":
        return subject.managing_level == "province" and in_scope(user, subject)
    return False


def start_case(subject_id: int, title: str, year: int, user: User, *, now=None) -> Case:
    """Open an application (draft) for a subject in an open round."""
    registry = get_registry()
    now = now or utcnow()
    subject = db.session.get(Subject, subject_id)
    if subject is None or not in_scope(user, subject):
        raise NotFound(_l("Không tìm thấy đối tượng trong phạm vi của bạn."))
    if not _may_start_for(user, subject):
        raise NotAllowed(_l("Bạn không được lập hồ sơ cho đối tượng này."))
    if title not in TITLE_OF_KIND.values():
        raise InvalidInput(
            _l("Danh hiệu “%(title)s” không tồn tại.", title=title),
            details={"title": _l("Chọn family, clan, community hoặc unit")},
        )
    if TITLE_OF_KIND[subject.kind] != title:
        raise InvalidInput(
            _l("Danh hiệu không phù hợp với loại đối tượng."),
            details={
                "title": _l(
                    "Đối tượng loại %(kind)s chỉ đăng ký danh hiệu %(title)s",
                    kind=subject.kind,
                    title=TITLE_OF_KIND[subject.kind],
                )
            },
        )
    today = to_local(now).date()
    if not 2000 <= year <= 2100:  # also keeps a number the database cannot hold out of SQL
        raise InvalidInput(
            _l("Năm %(year)s không hợp lệ.", year=year),
            details={"year": _l("Chọn năm có đợt đăng ký đang mở")},
        )
    round_ = db.session.scalar(select(Round).where(Round.title == title, Round.year == year))
    if round_ is None and year == today.year:
        round_ = ensure_round(title, year)
    if round_ is None or not round_.is_open_on(today):
        raise InvalidInput(
            _l("Đợt đăng ký danh hiệu năm %(year)s chưa mở hoặc đã đóng.", year=year),
            details={"year": _l("Chọn năm có đợt đăng ký đang mở")},
        )
    existing = db.session.scalar(
        select(Case.id).where(Case.subject_id == subject.id, Case.title == title, Case.year == year)
    )
    if existing is not None:
        raise Conflict(
            _l(
                "Đối tượng này đã có hồ sơ danh hiệu năm %(year)s (mã hồ sơ %(case_id)s).",
                year=year,
                case_id=existing,
            ),
            details={"case_id": existing},
        )
    definition = registry.definition(title)
    cset = registry.criteria_for(title, year)
    case = Case(
        subject_id=subject.id,
        title=title,
        year=year,
        workflow=f"{definition.set_name}/{definition.name}",
        criteria_set_id=cset.id,
        state=definition.initial,
        is_open=True,
        entry_level=subject.managing_level,
        province_code=subject.province_code,
        district_code=subject.district_code,
        commune_code=subject.commune_code,
        stage_entered_at=now,
        created_at=now,
        version=1,
    )
    db.session.add(case)
    db.session.flush()
    db.session.execute(
        insert(AssessmentItem),
        [
            {"case_id": case.id, "code": item.code, "position": position}
            for position, item in enumerate(cset.items)
        ],
    )
    _record_event(case, user, "create", comment=None, now=now, from_state=None)
    return case


def _record_event(
    case: Case, user: User | None, trigger: str, *, comment, now, data=None, from_state="__same__"
) -> CaseEvent:
    event = CaseEvent(
        case_id=case.id,
        at=now,
        actor_id=user.id if user else None,
        actor_role=user.role if user else None,
        trigger=trigger,
        from_state=case.state if from_state == "__same__" else from_state,
        to_state=case.state,
        comment=comment,
        data=data,
    )
    db.session.add(event)
    db.session.flush()
    return event


def _load_case_for(case_id: int, user: User, *, lock: bool = False) -> Case:
    statement = select(Case).where(Case.id == case_id)
    if lock:
        statement = statement.with_for_update(of=Case).execution_options(populate_existing=True)
    case = db.session.scalar(statement)
    if case is None or not in_scope(user, case):
        raise NotFound(_l("Không tìm thấy hồ sơ trong phạm vi của bạn."))
    return case


def assessment_result(case: Case):
    """The computed total and pass/fail of a case (latest reviewed scores win)."""
    return score_results([case])[case.id]


def save_assessment(
    case_id: int,
    entries: list[dict],
    user: User,
    *,
    expected_version: int | None = None,
    now: datetime | None = None,
) -> Case:
    """Save self-assessment scores and evidence, or a reviewer's adjusted scores.

    In draft or returned, the applicant (or a commune officer on a household's behalf) enters
    scores; in a reviewing stage, a reviewer of that stage adjusts scores with a note and both
    values are kept.
    """
    registry = get_registry()
    now = now or utcnow()
    case = _load_case_for(case_id, user, lock=True)
    if expected_version is not None and case.version != expected_version:
        raise Conflict(
            _l("Hồ sơ đã được người khác cập nhật trước bạn."),
            details={"current_version": case.version, "state": case.state},
        )
    definition = registry.definition(case.title)
    state = definition.states[case.state]
    cset = registry.criteria_set(case.criteria_set_id)
    cleaned = validate_scores(cset, entries)
    items = {
        item.code: item
        for item in db.session.scalars(
            select(AssessmentItem).where(AssessmentItem.case_id == case.id)
        )
    }
    changes = []
    if state.kind == "applicant":
        on_behalf = user.role == "commune_reviewer" and case.entry_level == "commune"
        if user.role != "applicant" and not on_behalf:
            raise NotAllowed(
                _l("Chỉ người nộp hồ sơ (hoặc cán bộ xã nhập hộ) được sửa bản tự đánh giá.")
            )
        for entry in cleaned:
            item = items[entry["code"]]
            changes.append({"code": item.code, "old": item.score, "new": entry.get("score")})
            item.score = entry.get("score")
            if "evidence" in entry:
                item.evidence = entry.get("evidence")
            item.entered_by_id = user.id
        trigger = "assess"
    elif state.is_review and user.role in state.roles:
        if claim_holder(case, user, state, None) not in (None, user.id):
            raise NotAllowed(
                _l("Hồ sơ đang do cán bộ khác nhận xử lý; chỉ người đó được thao tác.")
            )
        for entry in cleaned:
            item = items[entry["code"]]
            if entry.get("score") is None:
                continue
            note = nfc(entry.get("note") or entry.get("evidence") or "")
            if not note:
                raise InvalidInput(
                    _l("Cần ghi lý do điều chỉnh điểm tiêu chí %(code)s.", code=item.code),
                    details={f"items[{item.code}].note": _l("Bắt buộc khi điều chỉnh điểm")},
                )
            changes.append(
                {
                    "code": item.code,
                    "self": item.score,
                    "old": item.reviewed_score,
                    "new": entry["score"],
                    "note": note,
                }
            )
            item.reviewed_score = entry["score"]
            item.review_note = note
            item.reviewed_by_id = user.id
            item.reviewed_stage = case.state
        trigger = "adjust_scores"
    else:
        raise NotAllowed(_l("Không thể sửa điểm ở bước hiện tại của hồ sơ."))
    db.session.flush()
    case.self_score, case.score = db.session.execute(
        select(
            func.sum(AssessmentItem.score),
            func.sum(func.coalesce(AssessmentItem.reviewed_score, AssessmentItem.score)),
        ).where(AssessmentItem.case_id == case.id)
    ).one()
    # a save is a change another officer's open form must not silently undo (optimistic lock)
    case.version = case.version + 1
    _record_event(case, user, trigger, comment=None, now=now, data={"items": changes})
    return case


# --- claims -------------------------------------------------------------------------------


def _is_supervisor(user: User, case: Case) -> bool:
    definition = get_registry().definition(case.title)
    if not in_scope(user, case):
        return False
    if user.role in SUPERVISOR_ROLES:
        return True
    state = definition.states[case.state]
    return state.is_review and user.role in definition.supervising_roles(case.state)


def claim_case(
    case_id: int, user: User, *, take_over: bool = False, note: str | None = None, now=None
) -> Case:
    """Take a case in the queue; a supervisor may take over someone else's claim with a note.

    At a joint stage the claim holds only the claimant's department's part.
    """
    now = now or utcnow()
    case = _load_case_for(case_id, user, lock=True)
    state = get_registry().definition(case.title).states[case.state]
    if not state.is_review:
        raise Conflict(_l("Chỉ nhận xử lý được hồ sơ đang chờ xét duyệt."))
    works_here = user.role in state.roles
    part = claim_part(user, state)
    if state.joint and part is None:
        raise NotAllowed(
            _l("Ở bước liên ngành, chỉ chuyên viên các sở được nhận phần của sở mình.")
        )
    held = db.session.get(PartClaim, (case.id, part)) if part else None
    holder = held.user_id if held is not None else (None if part else case.claimed_by_id)
    data = {"part": part} if part else None
    if holder == user.id:
        return case
    if holder is not None:
        if not (take_over and _is_supervisor(user, case)):
            raise Conflict(
                _l("Hồ sơ đã có cán bộ khác nhận xử lý."),
                details={"claimed_by": holder, **(data or {})},
            )
        note = clean_comment(note, "note")
        if not note:
            raise InvalidInput(
                _l("Cần ghi lý do khi nhận thay hồ sơ của người khác."),
                details={"note": _l("Bắt buộc")},
            )
        if held is not None:
            held.user_id, held.claimed_at = user.id, now
        else:
            case.claimed_by_id, case.claimed_at = user.id, now
        _record_event(
            case,
            user,
            "take_over",
            comment=note,
            now=now,
            data={"previous_claimant": holder, **(data or {})},
        )
        return case
    if not works_here:
        raise NotAllowed(_l("Chỉ cán bộ xử lý bước này được nhận hồ sơ."))
    if part:
        db.session.add(PartClaim(case_id=case.id, part=part, user_id=user.id, claimed_at=now))
    else:
        case.claimed_by_id = user.id
        case.claimed_at = now
    _record_event(case, user, "claim", comment=None, now=now, data=data)
    return case


def release_case(case_id: int, user: User, *, now=None) -> Case:
    """Give a claimed case back to the queue (the claimant or a supervisor).

    At a joint stage the claimant gives back their department's part; a supervisor, every part.
    """
    now = now or utcnow()
    case = _load_case_for(case_id, user, lock=True)
    held = [(None, case.claimed_by_id)] if case.claimed_by_id is not None else []
    held += [
        (c.part, c.user_id)
        for c in db.session.scalars(
            select(PartClaim).where(PartClaim.case_id == case.id).order_by(PartClaim.part)
        )
    ]
    if not held:
        return case
    own = [(part, holder) for part, holder in held if holder == user.id]
    if not own and not _is_supervisor(user, case):
        raise NotAllowed(_l("Chỉ người đã nhận hồ sơ (hoặc cấp trên) được trả về hàng chờ."))
    for part, previous in own or held:
        if part is None:
            case.claimed_by_id = None
            case.claimed_at = None
        else:
            db.session.execute(
                delete(PartClaim).where(PartClaim.case_id == case.id, PartClaim.part == part)
            )
        data = {"previous_claimant": previous}
        if part:
            data["part"] = part
        _record_event(case, user, "release", comment=None, now=now, data=data)
    return case


def release_claims_of(user_id: int, actor: User | None, *, now=None) -> int:
    """Release every claim a user holds (on deactivation), with a history row each."""
    now = now or utcnow()
    rows = db.session.execute(
        select(Case.id, Case.state).where(Case.claimed_by_id == user_id).with_for_update()
    ).all()
    parts = db.session.execute(
        select(PartClaim.case_id, PartClaim.part, Case.state)
        .join(Case, Case.id == PartClaim.case_id)
        .where(PartClaim.user_id == user_id)
        .order_by(PartClaim.case_id)
        .with_for_update(of=Case)
    ).all()
    if parts:
        db.session.execute(delete(PartClaim).where(PartClaim.user_id == user_id))
        db.session.execute(
            insert(CaseEvent),
            [
                {
                    "case_id": p.case_id,
                    "at": now,
                    "actor_id": actor.id if actor else None,
                    "actor_role": actor.role if actor else None,
                    "trigger": "release",
                    "from_state": p.state,
                    "to_state": p.state,
                    "comment": "Tài khoản người nhận xử lý đã bị khóa",
                    "data": {"previous_claimant": user_id, "part": p.part},
                }
                for p in parts
            ],
        )
    if not rows:
        return len(parts)
    db.session.execute(
        update(Case)
        .where(Case.id.in_([r.id for r in rows]))
        .values(claimed_by_id=None, claimed_at=None)
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        insert(CaseEvent),
        [
            {
                "case_id": r.id,
                "at": now,
                "actor_id": actor.id if actor else None,
                "actor_role": actor.role if actor else None,
                "trigger": "release",
                "from_state": r.state,
                "to_state": r.state,
                "comment": "Tài khoản người nhận xử lý đã bị khóa",
                "data": {"previous_claimant": user_id},
            }
            for r in rows
        ],
    )
    _expire_cases([r.id for r in rows])
    return len(rows) + len(parts)
