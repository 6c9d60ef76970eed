"""Escalation rungs, written: the portable path of the escalation scan's writes (the scan's walk,
which rungs when, is ``sla.operations``; on PostgreSQL ``cases.pg_escalation`` writes the same
rows). Flushes, never commits."""

from __future__ import annotations

from sqlalchemy import insert, update

from htsd_workflow.cases.models import Case, CaseEvent, StageVisit
from htsd_workflow.cases.rules import rung_data, rung_payload, rung_visits
from htsd_workflow.extensions import db
from htsd_workflow.notifications.models import OutboxMessage


def fire_rung(ids, conditions, rung, stage, now, calendar) -> int:
    """Claim those of the cases ``ids`` that still meet ``conditions`` (``rules.rung_due``) for
    ``rung`` of ``stage``; flag their open stage visits when it escalates, and write their
    history and outbox rows. Return how many were claimed."""
    escalate = rung.action == "escalate"
    values = {"escalation_rung": rung.rung}
    if escalate:
        values["is_escalated"] = True
    claimed = db.session.execute(
        update(Case)
        .where(Case.id.in_(ids), *conditions)
        .values(**values)
        .returning(Case.id, Case.due_at)
        .execution_options(synchronize_session=False)
    ).all()
    if not claimed:
        return 0
    if escalate:
        db.session.execute(
            update(StageVisit)
            .where(
                StageVisit.case_id.in_([c.id for c in claimed]),
                rung_visits(stage, f"{stage}:"),
            )
            .values(is_escalated=True)
            .execution_options(synchronize_session=False)
        )
    trigger = "escalate" if escalate else "remind"
    events = []
    for case_id, due_at in claimed:
        late = calendar.working_days_late(due_at, now) if due_at else 0
        events.append(
            {
                "case_id": case_id,
                "at": now,
                "actor_id": None,
                "actor_role": None,
                "trigger": trigger,
                "from_state": stage,
                "to_state": stage,
                "comment": None,
                "data": rung_data(rung, late),
            }
        )
    event_of_case = dict(
        db.session.execute(
            insert(CaseEvent).returning(CaseEvent.case_id, CaseEvent.id), events
        ).all()
    )
    db.session.execute(
        insert(OutboxMessage),
        [
            {
                "event_id": event_of_case[e["case_id"]],
                "case_id": e["case_id"],
                "kind": trigger,
                "payload": rung_payload(stage, rung, e["data"]["working_days_late"]),
                "created_at": now,
                "attempts": 0,
            }
            for e in events
        ],
    )
    db.session.info["outbox_written"] = True
    return len(claimed)
