"""The outbox: side effects recorded in the same transaction as the change that causes them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, Text
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


class Notification(db.Model):
    """An in-app message in a user's inbox. ``key`` makes delivery exactly-once."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_inbox", "user_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: "<outbox id>:<user id>" or "digest:<date>:<user id>": one message per event and person
    key: Mapped[str] = mapped_column(String(80), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id"))
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    #: what the message says in no language (``messages.message_params``): the inbox renders
    #: it in the reader's language; None on messages stored before, which show their text
    params: Mapped[dict | None] = mapped_column(JSON)
    #: path inside the app to open (the case page, the queue)
    link: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(DateTime)


class Delivery(db.Model):
    """An e-mail to send. ``key`` is unique per event, recipient and channel."""

    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_status", "status", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(100), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    channel: Mapped[str] = mapped_column(String(10), default="email")
    #: where it goes (the e-mail address at the time of the event)
    address: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    #: pending, sending, sent or failed
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)

    @property
    def message_id(self) -> str:
        """Stable per delivery key, so a resent copy is recognisable as the same message."""
        return f"<{self.key.replace(':', '.')}@htsd-workflow>"
