"""Signing in and out, passwords, language, security headers, error pages and access rules."""

from __future__ import annotations

import re

from sqlalchemy import select

from htsd_workflow.auth.models import User
from htsd_workflow.extensions import db
from tests.clients import Browser, text
from tests.factories import PASSWORD


def sign_in(browser, username, password=PASSWORD, **kw):
    return browser.post("/login", {"username": username, "password": password}, **kw)


def test_signing_in_starts_a_new_session_and_lands_on_the_role_start_page(browser, make):
    reviewer = make.user("commune_reviewer")
    with browser.client.session_transaction() as session:
        session["planted"] = "by someone else"
    token_before = browser.token()
    response = sign_in(browser, reviewer.username.upper())
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/rounds/commune")  # the commune dashboard
    with browser.client.session_transaction() as session:
        assert "planted" not in session
        assert session["_user_id"] == reviewer.get_id()
    assert browser.token() != token_before


def test_a_wrong_password_is_refused_without_saying_which_part_was_wrong(browser, make):
    reviewer = make.user("commune_reviewer")
    wrong = sign_in(browser, reviewer.username, "not-the-password")
    unknown = sign_in(browser, "nobody-here", "not-the-password")
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert "Tên đăng nhập hoặc mật khẩu không đúng." in text(response)
    assert 'value="nobody-here"' in text(unknown)  # the typed name stays


def test_repeated_failed_sign_ins_are_slowed_down(browser, make):
    reviewer = make.user("commune_reviewer")
    for _ in range(5):
        assert sign_in(browser, reviewer.username, "wrong-one").status_code == 401
    blocked = sign_in(browser, reviewer.username, PASSWORD)
    assert blocked.status_code == 429
    assert "Bạn đã thử quá nhiều lần" in text(blocked)
    # the refused attempt is in the audit log as a failed sign-in, once
    from htsd_workflow.audit.models import AuditEntry

    throttled = db.session.scalars(
        select(AuditEntry).where(
            AuditEntry.action == "login_failed", AuditEntry.username == reviewer.username
        )
    ).all()
    reasons = [(e.details or {}).get("reason") for e in throttled]
    assert reasons.count("wrong_password") == 5 and reasons.count("rate_limited") == 1
    assert all(e.target == f"user:{reviewer.id}" for e in throttled)


def test_failed_web_sign_ins_also_close_the_api_token_door(browser, make, client):
    reviewer = make.user("commune_reviewer")
    for _ in range(5):
        assert sign_in(browser, reviewer.username, "wrong-one").status_code == 401
    token = client.post(
        "/api/v1/auth/token", json={"username": reviewer.username, "password": PASSWORD}
    )
    assert token.status_code == 429
    assert "message" in token.json["error"]


def test_failed_api_token_requests_count_against_the_web_sign_in_limit(browser, make, client):
    reviewer = make.user("commune_reviewer")
    for _ in range(5):
        wrong = {"username": reviewer.username.upper(), "password": "wrong-one"}
        assert client.post("/api/v1/auth/token", json=wrong).status_code == 401
    right = {"username": reviewer.username, "password": PASSWORD}
    assert client.post("/api/v1/auth/token", json=right).status_code == 429
    from htsd_workflow.audit.models import AuditEntry

    refused = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "api_token_refused")
    ).all()
    assert [(e.details or {}).get("reason") for e in refused][-1] == "rate_limited"
    assert sign_in(browser, reviewer.username, PASSWORD).status_code == 429
    # another account from the same address is not held back
    other = make.user("commune_reviewer")
    assert sign_in(browser, other.username, PASSWORD).status_code == 302


def test_a_successful_sign_in_does_not_count_against_the_limit(browser, make):
    reviewer = make.user("commune_reviewer")
    for _ in range(7):
        assert sign_in(browser, reviewer.username).status_code == 302
        browser.post("/logout")


def test_a_form_without_its_csrf_token_is_refused(browser, make):
    reviewer = make.user("commune_reviewer")
    response = browser.client.post(
        "/login", data={"username": reviewer.username, "password": PASSWORD}
    )
    assert response.status_code == 400
    assert "Phiên làm việc của trang đã hết hạn" in text(response)


