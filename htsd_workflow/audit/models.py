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
    #: login_ok, login_failed, logout, user_created, user_deactivated, password_reset,
    #: export, import, personal_data_export, personal_data_erase, …
    action: Mapped[str] = mapped_column(String(40), index=True)
    #: what it was done to, e.g. "user:12", "case:40", "report:targets"
    target: Mapped[str | None] = mapped_column(String(120))
    ip: Mapped[str | None] = mapped_column(String(45))
    details: Mapped[dict | None] = mapped_column(JSON)


AUDIT_APPEND_ONLY_SQL = append_only_sql("audit_log")

event.listen(
    AuditEntry.__table__,
    "after_create",
    DDL(AUDIT_APPEND_ONLY_SQL).execute_if(dialect="postgresql"),
)
