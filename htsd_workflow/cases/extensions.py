"""A stage's deadline extended, written: the case's new due moment, its open stage visits',
the history row and the applicant's notice. Whether it may be extended, and to when, is
``sla.operations.extend_deadline``. Flushes, never commits."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update

from htsd_workflow.auth.models import User
from htsd_workflow.cases.models import Case, CaseEvent, StageVisit
from htsd_workflow.extensions import db
from htsd_workflow.notifications.models import OutboxMessage


def record_extension(case: Case, user: User, new_due: datetime, reason: str, now: datetime):
    """Move the (locked) case's deadline to ``new_due`` once, with ``reason``."""
    old_due = case.due_at
    case.due_at = new_due
    case.is_extended = True
    db.session.execute(
        update(StageVisit)
        .where(StageVisit.case_id == case.id, StageVisit.left_at.is_(None))
        .values(due_at=new_due)
        .execution_options(synchronize_session=False)
    )
    event = CaseEvent(
        case_id=case.id,
        at=now,
        actor_id=user.id,
        actor_role=user.role,
        trigger="extend_deadline",
        from_state=case.state,
        to_state=case.state,
        comment=reason,
        data={
            "old_due_at": old_due.isoformat() if old_due else None,
            "new_due_at": new_due.isoformat(),
        },
    )
    db.session.add(event)
    db.session.flush()
    db.session.add(
        OutboxMessage(
            event_id=event.id,
            case_id=case.id,
            kind="extend_deadline",
            payload={
                "from_state": case.state,
                "to_state": case.state,
                "comment": reason,
                "new_due_at": new_due.isoformat(),
            },
            created_at=now,
            attempts=0,
        )
    )
    db.session.flush()
    db.session.info["outbox_written"] = True
