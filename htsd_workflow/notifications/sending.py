"""The SMTP hand-over of one e-mail, a boundary of its own: the e-mail is marked ``sending``
and committed before the hand-over, and its outcome committed after, so a worker that dies in
between leaves a trace (the worker's ``send_email`` task and ``flask outbox drain`` call it)."""

from __future__ import annotations

from htsd_workflow.extensions import db
from htsd_workflow.notifications.channels import build_email, send_email
from htsd_workflow.notifications.operations import (
    DeliveryFailed,
    mark_sending,
    record_failure,
    record_sent,
)


def send_delivery(delivery_id: int) -> str:
    """Send one e-mail; commits its state around the hand-over. Returns the final status."""
    delivery = mark_sending(delivery_id)
    db.session.commit()  # "sending" is recorded before the SMTP hand-over
    if delivery is None:
        return "skipped"
    message = build_email(
        to=delivery.address,
        subject=delivery.subject,
        body=delivery.body,
        message_id=delivery.message_id,
    )
    try:
        send_email(message)
    except Exception as exc:  # noqa: BLE001 - any failure is recorded and retried
        delivery = record_failure(delivery_id, exc)
        db.session.commit()
        if delivery.status == "pending":
            raise DeliveryFailed(delivery.last_error) from exc
        return "failed"
    record_sent(delivery_id)
    db.session.commit()
    return "sent"
