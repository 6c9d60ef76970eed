"""The annual round in the API: rounds, a village's registrations, entry in bulk (issue 25)."""

from __future__ import annotations

from marshmallow import ValidationError, fields, validate, validates_schema

from htsd_workflow.api.framework import endpoint
from htsd_workflow.api.schemas import TITLES, Id, ItemInput, Strict, WholeNumber
from htsd_workflow.auth.roles import ASSESSMENT_EDITORS, REGISTRARS, ROUND_EDITORS, STAFF_ROLES
from htsd_workflow.cases.rounds import (
    MAX_ROWS,
    change_round,
    list_rounds,
    meeting_votes_of,
    meetings_for,
    record_meeting,
    register_households,
    save_assessments,
    save_round,
)
from htsd_workflow.core.text import MAX_ID

#: who reads village meetings: the programme's staff (in their territory) and village heads
STAFF_AND_REGISTRARS = tuple(dict.fromkeys((*STAFF_ROLES, *REGISTRARS)))


class LevelDeadlines(Strict):
    """Each level's own review deadline within the round (a level left out has the round's)."""

    commune = fields.Date()
    district = fields.Date()
    province = fields.Date()


class RoundSchema(Strict):
    id = fields.Integer(required=True)
    title = fields.String(required=True)
    year = fields.Integer(required=True)
    registration_opens_on = fields.Date(required=True)
    registration_closes_on = fields.Date(required=True)
    review_deadline = fields.Date(required=True)
    level_deadlines = fields.Nested(LevelDeadlines, attribute="level_deadline_days", required=True)


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
    level_deadlines = fields.Nested(LevelDeadlines)


class RoundChange(Strict):
    registration_opens_on = fields.Date()
    registration_closes_on = fields.Date()
    review_deadline = fields.Date()
    #: replaces every level's own deadline (``{}`` removes them)
    level_deadlines = fields.Nested(LevelDeadlines)
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
        level_deadlines=body.get("level_deadlines"),
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
        level_deadlines=body.get("level_deadlines"),
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


class VoteSchema(Strict):
    subject_id = Id(required=True)
    votes_for = WholeNumber(required=True, validate=validate.Range(0, 100000))
    present = WholeNumber(required=True, validate=validate.Range(0, 100000))


class MeetingCreate(Strict):
    village_id = Id(required=True)
    round_id = Id(required=True)
    held_on = fields.Date(required=True)
    chair = fields.String(required=True, validate=validate.Length(1, 200))
    secretary = fields.String(required=True, validate=validate.Length(1, 200))
    attendance = WholeNumber(required=True, validate=validate.Range(1, 100000))
    votes = fields.List(
        fields.Nested(VoteSchema), required=True, validate=validate.Length(0, MAX_ROWS)
    )


class MeetingSchema(Strict):
    id = fields.Integer(required=True)
    village_id = fields.Integer(required=True)
    round_id = fields.Integer(required=True)
    held_on = fields.Date(required=True)
    chair = fields.String(required=True)
    secretary = fields.String(required=True)
    attendance = fields.Integer(required=True)
    has_minutes = fields.Boolean(required=True)
    votes = fields.List(fields.Nested(VoteSchema), required=True)


class MeetingList(Strict):
    items = fields.List(fields.Nested(MeetingSchema), required=True)


class MeetingQuery(Strict):
    round_id = Id()


def _meeting(meeting, votes) -> dict:
    return {
        "id": meeting.id,
        "village_id": meeting.village_id,
        "round_id": meeting.round_id,
        "held_on": meeting.held_on,
        "chair": meeting.chair,
        "secretary": meeting.secretary,
        "attendance": meeting.attendance,
        "has_minutes": meeting.minutes_path is not None,
        "votes": [
            {"subject_id": v.subject_id, "votes_for": v.votes_for, "present": v.present}
            for v in votes
        ],
    }


@endpoint(
    "/village-meetings",
    "GET",
    summary="Village meetings (bình xét) of the villages you see, with each household's vote",
    roles=STAFF_AND_REGISTRARS,
    query=MeetingQuery,
    response=MeetingList,
    tags=("rounds",),
)
def get_village_meetings(user, query):
    meetings = meetings_for(user, round_id=query.get("round_id"))
    votes = meeting_votes_of(m.id for m in meetings)
    return {"items": [_meeting(m, votes[m.id]) for m in meetings]}


@endpoint(
    "/village-meetings",
    "POST",
    summary="Record a village's meeting of a round: date, chair, secretary, attendance, votes",
    roles=REGISTRARS,
    body=MeetingCreate,
    response=MeetingSchema,
    status=201,
    tags=("rounds",),
)
def post_village_meeting(user, body):
    meeting = record_meeting(
        body["village_id"],
        body["round_id"],
        held_on=body["held_on"],
        chair=body["chair"],
        secretary=body["secretary"],
        attendance=body["attendance"],
        votes=body["votes"],
        actor=user,
    )
    return _meeting(meeting, meeting_votes_of([meeting.id])[meeting.id])
