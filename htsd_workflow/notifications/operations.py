"""Delivering the outbox: in-app messages exactly once, e-mails at least once.

``dispatch_pending`` turns outbox rows into Notification rows (unique per event and person)
and Delivery rows (unique per event, person and channel), in one transaction with marking the
outbox row dispatched; so a redelivered task, or two workers at once, create nothing twice.
``notifications.sending.send_delivery`` hands one e-mail to the SMTP server: it is marked
``sending`` (committed) before the hand-over and ``sent`` after. A worker that dies in between
leaves it ``sending``; the task is redelivered and the e-mail is sent again with the same
Message-ID — at least once, and recognisable as the same message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from htsd_workflow.auth.models import User
from htsd_workflow.auth.roles import REVIEWER_ROLES
from htsd_workflow.auth.scope import scope_clause, units_in_territory
from htsd_workflow.cases.engine import get_registry
from htsd_workflow.cases.models import Case
from htsd_workflow.core.calendar import get_calendar
from htsd_workflow.core.errors import NotAllowed
from htsd_workflow.core.time import to_local, utcnow
from htsd_workflow.extensions import db
from htsd_workflow.geography.models import Unit
from htsd_workflow.notifications.messages import (
    digest_params,
    message_params,
    recipient_locale,
    render_params,
)
from htsd_workflow.notifications.models import Delivery, Notification, OutboxMessage
from htsd_workflow.notifications.recipients import recipients

MAX_ATTEMPTS = 5


def _insert_ignoring_duplicates(model, rows: list[dict]) -> None:
    """INSERT … ON CONFLICT DO NOTHING on the unique key (PostgreSQL and SQLite alike)."""
    if not rows:
        return
    dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
    db.session.execute(dialect.insert(model).values(rows).on_conflict_do_nothing())


@dataclass
class Dispatched:
    #: outbox rows handled in this call
    messages: int
    #: e-mails created, to send
    email_ids: list[int]


def _email_rows(key: str, user: User, title: str, body: str, now: datetime) -> list[dict]:
    """The e-mail delivery of an in-app message, for users who have an address."""
    if not user.email:
        return []
    return [
        {
            "key": f"{key}:email",
            "user_id": user.id,
            "channel": "email",
            "address": user.email,
            "subject": title,
            "body": body,
            "status": "pending",
            "attempts": 0,
            "created_at": now,
        }
    ]


def dispatch_pending(limit: int = 200, now: datetime | None = None) -> Dispatched:
    """Create the messages of up to ``limit`` undelivered outbox rows.

    Rows another worker is dispatching are skipped (row locks), never done twice.
    """
    now = now or utcnow()
    registry = get_registry()
    messages = db.session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.dispatched_at.is_(None))
        .order_by(OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    if not messages:
        return Dispatched(0, [])
    cases = {
        c.id: c
        for c in db.session.scalars(
            select(Case).where(Case.id.in_({m.case_id for m in messages if m.case_id}))
        )
    }
    notifications, deliveries = [], []
    for message in messages:
        message.attempts += 1
        case = cases.get(message.case_id)
        if case is None:
            message.dispatched_at = now
            continue
        definition = registry.definition_of(case)
        payload = message.payload or {}
        for user in recipients(message.kind, payload, case, definition).values():
            params = message_params(
                message.kind, payload, case, user, definition, max(now, message.created_at)
            )
            title, body, link = render_params(params, recipient_locale(user), user.display_name)
            key = f"{message.id}:{user.id}"
            notifications.append(
                {
                    "key": key,
                    "user_id": user.id,
                    "case_id": case.id,
                    "outbox_id": message.id,
                    "title": title,
                    "body": body,
                    "params": params,
                    "link": link,
                    "created_at": now,
                }
            )
            deliveries.extend(_email_rows(key, user, title, body, now))
        message.dispatched_at = now
    _insert_ignoring_duplicates(Notification, notifications)
    _insert_ignoring_duplicates(Delivery, deliveries)
    db.session.flush()
    if not deliveries:
        return Dispatched(len(messages), [])
    email_ids = db.session.scalars(
        select(Delivery.id).where(
            Delivery.key.in_([d["key"] for d in deliveries]), Delivery.status == "pending"
        )
    )
    return Dispatched(len(messages), list(email_ids))


def pending_delivery_ids(limit: int = 500) -> list[int]:
    """E-mails not yet sent (for the sweep): pending ones and ones left ``sending``."""
    return list(
        db.session.scalars(
            select(Delivery.id)
            .where(Delivery.status.in_(("pending", "sending")))
            .order_by(Delivery.id)
            .limit(limit)
        )
    )


class DeliveryFailed(Exception):
    """Sending failed and will be tried again later."""


def mark_sending(delivery_id: int) -> Delivery | None:
    """Claim an e-mail for sending; None when it was sent already or gave up."""
    delivery = db.session.scalar(
        select(Delivery).where(Delivery.id == delivery_id).with_for_update()
    )
    if delivery is None or delivery.status in ("sent", "failed"):
        return None
    delivery.status = "sending"
    delivery.attempts += 1
    db.session.flush()
    return delivery


def record_sent(delivery_id: int) -> None:
    delivery = db.session.get(Delivery, delivery_id)
    delivery.status = "sent"
    delivery.sent_at = utcnow()
    delivery.last_error = None
    db.session.flush()


def record_failure(delivery_id: int, exc: Exception) -> Delivery:
    """Note why the SMTP hand-over failed: the e-mail waits for another attempt ("pending")
    or, after ``MAX_ATTEMPTS``, gives up ("failed")."""
    delivery = db.session.get(Delivery, delivery_id)
    delivery.last_error = f"{exc.__class__.__name__}: {exc}"[:2000]
    delivery.status = "failed" if delivery.attempts >= MAX_ATTEMPTS else "pending"
    db.session.flush()
    return delivery


def _failed_in_province(statement, actor: User | None):
    """``statement`` over failed deliveries, limited to those whose recipient belongs to the
    admin's province (every one from the command line without an admin)."""
    statement = statement.where(Delivery.status == "failed")
    if actor is None:
        return statement
    return (
        statement.join(User, User.id == Delivery.user_id)
        .join(Unit, Unit.code == User.unit_code)
        .where(units_in_territory(actor))
    )


