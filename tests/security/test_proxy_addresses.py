"""Behind nginx the app counts and records each person's own address, as the configured number
of proxies reports it; without a proxy it believes no X-Forwarded-For a client sends."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from htsd_workflow.audit.models import AuditEntry
from htsd_workflow.extensions import db, limiter
from htsd_workflow.geography.operations import import_province
from tests.clients import Browser
from tests.conftest import _make_app
from tests.factories import PASSWORD, Factory

NGINX = {"REMOTE_ADDR": "10.0.0.2"}


def sign_in(browser, username, password, forwarded_for):
    return browser.post(
        "/login",
        {"username": username, "password": password},
        headers={"X-Forwarded-For": forwarded_for},
        environ_base=NGINX,
    )


def addresses(action):
    return [e.ip for e in db.session.scalars(select(AuditEntry).where(AuditEntry.action == action))]


@pytest.fixture
def proxied(tmp_path):
    """The app behind one proxy, with a small per-address allowance of failed sign-ins."""
    app = _make_app(
        f"sqlite:///{tmp_path / 'proxied.sqlite'}",
        tmp_path,
        PROXY_COUNT=1,
        LOGIN_RATE_LIMIT="100 per minute",
        LOGIN_RATE_LIMIT_PER_ADDRESS="3 per minute",
    )
    with app.app_context():
        db.create_all()
        import_province("62")
        db.session.commit()
        limiter.reset()
        yield app
        db.session.remove()
        db.engine.dispose()


def test_behind_nginx_one_person_cannot_block_everyone_elses_sign_in(proxied):
    make = Factory()
    reviewer = make.user("commune_reviewer")
    other = make.user("commune_reviewer")
    guesser = Browser(proxied.test_client())
    for _ in range(3):
        assert sign_in(guesser, reviewer.username, "wrong", "203.0.113.5").status_code == 401
    assert sign_in(guesser, reviewer.username, "wrong", "203.0.113.5").status_code == 429
    # a made-up first entry does not help: the address nginx appended is the one counted
    spoofed = sign_in(guesser, reviewer.username, "wrong", "198.51.100.1, 203.0.113.5")
    assert spoofed.status_code == 429
    # someone else behind the same nginx still signs in
    colleague = Browser(proxied.test_client())
    assert sign_in(colleague, other.username, PASSWORD, "203.0.113.9").status_code == 302
    assert addresses("login_ok") == ["203.0.113.9"]
    assert set(addresses("login_failed")) == {"203.0.113.5"}


def test_without_a_proxy_a_forwarded_for_header_is_not_believed(ctx, make):
    limiter.reset()
    reviewer = make.user("commune_reviewer")
    browser = Browser(ctx.test_client())
    response = browser.post(
        "/login",
        {"username": reviewer.username, "password": PASSWORD},
        headers={"X-Forwarded-For": "198.51.100.77"},
    )
    assert response.status_code == 302
    assert addresses("login_ok") == ["127.0.0.1"]


def test_an_app_made_without_rate_limits_leaves_them_on_for_the_next_app(proxied, tmp_path):
    """The bench makes an app with RATELIMIT_ENABLED off in the test process; the shared
    Limiter used to carry that into every app made after it (the 401 where a 429 was due)."""
    _make_app(f"sqlite:///{tmp_path / 'off.sqlite'}", tmp_path / "off", RATELIMIT_ENABLED=False)
    app = _make_app(f"sqlite:///{tmp_path / 'on.sqlite'}", tmp_path / "on")
    assert app.config["RATELIMIT_ENABLED"] is True and limiter.enabled
