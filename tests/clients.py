"""Signed-in clients for the tests: ``browser`` and ``as_user`` post forms with their CSRF
token as a browser does; ``api`` holds a real bearer token. The root conftest registers them."""

from __future__ import annotations

import re

import pytest
from flask import g

from htsd_workflow.api.framework import issue_token
from htsd_workflow.extensions import db, limiter

_TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


class Browser:
    """A test client that signs in as a user and sends forms the way a browser does.

    The test holds an app context, which Flask reuses for the client's requests; its ``g``
    (the signed-in user, the CSRF token) is emptied before each request, as a real server's is.
    """

    def __init__(self, client):
        self.client = client

    @staticmethod
    def _fresh() -> None:
        g.__dict__.clear()

    def login(self, user) -> Browser:
        with self.client.session_transaction() as session:
            session["_user_id"] = user.get_id()
            session["_fresh"] = True
        return self

    def token(self) -> str:
        page = self.get("/account/password")
        if page.status_code != 200:
            page = self.get("/login")
        return _TOKEN.search(page.get_data(as_text=True)).group(1)

    def get(self, url, **kw):
        self._fresh()
        return self.client.get(url, **kw)

    def post(self, url, data=None, **kw):
        data = dict(data or {})
        data.setdefault("csrf_token", self.token())
        self._fresh()
        return self.client.post(url, data=data, **kw)


@pytest.fixture
def browser(client):
    limiter.reset()
    return Browser(client)


@pytest.fixture
def as_user(ctx):
    """A fresh signed-in client per user: ``as_user(reviewer).get('/queue')``."""

    def make(user) -> Browser:
        return Browser(ctx.test_client()).login(user)

    return make


def text(response) -> str:
    return response.get_data(as_text=True)


class Api:
    def __init__(self, client, token=None):
        self.client, self.token = client, token

    def _headers(self):
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def get(self, path, **kw):
        return self.client.get("/api/v1" + path, headers=self._headers(), **kw)

    def post(self, path, json=None, **kw):
        return self.client.post("/api/v1" + path, json=json, headers=self._headers(), **kw)

    def put(self, path, json=None):
        return self.client.put("/api/v1" + path, json=json, headers=self._headers())

    def delete(self, path):
        return self.client.delete("/api/v1" + path, headers=self._headers())


@pytest.fixture
def api(ctx):
    """``api(user)`` gives a client holding a fresh token for the user; ``api()`` none."""

    def make(user=None):
        client = ctx.test_client()
        if user is None:
            return Api(client)
        # tokens come straight from the operation: the token endpoint's rate limit would
        # otherwise count every test's sign-in (test_api.py exercises the endpoint itself)
        user.must_change_password = False
        token, _ = issue_token(user)
        db.session.commit()
        return Api(client, token)

    return make