def test_session_cookies_are_http_only_and_secure_when_configured(browser, make, ctx):
    reviewer = make.user("commune_reviewer")
    ctx.config["SESSION_COOKIE_SECURE"] = True
    try:
        response = sign_in(browser, reviewer.username)
    finally:
        ctx.config["SESSION_COOKIE_SECURE"] = False
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=Lax" in cookie


def test_signing_out_needs_a_form_and_ends_the_session(browser, make):
    reviewer = make.user("commune_reviewer")
    browser.login(reviewer)
    assert browser.get("/logout").status_code == 405
    assert browser.post("/logout").status_code == 302
    assert browser.get("/queue").headers["Location"].startswith("/login")


def test_signing_out_ends_the_session_on_the_server_so_a_copied_cookie_opens_nothing(
    browser, ctx, make
):
    reviewer = make.user("commune_reviewer")
    assert sign_in(browser, reviewer.username).status_code == 302
    cookie = browser.client.get_cookie("session")
    copied = Browser(ctx.test_client())
    copied.client.set_cookie("session", cookie.value)
    assert copied.get("/queue").status_code == 200
    assert browser.post("/logout").status_code == 302
    after = copied.get("/queue")
    assert after.status_code == 302 and after.headers["Location"].startswith("/login")
    # signing in again works as before
    assert sign_in(browser, reviewer.username).status_code == 302
    assert browser.get("/queue").status_code == 200


def test_changing_the_password_keeps_me_in_and_ends_my_other_sessions(browser, as_user, make):
    reviewer = make.user("commune_reviewer")
    browser.login(reviewer)
    other_device = as_user(reviewer)
    refused = browser.post(
        "/account/password",
        {"current_password": "wrong", "new_password": "a-new-pass-1", "confirm": "a-new-pass-1"},
    )
    assert refused.status_code == 422
    assert "Mật khẩu hiện tại không đúng" in text(refused)
    done = browser.post(
        "/account/password",
        {"current_password": PASSWORD, "new_password": "a-new-pass-1", "confirm": "a-new-pass-1"},
    )
    assert done.status_code == 302
    assert browser.get("/queue").status_code == 200
    assert other_device.get("/queue").status_code == 302  # sent to sign in again
    assert db.session.get(User, reviewer.id).check_password("a-new-pass-1")


def test_a_temporary_password_must_be_changed_before_anything_else(browser, make):
    reviewer = make.user("commune_reviewer")
    reviewer.must_change_password = True
    db.session.commit()
    response = sign_in(browser, reviewer.username)
    assert response.headers["Location"].endswith("/account/password")
    assert browser.get("/queue").headers["Location"].endswith("/account/password")


def test_pages_carry_a_strict_content_security_policy(browser, make):
    browser.login(make.user("commune_reviewer"))
    response = browser.get("/queue")
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    body = text(response)
    assert "<style" not in body and " style=" not in body
    assert not re.search(r"<script(?![^>]*\bsrc=)", body)  # no inline scripts


def test_the_language_switch_shows_english_including_error_pages(browser, make):
    browser.login(make.user("commune_reviewer"))
    assert "Hàng chờ xử lý" in text(browser.get("/queue"))
    browser.post("/language", {"lang": "en", "next": "/queue"})
    assert "Work queue" in text(browser.get("/queue"))
    missing = browser.get("/cases/999999")
    assert missing.status_code == 404 and "Page not found" in text(missing)
    browser.post("/language", {"lang": "vi"})
    assert "Không tìm thấy trang" in text(browser.get("/cases/999999"))


def test_error_pages_are_in_vietnamese_with_a_way_back(browser, make):
    browser.login(make.user("applicant", subject_id=make.subject().id))
    forbidden = browser.get("/queue")
    assert forbidden.status_code == 403
    assert "Bạn không có quyền xem trang này" in text(forbidden)
    assert "Về trang chính" in text(forbidden)


def test_every_route_declares_who_may_open_it(ctx):
    for rule in ctx.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        view = ctx.view_functions[rule.endpoint]
        assert hasattr(view, "access_rule"), f"{rule.rule} declares no access rule"


def test_anonymous_visitors_are_sent_to_sign_in(client):
    for path in ("/queue", "/my", "/overview", "/admin/users", "/cases/1", "/search"):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert client.get("/").status_code == 200
    assert client.get("/healthz").json == {"status": "ok"}
