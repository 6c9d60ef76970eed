"""An API client that signs in with a real bearer token."""

from __future__ import annotations

import pytest

from htsd_workflow.api.framework import issue_token
from htsd_workflow.extensions import db
from tests.web.conftest import as_user  # noqa: F401 (fixture for the pages beside the API)


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
