"""Schemathesis against /api/v1/openapi.json: no 500s, and every response fits its schema.

Three phases, each on a fixed seed (``derandomize``) with bounded examples, so the run is the
same every time and takes about a minute:

- per operation, requests that fit the schema and requests that break it (fuzzing: wrong types,
  missing and unknown fields, out-of-range numbers; strings in any code point, lone surrogates
  and NUL included, as the fuzzer that found the 500 on ``PUT /cases/{id}/assessment`` sent);
- stateful: sequences that follow the document's links (create a subject, open a case for it,
  read, assess, move, claim and release it), so the later calls hit real records.
"""

from __future__ import annotations

import copy

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis import DataGenerationMethod, GenerationConfig
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from htsd_workflow import create_app
from htsd_workflow.api.openapi import build_spec
from tests.factories import COMMUNE

# the document is the same for every app; build it once, outside any database
_app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "TESTING": True})
with _app.app_context():
    SPEC = build_spec()
SPEC["servers"] = [{"url": "/api/v1"}]

#: strings in any code point (``codec=None``): lone surrogates and NUL reach the API. The
#: token is the test's own (a generated one would only test the 401), so no Authorization
#: header is generated
GENERATION = GenerationConfig(codec=None, allow_x00=True, with_security_parameters=False)
FIXED = {
    "deadline": None,
    "derandomize": True,
    "suppress_health_check": list(HealthCheck),
}


#: what every answer is held to: no 500, a documented status and content type, and a body
#: that fits its schema. Not schemathesis' "auth is enforced": it resends the case with the token
#: these tests add (the last test sends every operation without one).
STEP_CHECKS = (
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
)
#: one operation's answers, also: a request that breaks the schema is refused. (Not in the
#: stateful phase: a link fills the path with a real id over a generated invalid one, so a
#: "negative" step there may rightly succeed.)
OPERATION_CHECKS = (*STEP_CHECKS, negative_data_rejection)


@pytest.fixture
def api_schema(ctx):
    return schemathesis.from_dict(
        SPEC,
        app=ctx,
        base_url="/api/v1",
        data_generation_methods=DataGenerationMethod.all(),
        generation_config=GENERATION,
    )


schema = schemathesis.from_pytest_fixture("api_schema")


@pytest.fixture
def token(ctx, make, api):
    """Some data to find, and a commune reviewer's token (one per operation tested)."""
    make.case_in("district_verification", name="Hộ Thử Nghiệm")
    return api(make.reviewer("commune_reviewer", COMMUNE)).token


def _sendable(case) -> bool:
    """Whether the test client can put the case on the wire: a lone surrogate in a path, a
    query or a header has no UTF-8 form (no client can send it); in a JSON body it can."""
    parts = [case.formatted_path, *(case.query or {}).values(), *(case.headers or {}).values()]
    try:
        for part in parts:
            str(part).encode()
    except UnicodeEncodeError:
        return False
    return True


@schema.parametrize()
@settings(max_examples=25, phases=[Phase.explicit, Phase.generate], **FIXED)
def test_api_answers_every_generated_request_within_its_schema(case, token):
    if not _sendable(case):
        return
    case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}
    response = case.call_wsgi()
    assert response.status_code < 500, (case.method, case.formatted_path, response.data[:500])
    case.validate_response(response, checks=OPERATION_CHECKS)


#: what a case leads to
CASE_STEPS = [
    ("/cases/{case_id}", "GET"),
    ("/cases/{case_id}/assessment", "PUT"),
    ("/cases/{case_id}/transitions", "POST"),
    ("/cases/{case_id}/history", "GET"),
    ("/cases/{case_id}/claim", "POST"),
    ("/cases/{case_id}/release", "POST"),
]
#: (source operation, status, target operation, {path parameter: JSON pointer in the answer}):
#: a new case, or the first case of a list (the one the fixture opened), leads to every step
#: on it; a new or listed subject to its page. (Schemathesis names a step by its target and the
#: source's status, so no two links may share both.)
LINKS = [
    *((("/cases", "POST"), 201, step, {"case_id": "id"}) for step in CASE_STEPS),
    *((("/cases", "GET"), 200, step, {"case_id": "items/0/id"}) for step in CASE_STEPS),
    (("/subjects", "POST"), 201, ("/subjects/{subject_id}", "GET"), {"subject_id": "id"}),
    (("/subjects", "GET"), 200, ("/subjects/{subject_id}", "GET"), {"subject_id": "items/0/id"}),
]


def test_api_workflows_answer_every_step_within_its_schema(ctx, make, api):
    """Stateful phase: chains of calls along the links, each answer checked."""
    officer = api(make.reviewer("commune_reviewer", COMMUNE))
    make.case_in("commune_review", name="Hộ Có Sẵn")
    stateful = schemathesis.from_dict(
        copy.deepcopy(SPEC),  # the links below go into the document
        app=ctx,
        base_url="/api/v1",
        data_generation_methods=DataGenerationMethod.all(),
        generation_config=GENERATION,
    )
    for (source, source_method), status, (target, target_method), parameters in LINKS:
        stateful.add_link(
            source=stateful[source][source_method],
            target=stateful[target][target_method],
            status_code=str(status),
            parameters={
                f"path.{name}": f"$response.body#/{pointer}" for name, pointer in parameters.items()
            },
        )

    class Workflow(stateful.as_state_machine()):
        def before_call(self, case):
            # on the case, not in the call's arguments: the check that auth is enforced
            # sends the case again without it
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {officer.token}"}

        def step(self, case, previous=None):
            if not _sendable(case):
                return None
            return super().step(case, previous)

        def validate_response(self, response, case, additional_checks=()):
            assert response.status_code < 500, (case.method, case.formatted_path, response.data)
            case.validate_response(response, checks=STEP_CHECKS)

    Workflow.run(
        settings=settings(max_examples=50, stateful_step_count=8, phases=[Phase.generate], **FIXED)
    )


def test_a_criteria_set_answers_its_period_as_its_schema_says(ctx, make, api):
    client = api(make.reviewer("commune_reviewer", COMMUNE))
    assert client.get("/criteria-sets/family-2021").json["period"] == {"from": 2021, "to": None}
    assert client.get("/criteria-sets/family-2016").json["period"] == {"from": 2016, "to": 2020}


def test_every_operation_but_the_public_ones_wants_a_token(ctx, make, api):
    from flask import url_for

    from htsd_workflow.api.framework import OPERATIONS

    anyone = ctx.test_client()
    with ctx.test_request_context():
        for op in OPERATIONS:
            values = {
                name: 1 for name in ("case_id", "subject_id", "user_id", "decision_id", "round_id")
            }
            values.update(code=COMMUNE, set_id="family-2021")
            url = url_for(f"api.{op.view.__name__}", **values, _method=op.method.upper())
            answer = anyone.open(url, method=op.method.upper(), json={})
            if op.public:
                assert answer.status_code != 401, url
            else:
                assert answer.status_code == 401, (op.method, url, answer.status_code)
                assert answer.json["error"]["code"] == "unauthorized"
