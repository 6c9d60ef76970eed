"""Writing planned transitions: every row a batch writes (case updates, stage visits,
sign-offs, history, outbox) decided once in ``Writes``, then written by SQLAlchemy statements
or, on PostgreSQL, by ``pg_writer``'s one statement. Functions flush, never commit."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, insert, select, update

from htsd_workflow.auth.models import User
from htsd_workflow.cases import pg_writer
from htsd_workflow.cases.engine import WorkflowRegistry
from htsd_workflow.cases.models import (
    Case,
    CaseEvent,
    PartClaim,
    SignOff,
    StageVisit,
)
from htsd_workflow.cases.permissions import part_claims_of
from htsd_workflow.cases.pg_writer import Writes
from htsd_workflow.cases.planning import _SNAPSHOT_COLUMNS, PlannedChange
from htsd_workflow.cases.rules import (
    MOVE_BY_PARAMS,
    close_values,
    move_values,
    returned_from_after,
    stray_visit,
    to_python,
)
from htsd_workflow.core.calendar import WorkingCalendar
from htsd_workflow.core.errors import (
    Conflict,
)
from htsd_workflow.core.models import persistent
from htsd_workflow.extensions import db
from htsd_workflow.notifications.models import OutboxMessage


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
        definition = registry.definition_of(c.case)
        source = definition.states[c.from_state]
        dest = definition.states[c.to_state]
        if c.changes_state:
            # the case row
            due = calendar.due_at(now, dest.sla_days) if dest.is_review else None
            keep, returned_from = returned_from_after(source.kind, dest.kind, c.from_state)
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
        select(func.count()).where(StageVisit.case_id.in_(ids), stray_visit(stay_began))
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
                **close_values(now=now, outcome=outcome, working_days=days)
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
        values = move_values(
            now=now,
            state=to_state,
            is_open=not is_final,
            due_at=due,
            keep_returned=keep,
            returned_from=returned_from,
            is_final=is_final,
        )
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
    return part_claims_of([r.id for r in rows if registry.definition_of(r).states[r.state].joint])


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


#: what a move writes on the case row (``rules.move_values``), as Python over the locked row
_MOVED = {name: to_python(value) for name, value in MOVE_BY_PARAMS.items()}


def _case_after(row, writes: Writes, now: datetime) -> Case:
    """The case as it now is, from its locked row and what was written: no reload needed.

    An instance the session already holds is brought up to date (its relationships reload
    when used); otherwise a new persistent instance is put in the session.
    """
    values = row._asdict()
    for move in writes.moves:
        params = {**move, "now": now}
        values.update({name: moved(values, params) for name, moved in _MOVED.items()})
    return persistent(Case, values)


def record_event(
    case: Case, user: User | None, trigger: str, *, comment, now, data=None, from_state="__same__"
) -> CaseEvent:
    """A history row of ``case`` (no state change unless ``from_state`` says otherwise)."""
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


_record_event = record_event  # the name the case modules have used
