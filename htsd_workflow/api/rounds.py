"""The annual round in the API: rounds, a village's registrations, entry in bulk (issue 25)."""

from __future__ import annotations

from marshmallow import ValidationError, fields, validate, validates_schema

from htsd_workflow.api.framework import endpoint
from htsd_workflow.api.schemas import TITLES, Id, ItemInput, Strict, WholeNumber
from htsd_workflow.auth.roles import ASSESSMENT_EDITORS, REGISTRARS, ROUND_EDITORS
from htsd_workflow.cases.rounds import (
    MAX_ROWS,
    change_round,
    list_rounds,
    register_households,
    save_assessments,
    save_round,
)
from htsd_workflow.core.text import MAX_ID


class RoundSchema(Strict):
    id = fields.Integer(required=True)
    title = fields.String(required=True)
    year = fields.Integer(required=True)
    registration_opens_on = fields.Date(required=True)
    registration_closes_on = fields.Date(required=True)
    review_deadline = fields.Date(required=True)


class RoundList(Strict):
    items = fields.List(fields.Nested(RoundSchema), required=True)


class RoundQuery(Strict):
    title = fields.String(validate=validate.OneOf(TITLES))
    year = WholeNumber(validate=validate.Range(2000, 2100))


class RoundCreate(Strict):
    title = fields.String(required=True, validate=validate.OneOf(TITLES))
    year = WholeNumber(required=True, validate=validate.Range(2000, 2100))
    registration_opens_on = fields.Date(required=True)
    registration_closes_on = fields.Date(required=True)
    review_deadline = fields.Date(required=True)


class RoundChange(Strict):
    registration_opens_on = fields.Date()
    registration_closes_on = fields.Date()
    review_deadline = fields.Date()
    #: true ends registration today (it closed yesterday)
    close = fields.Boolean()

    @validates_schema
    def _something(self, data, **kwargs):
        if not data:
            raise ValidationError("Nothing to change.", "_schema")


class RegistrationRequest(Strict):
    subject_ids = fields.List(Id(), required=True, validate=validate.Length(1, MAX_ROWS))


class Registered(Strict):
    subject_id = fields.Integer(required=True)
    case_id = fields.Integer(required=True)


class RegistrationFailed(Strict):
    subject_id = fields.Integer(required=True)
    code = fields.String(required=True)
    message = fields.String(required=True)


class RegistrationCounts(Strict):
    registered = fields.Integer(required=True)
    already_registered = fields.Integer(required=True)
    failed = fields.Integer(required=True)


class RegistrationResponse(Strict):
    registered = fields.List(fields.Nested(Registered), required=True)
    already_registered = fields.List(fields.Nested(Registered), required=True)
    failed = fields.List(fields.Nested(RegistrationFailed), required=True)
    counts = fields.Nested(RegistrationCounts, required=True)


class CaseScores(Strict):
    case_id = Id(required=True)
    items = fields.List(fields.Nested(ItemInput), required=True, validate=validate.Length(1, 100))
    version = WholeNumber(validate=validate.Range(1, MAX_ID))


class BulkAssessmentRequest(Strict):
    cases = fields.List(
        fields.Nested(CaseScores), required=True, validate=validate.Length(1, MAX_ROWS)
    )
    #: then send the cases saved whole (submit from draft, resubmit when returned)
    submit = fields.Boolean(load_default=False)


class CaseOutcome(Strict):
    id = fields.Integer(required=True)
    state = fields.String(required=True)
    version = fields.Integer(required=True)


class CaseRefused(Strict):
    id = fields.Integer(required=True)
    code = fields.String(required=True)
    message = fields.String(required=True)


class OutcomeCounts(Strict):
    succeeded = fields.Integer(required=True)
    failed = fields.Integer(required=True)


class Outcomes(Strict):
    succeeded = fields.List(fields.Nested(CaseOutcome), required=True)
    failed = fields.List(fields.Nested(CaseRefused), required=True)
    counts = fields.Nested(OutcomeCounts, required=True)


class BulkAssessmentResponse(Strict):
    saved = fields.Nested(Outcomes, required=True)
    submitted = fields.Nested(Outcomes, allow_none=True, required=True)


@endpoint(
    "/rounds",
    "GET",
    summary="Yearly rounds with their registration window and review deadline",
    query=RoundQuery,
    response=RoundList,
    tags=("rounds",),
)
def get_rounds(user, query):
    return {"items": list_rounds(title=query.get("title"), year=query.get("year"))}


@endpoint(
    "/rounds",
    "POST",
    summary="Open a round for a title and year (province officers and admins)",
    roles=ROUND_EDITORS,
    body=RoundCreate,
    response=RoundSchema,
    status=201,
    tags=("rounds",),
)
def post_round(user, body):
    return save_round(
        body["title"],
        body["year"],
        body["registration_opens_on"],
        body["registration_closes_on"],
        body["review_deadline"],
        user,
        must_be_new=True,
    )


@endpoint(
    "/rounds/<int:round_id>",
    "PATCH",
    summary="Change a round's dates, or close its registration (`close: true`)",
    roles=ROUND_EDITORS,
    body=RoundChange,
    response=RoundSchema,
    tags=("rounds",),
)
def patch_round(user, round_id, body):
    return change_round(
        round_id,
        user,
        opens_on=body.get("registration_opens_on"),
        closes_on=body.get("registration_closes_on"),
        review_deadline=body.get("review_deadline"),
        close=body.get("close", False),
    )


@endpoint(
    "/rounds/<int:round_id>/registrations",
    "POST",
    summary="Register households for a round: each gets a draft; per-household results",
    roles=REGISTRARS,
    body=RegistrationRequest,
    response=RegistrationResponse,
    tags=("rounds",),
)
def post_registrations(user, round_id, body):
    return register_households(round_id, body["subject_ids"], user)


@endpoint(
    "/cases/bulk-assessments",
    "PUT",
    summary="Many cases' scores at once (and `submit`); per-case results",
    roles=ASSESSMENT_EDITORS,
    body=BulkAssessmentRequest,
    response=BulkAssessmentResponse,
    tags=("cases",),
)
def put_bulk_assessments(user, body):
    return save_assessments(body["cases"], user, submit=body["submit"], source={"via": "api"})
