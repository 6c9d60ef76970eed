"""Benchmark 3's floors (``bench/queue_floor.py``) serve the app's own queue page, and the
library floor really does the libraries' work on every request: Flask-Login loads the reviewer
through Flask-SQLAlchemy (a changed password ends the session), Flask-WTF puts a fresh CSRF
token in the page. The end-to-end bench test measures both floors; this one checks what they
serve."""

from __future__ import annotations

import re

import pytest

from bench.capture import capture
from bench.data import BENCH_PASSWORD
from bench.http_benches import floor_entry
from bench.queue_floor import create_floor_app, create_library_floor_app
from htsd_workflow.auth.operations import set_password
from htsd_workflow.extensions import db
from tests.factories import COMMUNE, DISTRICT

pytestmark = pytest.mark.postgres_only

CASE_IDS = re.compile(r'name="case_id" value="(\d+)"')
TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def _reviewer_with_cases(make):
    reviewer = make.user("district_reviewer", DISTRICT)
    reviewer.set_password(BENCH_PASSWORD)  # the bench signs in with its own password
    db.session.commit()
    for _ in range(3):
        make.case_in("district_verification", "family", COMMUNE)
    return reviewer


def _page(app, signed_in: bool = True):
    client = app.test_client()
    if signed_in:
        assert client.get("/floor/sign-in/0").status_code == 200
    return client, client.get("/floor/queue")


def test_both_floors_serve_the_reviewers_cases_in_the_apps_order(ctx, make):
    reviewer = _reviewer_with_cases(make)
    entry = floor_entry(ctx, reviewer.username)
    assert len(entry["ids"]) == 3
    uri = ctx.config["SQLALCHEMY_DATABASE_URI"]
    bare = create_floor_app([entry], uri.replace("postgresql+psycopg://", "postgresql://"))
    libraries = create_library_floor_app(
        [entry], uri, dict(ctx.config["SQLALCHEMY_ENGINE_OPTIONS"])
    )
    for floor in (bare, libraries):
        _client, page = _page(floor)
        assert page.status_code == 200
        assert CASE_IDS.findall(page.get_data(as_text=True)) == entry["ids"]
        assert _page(floor, signed_in=False)[1].status_code == 403
    with libraries.app_context():
        db.engine.dispose()


def test_the_library_floor_loads_the_reviewer_and_signs_a_token_on_every_request(ctx, make):
    reviewer = _reviewer_with_cases(make)
    entry = floor_entry(ctx, reviewer.username)
    app_token = TOKEN.search(entry["head"]).group(1)
    # the captured statements the libraries send themselves: at least the user's load
    own = [entry["statements"][i][0] for i in entry["own"]]
    assert any(sql.lstrip().startswith("SELECT users.id") for sql in own)
    libraries = create_library_floor_app(
        [entry],
        ctx.config["SQLALCHEMY_DATABASE_URI"],
        dict(ctx.config["SQLALCHEMY_ENGINE_OPTIONS"]),
    )
    client, _first = _page(libraries)
    holder = {}
    captured = capture(lambda: holder.setdefault("page", client.get("/floor/queue")))
    page = holder["page"].get_data(as_text=True)
    sent = [s.sql.lstrip() for s in captured.statements]
    assert sum(sql.startswith("SELECT users.id") for sql in sent) == 1  # Flask-Login's load
    assert len(sent) == len(entry["statements"])  # its own ones and the page's others
    token = TOKEN.search(page).group(1)
    assert token and token != app_token  # a token of this session, not the captured one

    set_password(reviewer, "Mật khẩu mới 2026!")  # ends the reviewer's other sessions
    db.session.commit()
    assert client.get("/floor/queue").status_code == 403
    with libraries.app_context():
        db.engine.dispose()