def retry_failed(actor: User | None = None, ids: list[int] | None = None) -> list[int]:
    """Put failed e-mails back in the queue (admins, from the page or the command line): an
    admin's own province's only; without an admin, every one."""
    if actor is not None and actor.role != "admin":
        raise NotAllowed(_l("Chỉ quản trị hệ thống được gửi lại thư lỗi."))
    statement = _failed_in_province(select(Delivery.id), actor)
    if ids:
        statement = statement.where(Delivery.id.in_(ids))
    found = list(db.session.scalars(statement))
    if found:
        db.session.execute(
            update(Delivery)
            .where(Delivery.id.in_(found))
            .values(status="pending", attempts=0)
            .execution_options(synchronize_session=False)
        )
    return found


def failed_deliveries(actor: User, limit: int = 200) -> list[Delivery]:
    """The e-mails that gave up, newest first, to recipients of the admin's province."""
    if actor.role != "admin":
        raise NotAllowed(_l("Chỉ quản trị hệ thống được xem thư lỗi."))
    return list(
        db.session.scalars(
            _failed_in_province(select(Delivery), actor).order_by(Delivery.id.desc()).limit(limit)
        )
    )


# --- the inbox ----------------------------------------------------------------------------


def inbox_for(
    user: User, *, before_id: int | None = None, limit: int = 50, unread_only: bool = False
) -> list[Notification]:
    """The user's messages, newest first (keyset-paged by id)."""
    statement = (
        select(Notification)
        .where(Notification.user_id == user.id)
        .order_by(Notification.id.desc())
        .limit(max(1, min(limit, 200)))
    )
    if before_id:
        statement = statement.where(Notification.id < before_id)
    if unread_only:
        statement = statement.where(Notification.read_at.is_(None))
    return list(db.session.scalars(statement))


def shown_text(notification: Notification, locale: str, name: str) -> tuple[str, str]:
    """(title, body) of a message in ``locale``: rendered from its params, or, for a message
    stored before messages kept them, the text it was sent with."""
    if notification.params:
        title, body, _link = render_params(notification.params, locale, name)
        return title, body
    return notification.title, notification.body


def unread_count(user: User) -> int:
    return db.session.scalar(select(unread_count_of(user.id)))


def unread_count_of(user_id):
    """The count of unread messages of ``user_id`` (a value or a column), as a subquery: the
    page's user loader reads it in the same statement as the user, for the menu's count."""
    return (
        select(func.count())
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        .scalar_subquery()
    )


def mark_read(user: User, ids: list[int] | None = None) -> int:
    """Mark the user's messages read (all when ``ids`` is None); return how many."""
    statement = update(Notification).where(
        Notification.user_id == user.id, Notification.read_at.is_(None)
    )
    if ids is not None:
        statement = statement.where(Notification.id.in_(ids))
    result = db.session.execute(
        statement.values(read_at=utcnow()).execution_options(synchronize_session=False)
    )
    return result.rowcount


# --- the daily digest ---------------------------------------------------------------------


def _queue_states(role: str) -> list[str]:
    registry = get_registry()
    return sorted(
        {s.name for d in registry.every_definition() for s in d.review_states if role in s.roles}
    )


def send_digests(now: datetime | None = None) -> int:
    """One digest per reviewer and day: new in my queue, due within 2 working days, overdue."""
    now = now or utcnow()
    calendar = get_calendar()
    local_day = to_local(now).date()
    soon = calendar.due_at(now, 2)
    since = now - timedelta(days=1)
    notifications, deliveries = [], []
    reviewers = db.session.scalars(
        select(User).where(User.role.in_(REVIEWER_ROLES), User.is_active_user.is_(True))
    ).all()
    for user in reviewers:
        states = _queue_states(user.role)
        base = select(func.count()).where(
            Case.state.in_(states), Case.is_open.is_(True), scope_clause(user, Case)
        )
        new = db.session.scalar(base.where(Case.stage_entered_at >= since))
        due_soon = db.session.scalar(base.where(Case.due_at >= now, Case.due_at <= soon))
        overdue = db.session.scalar(base.where(Case.due_at < now))
        if not (new or due_soon or overdue):
            continue
        params = digest_params(local_day.strftime("%d/%m/%Y"), new, due_soon, overdue)
        title, body, _link = render_params(params, recipient_locale(user), user.display_name)
        key = f"digest:{local_day.isoformat()}:{user.id}"
        notifications.append(
            {
                "key": key,
                "user_id": user.id,
                "title": title,
                "body": body,
                "params": params,
                "link": "/queue",
                "created_at": now,
            }
        )
        deliveries.extend(_email_rows(key, user, title, body, now))
    _insert_ignoring_duplicates(Notification, notifications)
    _insert_ignoring_duplicates(Delivery, deliveries)
    db.session.flush()
    return len(notifications)
