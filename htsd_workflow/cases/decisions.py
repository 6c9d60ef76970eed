"""What issuing a decision writes on the cases it recognises: a history row each and the
applicant's notification (the decision itself lives in ``htsd_workflow.decisions``)."""

from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, DateTime, Integer, String, insert, literal, select

from htsd_workflow.auth.models import User
from htsd_workflow.cases.models import CaseEvent
from htsd_workflow.cases.writing import _lock
from htsd_workflow.core.errors import Conflict
from htsd_workflow.core.time import utcnow
from htsd_workflow.extensions import db
from htsd_workflow.notifications.models import OutboxMessage


def record_decision_issued(
    case_ids: list[int], user: User, facts: dict, *, now: datetime | None = None
) -> None:
    """The history row and the applicant's notification of every case a decision recognises,
    written when the decision is issued: one statement for the history rows of all cases, one
    for their outbox rows (read back from those rows, so no ids travel through Python).

    ``facts`` (the decision's id, number and date) goes into each row and message. Every case
    must still be recognised: one that is not (revoked meanwhile) refuses the whole issue. A
    case is in one decision at most, so it has one ``decision_issued`` row at most.
    """
    if not case_ids:
        return
    now = now or utcnow()
    ids = sorted(set(case_ids))
    rows = _lock(ids)
    not_recognised = [r.id for r in rows if r.state != "recognized"]
    if not_recognised or len(rows) != len(ids):
        raise Conflict(
            _l("Có hồ sơ trong danh sách không còn ở trạng thái “Đã công nhận”."),
            details={"cases": not_recognised},
        )
    db.session.execute(
        insert(CaseEvent),
        [
            {
                "case_id": r.id,
                "at": now,
                "actor_id": user.id,
                "actor_role": user.role,
                "trigger": "decision_issued",
                "from_state": r.state,
                "to_state": r.state,
                "comment": None,
                "data": facts,
            }
            for r in rows
        ],
    )
    db.session.execute(
        insert(OutboxMessage).from_select(
            ["event_id", "case_id", "kind", "payload", "created_at", "attempts"],
            select(
                CaseEvent.id,
                CaseEvent.case_id,
                literal("decision_issued", String),
                literal({"actor_id": user.id, **facts}, JSON),
                literal(now, DateTime),
                literal(0, Integer),
            ).where(CaseEvent.case_id.in_(ids), CaseEvent.trigger == "decision_issued"),
        )
    )
    db.session.info["outbox_written"] = True
