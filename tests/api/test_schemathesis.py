"""Schemathesis against /api/v1/openapi.json: no 500s, and every response fits its schema.

Examples are capped so the whole run takes a minute or two.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from htsd_workflow import create_app
from htsd_workflow.api.openapi import build_spec
from tests.factories import COMMUNE

# the document is the same for every app; build it once, outside any database
_app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "TESTING": True})
with _app.app_context():
    SPEC = build_spec()
SPEC["servers"] = [{"url": "/api/v1"}]


@pytest.fixture
def api_schema(ctx):
    return schemathesis.from_dict(SPEC, app=ctx, base_url="/api/v1")


schema = schemathesis.from_pytest_fixture("api_schema")


@pytest.fixture
def token(ctx, make, api):
    """Some data to find, and a commune reviewer's token (one per operation tested)."""
    make.case_in("district_verification", name="Hộ Thử Nghiệm")
    return api(make.reviewer("commune_reviewer", COMMUNE)).token


@schema.parametrize()
@settings(max_examples=20, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_api_answers_every_generated_request_within_its_schema(case, token):
    case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}
    response = case.call_wsgi()
    assert response.status_code < 500, (case.method, case.formatted_path, response.data[:500])
    case.validate_response(response)
