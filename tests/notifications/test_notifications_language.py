"""A message is stored as what it says (event, case, what to do), not only as the Vietnamese
text: the inbox shows it in the reader's language of the day; older messages (text only) keep
showing their text."""

from __future__ import annotations

from flask_babel import refresh

from htsd_workflow.api.framework import issue_token
from htsd_workflow.extensions import db
from htsd_workflow.notifications.models import Notification
from htsd_workflow.notifications.operations import dispatch_pending
from tests.notifications.test_notifications_pages import login


def _inbox(client, lang: str) -> str:
    with client.session_transaction() as session:
        session["lang"] = lang
    refresh()  # the test's app context outlives requests: forget the last request's language
    return client.get("/notifications").get_data(as_text=True)


def test_a_message_sent_in_vietnamese_reads_in_english_once_english_is_chosen(ctx, client, make):
    case, applicant = make.case_in("commune_review")
    applicant.locale = "vi"
    dispatch_pending()
    db.session.commit()
    stored = db.session.query(Notification).filter_by(user_id=applicant.id).one()
    assert stored.params["event"] == "submit" and stored.params["case_id"] == case.id
    assert "Hồ sơ đã được gửi" in stored.title  # the text it was sent with, as before
    login(client, applicant)

    english = _inbox(client, "en")
    assert "The application was submitted and awaits review." in english
    assert "Hồ sơ đã được gửi" not in english
    assert "1 unread message." in english  # one message: no "1 unread messages"

    vietnamese = _inbox(client, "vi")
    assert "Hồ sơ đã được gửi và đang chờ xét duyệt." in vietnamese


def test_the_api_gives_the_message_in_the_language_asked_for(ctx, client, make):
    _case, applicant = make.case_in("commune_review")
    dispatch_pending()
    token, _ = issue_token(applicant)
    db.session.commit()
    response = client.get(
        "/api/v1/notifications",
        headers={"Authorization": f"Bearer {token}", "Accept-Language": "en"},
    )
    item = response.get_json()["items"][0]
    assert item["title"].startswith(f"[HS-{_case.id}] The application was submitted")
    assert "Dear" in item["body"]


def test_an_older_message_with_only_its_text_still_shows_that_text(ctx, client, make):
    reviewer = make.reviewer("commune_reviewer", "23281")
    db.session.add(
        Notification(
            key="old:1", user_id=reviewer.id, title="Thông báo cũ chỉ có chữ", body="Nội dung cũ"
        )
    )
    db.session.commit()
    login(client, reviewer)
    page = _inbox(client, "en")
    assert "Thông báo cũ chỉ có chữ" in page and "Nội dung cũ" in page
