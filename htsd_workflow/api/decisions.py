"""The decisions' JSON endpoints (/api/v1/decisions …, /api/v1/verify/{code}).

Revocation is not here: it is the workflow's ``revoke`` trigger on
``POST /api/v1/cases/{id}/transitions``.
"""

from __future__ import annotations

from flask import Response, current_app
from flask_babel import lazy_gettext as _l
from marshmallow import fields, validate
from sqlalchemy import func, select

from htsd_workflow.api.framework import endpoint
from htsd_workflow.api.schemas import TITLES, Id, Strict, WholeNumber
from htsd_workflow.auth.roles import DECISION_MAKERS, STAFF_ROLES
from htsd_workflow.auth.scope import in_scope, scope_clause
from htsd_workflow.cases.models import Case
from htsd_workflow.core.errors import NotFound
from htsd_workflow.decisions.files import certificate_response, decision_pdf_response
from htsd_workflow.decisions.models import Decision, DecisionEntry
from htsd_workflow.decisions.operations import (
    MAX_NUMBER_LENGTH,
    MAX_SIGNER_LENGTH,
    draft_decision,
    issue_decision,
    remove_from_draft,
    visible_decision,
)
from htsd_workflow.decisions.queries import (
    VERIFY_STATUSES,
    decision_detail,
    decision_summary,
    entry_of_case,
    verification,
)
from htsd_workflow.extensions import db, limiter


class DecisionCreate(Strict):
    title = fields.String(required=True, validate=validate.OneOf(TITLES))
    year = WholeNumber(required=True, validate=validate.Range(2000, 2100))
    unit_code = fields.String(required=True, validate=validate.Length(1, 10))


class DecisionIssue(Strict):
    number = fields.String(required=True, validate=validate.Length(1, MAX_NUMBER_LENGTH))
    date = fields.Date(required=True)
    signer_name = fields.String(required=True, validate=validate.Length(1, MAX_SIGNER_LENGTH))


class DecisionRemove(Strict):
    case_ids = fields.List(Id(), required=True, validate=validate.Length(1, 5000))


class DecisionListQuery(Strict):
    title = fields.String(validate=validate.OneOf(TITLES))
    year = WholeNumber(validate=validate.Range(2000, 2100))
    status = fields.String(validate=validate.OneOf(("draft", "issued")))


class DecisionEntrySchema(Strict):
    position = fields.Integer()
    case_id = fields.Integer()
    name = fields.String()
    village = fields.String(allow_none=True)
    commune = fields.String(allow_none=True)


class DecisionSchema(Strict):
    id = fields.Integer()
    title = fields.String()
    year = fields.Integer()
    level = fields.String()
    unit_code = fields.String()
    status = fields.String()
    body_name = fields.String()
    signer_title = fields.String()
    number = fields.String(allow_none=True)
    date = fields.Date(allow_none=True)
    signer_name = fields.String(allow_none=True)
    valid_until = fields.Date(allow_none=True)
    is_signed = fields.Boolean()
    count = fields.Integer()
    bases = fields.List(fields.String())
    cases = fields.List(fields.Nested(DecisionEntrySchema))


class DecisionList(Strict):
    items = fields.List(fields.Nested(DecisionSchema))


class VerificationSchema(Strict):
    code = fields.String()
    title = fields.String()
    name = fields.String()
    commune = fields.String(allow_none=True)
    year = fields.Integer()
    decision_number = fields.String()
    decision_date = fields.Date()
    valid_until = fields.Date(allow_none=True)
    status = fields.String(validate=validate.OneOf(VERIFY_STATUSES))


@endpoint(
    "/decisions",
    "GET",
    summary="Decisions of the caller's territory, newest first",
    roles=STAFF_ROLES,
    query=DecisionListQuery,
    response=DecisionList,
    tags=("decisions",),
)
def list_decisions(user, query):
    counts = (
        select(DecisionEntry.decision_id, func.count().label("n"))
        .group_by(DecisionEntry.decision_id)
        .subquery()
    )
    statement = (
        select(Decision, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.decision_id == Decision.id)
        .where(scope_clause(user, Decision))
        .order_by(Decision.id.desc())
        .limit(500)
    )
    for key in ("title", "year", "status"):
        if key in query:
            statement = statement.where(getattr(Decision, key) == query[key])
    rows = db.session.execute(statement).all()
    return {"items": [decision_summary(d, count=n) for d, n in rows]}


@endpoint(
    "/decisions",
    "POST",
    summary="Draft a decision: the territory's recognised cases in no decision yet",
    roles=DECISION_MAKERS,
    body=DecisionCreate,
    response=DecisionSchema,
    status=201,
    tags=("decisions",),
)
def post_decision(user, body):
    decision = draft_decision(body["title"], body["year"], body["unit_code"], user)
    db.session.flush()
    db.session.refresh(decision)
    return decision_detail(decision)


@endpoint(
    "/decisions/<int:decision_id>",
    "GET",
    summary="A decision with its list",
    roles=STAFF_ROLES,
    response=DecisionSchema,
    tags=("decisions",),
)
def get_decision(user, decision_id):
    return decision_detail(visible_decision(decision_id, user))


@endpoint(
    "/decisions/<int:decision_id>/remove",
    "POST",
    summary="Take cases off a draft decision",
    roles=DECISION_MAKERS,
    body=DecisionRemove,
    response=DecisionSchema,
    tags=("decisions",),
)
def post_decision_remove(user, decision_id, body):
    decision = remove_from_draft(decision_id, body["case_ids"], user)
    return decision_detail(decision)


@endpoint(
    "/decisions/<int:decision_id>/issue",
    "POST",
    summary="Issue a draft (number, date, signer): it never changes afterwards",
    roles=("manager",),
    body=DecisionIssue,
    response=DecisionSchema,
    tags=("decisions",),
)
def post_decision_issue(user, decision_id, body):
    decision = issue_decision(decision_id, body["number"], body["date"], body["signer_name"], user)
    return decision_detail(decision)


@endpoint(
    "/decisions/<int:decision_id>/pdf",
    "GET",
    summary="The decision as PDF (signed when the province configured a key)",
    roles=STAFF_ROLES,
    tags=("decisions",),
    media_type="application/pdf",
)
def get_decision_pdf(user, decision_id) -> Response:
    return decision_pdf_response(visible_decision(decision_id, user))


@endpoint(
    "/cases/<int:case_id>/certificate",
    "GET",
    summary="The case's certificate (PDF) once its decision is issued",
    tags=("decisions",),
    media_type="application/pdf",
)
def get_certificate(user, case_id) -> Response:
    case = db.session.get(Case, case_id)
    entry = entry_of_case(case_id) if case is not None and in_scope(user, case) else None
    if entry is None:
        raise NotFound(_l("Hồ sơ chưa có giấy công nhận."))
    return certificate_response(entry)


def _verify_limit():
    return current_app.config["VERIFY_RATE_LIMIT"]


@endpoint(
    "/verify/<code>",
    "GET",
    summary="Check a certificate by its code (public; no token)",
    response=VerificationSchema,
    public=True,
    tags=("decisions",),
)
@limiter.shared_limit(_verify_limit, scope="verify")
def api_verify(code):
    found = verification(code)
    if found is None:
        raise NotFound(_l("Không tìm thấy giấy công nhận có mã này."))
    return found
