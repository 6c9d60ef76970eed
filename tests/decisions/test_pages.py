"""The decision pages: draft, take a case off, issue, with refusals as pages (never a 500)."""

from __future__ import annotations

import pytest

from htsd_workflow.decisions.models import Decision
from htsd_workflow.extensions import db
from tests.factories import COMMUNE, DISTRICT

pytestmark = pytest.mark.pinned_clock  # drafts and rounds of 2026, dates of that December


def test_a_commune_drafts_and_a_manager_issues_on_the_pages(ctx, make, recognised, as_user):
    kept, _ = recognised(name="Hộ Giữ Lại")
    dropped, _ = recognised(name="Hộ Bỏ Ra")
    officer = as_user(make.reviewer("commune_reviewer", COMMUNE))
    made = officer.post("/decisions/new", {"title": "family", "year": "2026", "unit": COMMUNE})
    assert made.status_code == 302
    decision_id = int(made.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    page = officer.get(f"/decisions/{decision_id}").get_data(as_text=True)
    assert "Hộ Giữ Lại" in page and "Hộ Bỏ Ra" in page and "Ban hành quyết định" not in page
    officer.post(f"/decisions/{decision_id}/remove", {"case_id": str(dropped.id)})
    manager = as_user(make.user("manager", DISTRICT))
    from flask import g

    g.pop("_login_user", None)
    bad = manager.post(
        f"/decisions/{decision_id}/issue",
        {"number": "4", "date": "20/12/2026", "signer_name": "Nguyễn Văn A"},
    )
    assert bad.status_code == 422
    assert db.session.get(Decision, decision_id).status == "draft"
    done = manager.post(
        f"/decisions/{decision_id}/issue",
        {"number": "4", "date": "2026-12-20", "signer_name": "Nguyễn Văn A"},
    )
    assert done.status_code == 302
    page = manager.get(f"/decisions/{decision_id}").get_data(as_text=True)
    assert "4/QĐ-UBND" in page and "Hộ Giữ Lại" in page and "Hộ Bỏ Ra" not in page
    assert "chưa được ký số" in page or "không có chữ ký số" in page
    again = manager.post(
        f"/decisions/{decision_id}/issue",
        {"number": "5", "date": "2026-12-21", "signer_name": "B"},
    )
    assert again.status_code == 409
    index = manager.get("/decisions").get_data(as_text=True)
    assert "4/QĐ-UBND" in index


def _issued_code(make, recognised, name: str) -> str:
    from datetime import date

    from htsd_workflow.decisions.operations import draft_decision, issue_decision

    recognised(name=name)
    decision = draft_decision("family", 2026, COMMUNE, make.reviewer("commune_reviewer", COMMUNE))
    issue_decision(decision.id, "8", date(2026, 12, 1), "A", make.user("manager", DISTRICT))
    db.session.commit()
    return db.session.get(Decision, decision.id).entries[0].code


def test_the_verify_form_takes_a_typed_code(ctx, make, recognised, client):
    from htsd_workflow.decisions.operations import format_code

    code = _issued_code(make, recognised, "Hộ Gõ Mã")
    form = client.get("/verify")
    assert form.status_code == 200
    assert '<form method="get" action="/verify"' in form.get_data(as_text=True)
    answer = client.get("/verify", query_string={"code": format_code(code).lower()})
    assert answer.status_code == 302 and answer.headers["Location"].endswith(f"/verify/{code}")
    assert "Hộ Gõ Mã" in client.get(answer.headers["Location"]).get_data(as_text=True)


def test_the_public_check_sets_no_cookie(ctx, make, recognised, client):
    """The public check keeps no session: no token in its pages, no cookie in its answers (a
    QR code scanned by a phone costs no session), whatever it answers."""
    from htsd_workflow.decisions.operations import format_code

    code = _issued_code(make, recognised, "Hộ Không Bánh Quy")
    for path in (
        f"/verify/{code}",
        f"/verify/{code}?lang=en",
        "/verify",
        "/verify?lang=en",
        "/verify?code=x",
        f"/verify?code={format_code(code)}&lang=en",
        "/verify/" + "A" * 16,
        f"/api/v1/verify/{code}",
    ):
        answer = client.get(path)
        assert answer.status_code in (200, 302, 404), path
        assert "Set-Cookie" not in answer.headers, path
        assert "csrf_token" not in answer.get_data(as_text=True), path
    assert client.get("/login").headers.get("Set-Cookie")  # a form with a token still makes one


def test_the_public_check_changes_language_by_links(ctx, make, recognised, browser):
    """Its language switch is a pair of links (?lang=), and the look-up form keeps the language
    chosen; nothing is stored, so the next page without ?lang= is Vietnamese again."""
    from htsd_workflow.decisions.operations import format_code

    code = _issued_code(make, recognised, "Hộ Song Ngữ")
    client = browser  # a fresh g per request, as a server's
    english = client.get(f"/verify/{code}?lang=en").get_data(as_text=True)
    assert "Verify a certificate" in english and "Valid" in english and "Hộ Song Ngữ" in english
    assert '<a href="?lang=vi" class="chip" lang="vi">' in english
    assert '<a href="?lang=en" class="chip" aria-current="true" lang="en">' in english
    assert '<input type="hidden" name="lang" value="en">' in english
    typed = client.get("/verify", query_string={"code": format_code(code), "lang": "en"})
    assert typed.headers["Location"].endswith(f"/verify/{code}?lang=en")
    vietnamese = client.get(f"/verify/{code}").get_data(as_text=True)
    assert "Kiểm tra giấy công nhận" in vietnamese and "Còn hiệu lực" in vietnamese
    assert '<a href="?lang=vi" class="chip" aria-current="true" lang="vi">' in vietnamese


def test_a_signed_in_visitor_sees_the_menu_on_the_public_check_and_a_stranger_never_does(
    ctx, make, recognised, browser, as_user
):
    """The page around the facts is kept for visitors who are not signed in; a signed-in one
    gets the page made for them (the menu), and the next stranger still the kept one."""
    from htsd_workflow.decisions import views

    code = _issued_code(make, recognised, "Hộ Có Khách")
    officer = as_user(make.reviewer("commune_reviewer", COMMUNE))
    stranger = browser  # not signed in; a fresh g per request, as a server's
    for first, then in ((officer, stranger), (stranger, officer)):
        views._VERIFY_FRAME.clear()
        for visitor in (first, then):
            page = visitor.get(f"/verify/{code}").get_data(as_text=True)
            assert "Hộ Có Khách" in page
            if visitor is officer:
                assert "Đăng xuất" in page
            else:
                assert "Đăng xuất" not in page and "csrf_token" not in page


def test_the_commune_revokes_on_the_case_page_with_a_reason(ctx, make, recognised, as_user):
    case, _ = recognised(name="Hộ Thu Hồi")
    officer = as_user(make.reviewer("commune_reviewer", COMMUNE))
    page = officer.get(f"/cases/{case.id}").get_data(as_text=True)
    assert "Thu hồi công nhận" in page  # the button, from the workflow file
    refused = officer.post(f"/cases/{case.id}/actions", {"trigger": "revoke", "comment": ""})
    assert refused.status_code == 422
    done = officer.post(
        f"/cases/{case.id}/actions", {"trigger": "revoke", "comment": "Khai không đúng"}
    )
    assert done.status_code in (302, 303)
    db.session.expire_all()
    from htsd_workflow.cases.models import Case

    assert db.session.get(Case, case.id).state == "revoked"


def test_decision_pages_stay_inside_the_territory(ctx, make, recognised, as_user):
    from datetime import date

    from flask import g

    from htsd_workflow.decisions.operations import draft_decision, issue_decision
    from tests.factories import OTHER_COMMUNE_SAME_DISTRICT

    recognised(name="Hộ Trong Xã")
    decision = draft_decision("family", 2026, COMMUNE, make.reviewer("commune_reviewer", COMMUNE))
    issue_decision(decision.id, "3", date(2026, 12, 1), "A", make.user("manager", DISTRICT))
    db.session.commit()
    stranger = as_user(make.user("commune_reviewer", OTHER_COMMUNE_SAME_DISTRICT))
    g.pop("_login_user", None)
    for url in (
        f"/decisions/{decision.id}",
        f"/decisions/{decision.id}/pdf",
        f"/decisions/{decision.id}/certificates.pdf",
    ):
        assert stranger.get(url).status_code == 404, url
    assert "Hộ Trong Xã" not in stranger.get("/decisions").get_data(as_text=True)
    assert "Hộ Trong Xã" not in stranger.get("/decisions/lists").get_data(as_text=True)
    g.pop("_login_user", None)
    applicant = as_user(make.user("applicant", subject_id=make.subject().id))
    g.pop("_login_user", None)
    assert applicant.get("/decisions").status_code == 403


def test_the_verify_page_is_made_once_per_fact_and_a_revocation_shows_at_once(
    ctx, make, recognised, client
):
    """The page's content is kept per (language, what it shows): the same certificate asked
    again is answered from it, a revocation changes what it shows, and so the page."""
    from datetime import date

    from htsd_workflow.cases.operations import fire_trigger
    from htsd_workflow.decisions import views
    from htsd_workflow.decisions.operations import draft_decision, format_code, issue_decision

    case, _ = recognised(name="Hộ Kiểm Tra Lại")
    officer = make.reviewer("commune_reviewer", COMMUNE)
    decision = draft_decision("family", 2026, COMMUNE, officer)
    issue_decision(decision.id, "9", date(2026, 12, 1), "A", make.user("manager", DISTRICT))
    db.session.commit()
    code = db.session.get(Decision, decision.id).entries[0].code
    views._VERIFY_CONTENT.clear()
    first = client.get(f"/verify/{code}").get_data(as_text=True)
    assert "Còn hiệu lực" in first and len(views._VERIFY_CONTENT) == 1
    assert client.get(f"/verify/{code}").get_data(as_text=True) == first
    assert len(views._VERIFY_CONTENT) == 1  # answered from the kept content
    # the look-up form is a GET without a session token: the content is the same for everyone
    assert '<form method="get" action="/verify"' in first
    typed = client.get("/verify", query_string={"code": format_code(code).lower()})
    assert typed.status_code == 302 and typed.headers["Location"].endswith(f"/verify/{code}")
    fire_trigger(case.id, "revoke", officer, comment="Khai sai")
    db.session.commit()
    after = client.get(f"/verify/{code}").get_data(as_text=True)
    assert "Đã bị thu hồi" in after and "Còn hiệu lực" not in after
    english = client.get(f"/verify/{code}", headers={"Accept-Language": "en"})
    assert english.status_code == 200
