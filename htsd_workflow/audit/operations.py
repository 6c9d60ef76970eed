"""Writing and reading the audit log."""

from __future__ import annotations

from flask import has_request_context, request
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from htsd_workflow.audit.models import AuditEntry
from htsd_workflow.auth.models import User
from htsd_workflow.core.errors import NotAllowed
from htsd_workflow.extensions import db


def record_audit(
    action: str,
    *,
    actor: User | None = None,
    username: str | None = None,
    target: str | None = None,
    details: dict | None = None,
) -> AuditEntry:
    """Append an audit entry (flushes; the caller commits with the action it records)."""
    entry = AuditEntry(
        action=action,
        actor_id=actor.id if actor is not None else None,
        username=(username or (actor.username if actor is not None else None)),
        target=target,
        ip=request.remote_addr if has_request_context() else None,
        details=details,
    )
    db.session.add(entry)
    db.session.flush()
    return entry


def audit_entries(
    viewer: User, *, action: str | None = None, before_id: int | None = None, limit: int = 100
) -> list[AuditEntry]:
    """Newest first, keyset-paged; admins only."""
    if viewer.role != "admin":
        raise NotAllowed(_l("Chỉ quản trị hệ thống được xem nhật ký."))
    statement = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(min(limit, 500))
    if action:
        statement = statement.where(AuditEntry.action == action)
    if before_id:
        statement = statement.where(AuditEntry.id < before_id)
    return list(db.session.scalars(statement))
