"""The API's /notifications endpoints: the caller's inbox."""

from __future__ import annotations

from flask_babel import get_locale

from htsd_workflow.api.framework import (
    endpoint,
)
from htsd_workflow.api.schemas import (
    Empty,
    MarkRead,
    NotificationList,
    NotificationQuery,
)
from htsd_workflow.notifications.operations import inbox_for, mark_read, shown_text, unread_count


@endpoint(
    "/notifications",
    "GET",
    summary="The caller's inbox, newest first",
    query=NotificationQuery,
    response=NotificationList,
    tags=("notifications",),
)
def list_notifications(user, query):
    before = int(query["cursor"]) if query.get("cursor") else None
    rows = inbox_for(user, before_id=before, limit=query["limit"] + 1, unread_only=query["unread"])
    more = len(rows) > query["limit"]
    rows = rows[: query["limit"]]
    # in the language the client asks for (Accept-Language), as the API's other words
    locale = str(get_locale() or "vi")
    texts = {n.id: shown_text(n, locale, user.display_name) for n in rows}
    return {
        "items": [
            {
                "id": n.id,
                "title": texts[n.id][0],
                "body": texts[n.id][1],
                "link": n.link,
                "case_id": n.case_id,
                "created_at": n.created_at,
                "read_at": n.read_at,
                "is_read": n.read_at is not None,
            }
            for n in rows
        ],
        "next_cursor": str(rows[-1].id) if more and rows else None,
        "unread": unread_count(user),
    }


@endpoint(
    "/notifications/read",
    "POST",
    summary="Mark messages read (all when no ids)",
    body=MarkRead,
    response=Empty,
    tags=("notifications",),
)
def post_read(user, body):
    mark_read(user, body.get("ids"))
    return {}
