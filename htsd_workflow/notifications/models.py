"""The outbox: side effects recorded in the same transaction as the change that causes them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from htsd_workflow.core.time import utcnow
from htsd_workflow.extensions import db


class OutboxMessage(db.Model):
    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_pending", "dispatched_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: the history row that caused it
    event_id: Mapped[int | None] = mapped_column(ForeignKey("case_events.id"))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    #: what happened: the trigger name, or reminder / escalation rungs
    kind: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    #: set when the deliveries for this message have been created
    dispatched_at: Mapped[datetime | None] = mapped_column(DateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
