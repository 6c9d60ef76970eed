"""The inbox page, and the admins' page of e-mails that failed."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import get_locale, ngettext
from flask_login import current_user

from htsd_workflow.auth.access import access
from htsd_workflow.core import transaction
from htsd_workflow.core.text import whole_number
from htsd_workflow.jobs import names
from htsd_workflow.notifications.dispatch import enqueue
from htsd_workflow.notifications.operations import (
    failed_deliveries,
    inbox_for,
    mark_read,
    retry_failed,
    shown_text,
    unread_count,
)

bp = Blueprint("notifications", __name__)


@bp.get("/notifications")
@access()
def inbox():
    """The signed-in user's messages, newest first."""
    before = whole_number(request.args.get("before"), 1)
    messages = inbox_for(current_user, before_id=before, limit=50)
    locale, name = str(get_locale() or "vi"), current_user.display_name
    texts = {m.id: shown_text(m, locale, name) for m in messages}
    return render_template(
        "notifications/inbox.html",
        messages=messages,
        texts=texts,
        unread=unread_count(current_user),
        next_before=messages[-1].id if len(messages) == 50 else None,
    )


@bp.post("/notifications/read")
@access()
def read_all():
    count = mark_read(current_user)
    flash(
        ngettext(
            "Đã đánh dấu %(num)s thông báo là đã đọc.",
            "Đã đánh dấu %(num)s thông báo là đã đọc.",
            count,
        ),
        "success",
    )
    return redirect(url_for("notifications.inbox"))


@bp.get("/admin/deliveries")
@access("admin")
def deliveries():
    return render_template(
        "notifications/deliveries.html", deliveries=failed_deliveries(current_user)
    )


@bp.post("/admin/deliveries/retry")
@access("admin")
def retry():
    ids = retry_failed(
        current_user, [n for i in request.form.getlist("id") if (n := whole_number(i, 1))] or None
    )
    for delivery_id in ids:
        transaction.after_commit(enqueue, names.SEND_EMAIL, delivery_id)
    flash(
        ngettext(
            "Đã đưa %(num)s thư vào hàng gửi lại.", "Đã đưa %(num)s thư vào hàng gửi lại.", len(ids)
        ),
        "success",
    )
    return redirect(url_for("notifications.deliveries"))
