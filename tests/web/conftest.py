"""Helpers for the route tests: sign a user in, and post forms with their CSRF token."""

from __future__ import annotations

import re

import pytest
from flask import g

from htsd_workflow.extensions import limiter

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
