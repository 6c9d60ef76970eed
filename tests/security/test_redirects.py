"""Where a form sends the browser afterwards (``next``, ``back``) is always a page of this site,
and a target that is not is refused before anything is done."""

from __future__ import annotations

import re
from urllib.parse import quote, urljoin, urlsplit

from hypothesis import example, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from htsd_workflow.audit.models import AuditEntry
from htsd_workflow.cases.models import Case
from htsd_workflow.core.pages import safe_next
from htsd_workflow.extensions import db
from tests.clients import text
from tests.factories import COMMUNE, PASSWORD

SITE = "https://htsd.example.gov.vn/queue?page=2"
_C0_OR_SPACE = "".join(chr(c) for c in range(0x21))


def browser_resolves(target: str, base: str = SITE) -> str:
    """Where a browser goes for ``Location: target`` on ``base``, following the parts of the
    WHATWG URL parser that Python's ``urljoin`` does not do: leading and trailing C0 controls
    and spaces are trimmed, tabs and line breaks anywhere are removed, in an http(s) URL a
    backslash is a slash, and any run of two or more slashes at the start opens a host name
    (checked against Chromium in ``tests/browser/test_redirect_targets.py``)."""
    target = target.strip(_C0_OR_SPACE)
    target = re.sub("[\t\n\r]", "", target).replace("\\", "/")
    target = re.sub("^//+", "//", target)
    return urljoin(base, target)


@settings(max_examples=500, deadline=None)
@given(
    st.one_of(
        st.text(),
        st.text(alphabet="/\\\t\n\r .:@%?#ab\x00\x0b\x0c\x1f\x7f\u00a0\u2028\u200b\u202e"),
        st.builds(lambda a, b: a + b, st.sampled_from(["/", "//", "/\t/", "/\\", " /"]), st.text()),
    )
)
@example("/%09/other-host/phish")
@example("/\t/other-host/phish")
@example("/\r\n/other-host")
@example("/\\other-host")
@example(" //other-host")
def test_a_target_that_is_accepted_never_leaves_the_site(target):
    accepted = safe_next(target)
    if accepted is None:
        return
    assert accepted == target
    where = urlsplit(browser_resolves(target))
    assert (where.scheme, where.netloc) == ("https", "htsd.example.gov.vn")
    # nothing that a browser would drop or that would break the Location header
    assert not any(ch in target for ch in "\t\r\n\x00\\ ")


def test_ordinary_targets_of_this_site_are_kept():
    for target in ("/queue", "/queue?state=commune_review&page=2", "/cases/12?back=%2Fqueue"):
        assert safe_next(target) == target


def test_the_case_page_does_not_offer_a_way_back_to_another_site(as_user, make):
    case, _ = make.case_in("commune_review")
    officer = as_user(make.user("commune_reviewer", COMMUNE))
    for back in ("/%09/other-host/phish", "/%0A/other-host", "/%5Cother-host", "//other-host"):
        page = officer.get(f"/cases/{case.id}?back={back}")
        assert page.status_code == 400, back
        assert "Về hàng chờ" not in text(page)
    kept = officer.get(f"/cases/{case.id}?back={quote('/queue?page=2', safe='')}")
    assert kept.status_code == 200 and 'href="/queue?page=2"' in text(kept)


def test_a_line_break_in_back_refuses_the_action_and_changes_nothing(as_user, make):
    case, _ = make.case_in("commune_review")
    officer = as_user(make.user("commune_reviewer", COMMUNE))
    version = case.version
    for url, form in (
        (f"/cases/{case.id}/claim", {}),
        (f"/cases/{case.id}/actions", {"trigger": "approve", "version": version}),
    ):
        refused = officer.post(url, {**form, "back": "/queue\r\nSet-Cookie: x=1"})
        assert refused.status_code == 400, url
        db.session.expire_all()
        unchanged = db.session.get(Case, case.id)
        assert unchanged.claimed_by_id is None and unchanged.state == "commune_review"
        assert unchanged.version == version
    # the same actions with a way back of this site go through
    assert officer.post(f"/cases/{case.id}/claim", {"back": "/queue"}).status_code == 302


def test_a_line_break_in_back_refuses_giving_a_case_back(as_user, make):
    case, _ = make.case_in("commune_review")
    officer_user = make.user("commune_reviewer", COMMUNE)
    officer = as_user(officer_user)
    officer.post(f"/cases/{case.id}/claim")
    refused = officer.post(f"/cases/{case.id}/release", {"back": "/queue\nX: y"})
    assert refused.status_code == 400
    db.session.expire_all()
    assert db.session.get(Case, case.id).claimed_by_id == officer_user.id


def test_signing_in_with_a_next_to_another_site_is_refused_before_signing_in(browser, make):
    reviewer = make.user("commune_reviewer")
    signed_in = select(func.count()).where(AuditEntry.action.in_(("login_ok", "login_failed")))
    before = db.session.scalar(signed_in)
    for next_target in ("/%09/other-host/phish", "/%0D%0A/other-host"):
        refused = browser.post(
            f"/login?next={next_target}", {"username": reviewer.username, "password": PASSWORD}
        )
        assert refused.status_code == 400
        assert db.session.scalar(signed_in) == before
    done = browser.post(
        "/login?next=/queue%3Fpage%3D2", {"username": reviewer.username, "password": PASSWORD}
    )
    assert done.status_code == 302 and done.headers["Location"] == "/queue?page=2"


def test_the_language_switch_does_not_go_to_another_site(browser):
    refused = browser.post("/language", {"lang": "en", "next": "/\t/other-host"})
    assert refused.status_code == 400
