"""Writing and reading the audit log.

Operations record their own entries (so the web pages, the API and the command line all leave
one), in the same transaction as the change they record: a change that is rolled back leaves no
entry, and an entry never exists without its change. The one exception is a refused sign-in,
which changes nothing and is committed on its own.
"""

from __future__ import annotations

from flask import has_request_context, request
from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select

from htsd_workflow.audit.models import AuditEntry
from htsd_workflow.auth.models import User
from htsd_workflow.core.errors import NotAllowed
from htsd_workflow.extensions import db
from htsd_workflow.geography.models import Unit

#: every action the log holds (the audit page offers them as a filter)
ACTIONS = (
    "login_ok",
    "login_failed",
    "logout",
    "password_changed",
    "api_token_issued",
    "api_token_refused",
    "api_tokens_revoked",
    "user_created",
    "user_changed",
    "user_deactivated",
    "user_activated",
    "password_reset",
    "login_slips",
    "calendar_exception",
    "deadline_extended",
    "import",
    "denominators_import",
    "denominators_saved",
    "export",
    "personal_data_export",
    "personal_data_erase",
    "case_repaired",
    "round_opened",
    "round_changed",
    "subject_assigned",
)

#: longest user name kept from a failed sign-in (what was typed, which may be anything)
_TYPED_NAME_LIMIT = 80


def province_of(user: User | None) -> str | None:
    """The province code of a user's territory (None for an unknown user)."""
    if user is None or not user.unit_code:
        return None
    unit = db.session.get(Unit, user.unit_code)
    return unit.province_code if unit is not None else None


def record_audit(
    action: str,
    *,
    actor: User | None = None,
    username: str | None = None,
    target: str | None = None,
    details: dict | None = None,
    province_code: str | None = None,
) -> AuditEntry:
    """Append an audit entry (flushes; the caller commits with the action it records).

    ``actor`` None means the command line (or a failed sign-in: then ``username`` is what was
    typed). The province defaults to the actor's.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    entry = AuditEntry(
        action=action,
        actor_id=actor.id if actor is not None else None,
        username=(username or (actor.username if actor is not None else None)),
        target=target,
        ip=request.remote_addr if has_request_context() else None,
        details=details,
        province_code=province_code or province_of(actor),
    )
    db.session.add(entry)
    db.session.flush()
    return entry


def record_sign_in(
    typed_username: str, user: User | None, *, ok: bool, reason: str | None = None, api=False
) -> AuditEntry:
    """A sign-in attempt: who (as typed), from where, and why it was refused. Never the
    password."""
    if ok:
        action = "api_token_issued" if api else "login_ok"
    else:
        action = "api_token_refused" if api else "login_failed"
    return record_audit(
        action,
        actor=user if ok else None,
        username=(typed_username or "")[:_TYPED_NAME_LIMIT] or None,
        target=f"user:{user.id}" if user is not None else None,
        details={"reason": reason} if reason else None,
        province_code=province_of(user),
    )


def audit_entries(
    viewer: User,
    *,
    action: str | None = None,
    username: str | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[AuditEntry]:
    """Newest first, keyset-paged; admins only, and only their province's entries (plus those
    no province owns)."""
    if viewer.role != "admin":
        raise NotAllowed(_l("Chỉ quản trị hệ thống được xem nhật ký."))
    statement = (
        select(AuditEntry)
        .where(
            or_(
                AuditEntry.province_code == province_of(viewer),
                AuditEntry.province_code.is_(None),
            )
        )
        .order_by(AuditEntry.id.desc())
        .limit(max(1, min(limit, 500)))
    )
    if action:
        statement = statement.where(AuditEntry.action == action)
    if username:
        statement = statement.where(AuditEntry.username == username.lower())
    if before_id:
        statement = statement.where(AuditEntry.id < before_id)
    return list(db.session.scalars(statement))
