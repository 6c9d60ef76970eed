"""What every request pays is cut without changing what it answers: the session signer made
once per key, JSON bodies not run through the form parser (NUL and size checks unchanged)."""

from __future__ import annotations

import pytest
from werkzeug.formparser import FormDataParser

from htsd_workflow.web import SessionInterface


@pytest.fixture
def form_parses(monkeypatch):
    """How many times werkzeug's form parser ran."""
    calls = []
    parse = FormDataParser.parse

    def counting(self, *args, **kwargs):
        calls.append(1)
        return parse(self, *args, **kwargs)

    monkeypatch.setattr(FormDataParser, "parse", counting)
    return calls


def test_a_json_request_is_not_run_through_the_form_parser(client, form_parses):
    response = client.post("/api/v1/auth/token", json={"username": "nobody", "password": "x"})
    assert response.status_code == 401
    assert form_parses == []
    page = client.get("/login").get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    client.post("/login", data={"username": "nobody", "password": "x", "csrf_token": token})
    assert form_parses  # a form is still read (and checked for NUL characters)


def test_a_nul_character_in_a_form_body_sent_to_the_api_is_still_a_400(client):
    response = client.post("/api/v1/auth/token", data={"username": "a\x00", "password": "x"})
    assert response.status_code == 400
    assert response.json["error"]["code"] == "bad_request"


def test_a_body_over_the_limit_is_still_a_413_whatever_its_type(ctx, client):
    limit = ctx.config["MAX_CONTENT_LENGTH"]
    ctx.config["MAX_CONTENT_LENGTH"] = 100
    try:
        body = '{"username": "' + "a" * 200 + '", "password": "x"}'
        page = client.post("/login", data=body, content_type="application/json")
        assert page.status_code == 413
        api = client.post("/api/v1/auth/token", data=body, content_type="application/json")
        assert api.status_code == 413 and api.json["error"]["code"] == "request_entity_too_large"
        short = client.post("/api/v1/auth/token", json={"username": "a", "password": "x"})
        assert short.status_code == 401
    finally:
        ctx.config["MAX_CONTENT_LENGTH"] = limit


def test_the_session_signer_is_made_once_per_secret_key(ctx, client):
    interface = ctx.session_interface
    assert isinstance(interface, SessionInterface)
    signer = interface.get_signing_serializer(ctx)
    assert interface.get_signing_serializer(ctx) is signer
    client.get("/healthz")
    assert interface.get_signing_serializer(ctx) is signer
    key, fallbacks = ctx.secret_key, ctx.config["SECRET_KEY_FALLBACKS"]
    try:
        ctx.secret_key = key + "-rotated"
        ctx.config["SECRET_KEY_FALLBACKS"] = [key]
        rotated = interface.get_signing_serializer(ctx)
        assert rotated is not signer
        # a cookie signed with the old key still opens (the fallback), as with Flask's own
        assert rotated.loads(signer.dumps({"lang": "en"})) == {"lang": "en"}
    finally:
        ctx.secret_key = key
        ctx.config["SECRET_KEY_FALLBACKS"] = fallbacks
    assert interface.get_signing_serializer(ctx).loads(signer.dumps({"a": 1})) == {"a": 1}


def test_a_signed_in_session_still_works(as_user, make):
    from tests.factories import COMMUNE

    reviewer = as_user(make.user("commune_reviewer", COMMUNE))
    page = reviewer.get("/queue")
    assert page.status_code == 200
    # the queue is kept to be asked for again (its conditional GET), every other personal page
    # is not kept at all
    assert page.headers["Cache-Control"] == "private, no-cache"
    inbox = reviewer.get("/notifications")
    assert inbox.status_code == 200 and inbox.headers["Cache-Control"] == "no-store"
