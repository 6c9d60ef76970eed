"""The audit log: sign-ins (failures too), admin actions and exports. Append-only."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DDL, JSON, DateTime, ForeignKey, Index, String, event
from sqlalchemy.orm import Mapped, mapped_column

from htsd_workflow.core.models import append_only_sql
from htsd_workflow.core.time import utcnow
from htsd_workflow.extensions import db


class AuditEntry(db.Model):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    #: None for an unknown user (a failed sign-in with a wrong username)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    #: the username typed or held, kept even when the account is later renamed
    username: Mapped[str | None] = mapped_column(String(80))
    #: one of htsd_workflow.audit.operations.ACTIONS
    action: Mapped[str] = mapped_column(String(40), index=True)
    #: what it was done to, e.g. "user:12", "case:40", "report:targets"
    target: Mapped[str | None] = mapped_column(String(120))
    ip: Mapped[str | None] = mapped_column(String(45))
    details: Mapped[dict | None] = mapped_column(JSON)
    #: the province the entry belongs to (the actor's, or the account's for a failed sign-in);
    #: None for what no province owns (a sign-in with an unknown name): every admin sees those
    province_code: Mapped[str | None] = mapped_column(String(10), index=True)


AUDIT_APPEND_ONLY_SQL = append_only_sql("audit_log")

event.listen(
    AuditEntry.__table__,
    "after_create",
    DDL(AUDIT_APPEND_ONLY_SQL).execute_if(dialect="postgresql"),
)
