"""The reviewer's queue answers a conditional GET: 304 without rendering while nothing the page
shows has changed, a new page as soon as anything it shows changes (issue 26, goal 3)."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from htsd_workflow.auth.models import User
from htsd_workflow.cases.operations import claim_case, fire_trigger
from htsd_workflow.extensions import db
from htsd_workflow.notifications.models import Notification
from tests.clients import text
from tests.factories import COMMUNE, COMMUNE_IN_OTHER_DISTRICT, OTHER_COMMUNE_SAME_DISTRICT


@pytest.fixture
def queue(as_user, make):
    """A commune reviewer with two cases waiting, and a way to ask for the queue again with
    the validator of the copy the browser holds."""
    make.case_in("commune_review")
    make.case_in("commune_review")
    viewer = make.user("commune_reviewer", COMMUNE)
    browser = as_user(viewer)

    class Queue:
        user = viewer
        client = browser

        def __init__(self):
            self.page = browser.get("/queue")
            assert self.page.status_code == 200

        def again(self, url="/queue"):
            response = browser.get(url, headers={"If-None-Match": self.page.headers["ETag"]})
            if response.status_code == 200:
                self.page = response
            return response

    first = Queue()
    first.again()  # the first page made the session's CSRF secret: settled from here on
    return first


def test_an_unchanged_queue_answers_304_without_rendering(queue, monkeypatch):
    import htsd_workflow.core.pages as pages

    assert queue.page.headers["Cache-Control"] == "private, no-cache"
    assert queue.page.headers["ETag"]

    def no_rendering(*args, **kwargs):
        raise AssertionError("a 304 renders nothing")

    monkeypatch.setattr(pages, "render_template", no_rendering)
    unchanged = queue.again()
    assert unchanged.status_code == 304 and unchanged.data == b""
    assert unchanged.headers["ETag"] == queue.page.headers["ETag"]
    assert unchanged.headers["Cache-Control"] == "private, no-cache"


def test_a_claim_by_another_reviewer_changes_the_page(queue, make):
    case = make.case_in("commune_review")[0]
    queue.again()
    assert queue.again().status_code == 304
    claim_case(case.id, make.user("commune_reviewer", COMMUNE, full_name="Chị Lan"))
    db.session.commit()
    changed = queue.again()
    assert changed.status_code == 200 and "Chị Lan" in text(changed)
    assert queue.again().status_code == 304


def test_a_transition_in_the_territory_changes_the_page(queue, make):
    entering, applicant = make.case_in("draft")
    fire_trigger(entering.id, "submit", applicant)
    db.session.commit()
    changed = queue.again()
    assert changed.status_code == 200 and f"HS-{entering.id}" in text(changed)
    fire_trigger(entering.id, "approve", make.reviewer("commune_reviewer", COMMUNE))
    db.session.commit()
    left = queue.again()
    assert left.status_code == 200 and f"HS-{entering.id}" not in text(left)


def test_a_change_to_a_shown_case_without_a_transition_changes_the_page(queue, make):
    from htsd_workflow.cases.models import Case

    case_id = db.session.scalars(db.select(Case.id).where(Case.state == "commune_review")).first()
    db.session.execute(update(Case).where(Case.id == case_id).values(is_escalated=True))
    db.session.commit()
    assert queue.again().status_code == 200


def test_a_new_notification_for_the_viewer_changes_the_page(queue):
    db.session.add(Notification(key="n-etag-1", user_id=queue.user.id, title="T", body="B"))
    db.session.commit()
    changed = queue.again()
    assert changed.status_code == 200 and "data-unread" in text(changed)


def test_switching_the_language_changes_the_page(queue):
    queue.client.post("/language", {"lang": "en", "next": "/queue"})
    changed = queue.again()
    assert changed.status_code == 200 and 'lang="en"' in text(changed)


def test_a_pending_message_is_shown_not_answered_304(queue):
    with queue.client.client.session_transaction() as session:
        session["_flashes"] = [("info", "Tin nhắn chờ hiện")]
    shown = queue.again()
    assert shown.status_code == 200 and "Tin nhắn chờ hiện" in text(shown)


def test_changes_in_other_territories_keep_the_validator(queue, make):
    elsewhere, applicant = make.case_in("draft", unit=OTHER_COMMUNE_SAME_DISTRICT)
    fire_trigger(elsewhere.id, "submit", applicant)
    far, far_applicant = make.case_in("draft", unit=COMMUNE_IN_OTHER_DISTRICT)
    fire_trigger(far.id, "submit", far_applicant)
    db.session.commit()
    assert queue.again().status_code == 304


def test_another_reviewer_or_another_page_never_matches(queue, as_user, make):
    etag = queue.page.headers["ETag"]
    other = as_user(make.user("commune_reviewer", COMMUNE))
    assert other.get("/queue", headers={"If-None-Match": etag}).status_code == 200
    assert queue.again("/queue?order=-due").status_code == 200


def test_a_deactivated_reviewer_gets_no_304(queue):
    db.session.execute(update(User).where(User.id == queue.user.id).values(is_active_user=False))
    db.session.commit()
    refused = queue.again()
    assert refused.status_code == 302 and "/login" in refused.headers["Location"]


def test_signing_out_clears_the_pages_the_browser_kept(queue):
    out = queue.client.post("/logout")
    assert out.status_code == 302 and out.headers["Clear-Site-Data"] == '"cache"'


def test_switching_the_language_changes_even_an_empty_queue(as_user, make):
    browser = as_user(make.user("commune_reviewer", OTHER_COMMUNE_SAME_DISTRICT))
    browser.get("/queue")
    page = browser.get("/queue")
    assert browser.get("/queue", headers={"If-None-Match": page.headers["ETag"]}).status_code == 304
    browser.post("/language", {"lang": "en", "next": "/queue"})
    changed = browser.get("/queue", headers={"If-None-Match": page.headers["ETag"]})
    assert changed.status_code == 200 and 'lang="en"' in text(changed)


def test_an_etag_weakened_on_the_way_still_matches(queue):
    weak = "W/" + queue.page.headers["ETag"]
    again = queue.client.get("/queue", headers={"If-None-Match": weak})
    assert again.status_code == 304
