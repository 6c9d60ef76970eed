"""Request and response schemas (marshmallow); the OpenAPI document is built from them."""

from __future__ import annotations

import re
from datetime import UTC

from marshmallow import Schema, ValidationError, fields, pre_load, validate, validates_schema

from htsd_workflow.cases.models import MAX_COMMENT_LENGTH
from htsd_workflow.core.text import MAX_ID, whole_number
from htsd_workflow.core.titles import TITLES
from htsd_workflow.subjects.models import KINDS, UNIT_TYPES


class UtcDateTime(fields.DateTime):
    """Naive UTC from the database, written with its zone (e.g. 2026-12-01T10:00:00Z)."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.isoformat().replace("+00:00", "Z")


#: a UTF-16 surrogate left alone in a JSON string ("\ud800"): no database (nor UTF-8) holds it
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
#: how deep a request body may nest; no body of ours goes past 4 levels
MAX_DEPTH = 32


def unstorable_fields(data) -> dict[str, str]:
    """Field path -> why, for the texts no database stores (a NUL character, a lone surrogate)
    and for nesting deeper than ``MAX_DEPTH``. Walked with a list, not recursion, so a body
    nested thousands of levels deep is refused rather than exhausting the stack."""
    bad: dict[str, str] = {}
    pending = [(data, "", 0)]
    while pending:
        value, path, depth = pending.pop()
        if depth > MAX_DEPTH:
            bad[path or "_"] = f"Nested deeper than {MAX_DEPTH} levels."
        elif isinstance(value, str):
            if "\x00" in value:
                bad[path or "_"] = "Text must not contain the NUL character."
            elif _LONE_SURROGATE.search(value):
                bad[path or "_"] = "Text must not contain an unpaired surrogate (\\ud800-\\udfff)."
        elif isinstance(value, dict):
            for key, item in value.items():
                if isinstance(key, str) and _LONE_SURROGATE.search(key):
                    bad[path or "_"] = "A field name must not contain an unpaired surrogate."
                    continue
                pending.append((item, f"{path}.{key}" if path else str(key), depth + 1))
        elif isinstance(value, list):
            pending.extend((item, f"{path}[{i}]", depth + 1) for i, item in enumerate(value))
    return bad


class Strict(Schema):
    """Unknown fields are refused (marshmallow's default RAISE), naming the field; so is text
    no database stores (NUL, lone surrogates), anywhere in the input."""

    @pre_load
    def _refuse_unstorable(self, data, **kwargs):
        bad = unstorable_fields(data)
        if bad:
            raise ValidationError({name: [message] for name, message in bad.items()})
        return data


class _AsciiDigits:
    """Numbers given as text count only in ASCII digits: Python's ``int()`` and ``float()``
    read "١٢" as 12, which no client means."""

    def _validated(self, value):
        if isinstance(value, str) and not value.isascii():
            raise self.make_error("invalid", input=value)
        return super()._validated(value)


class WholeNumber(_AsciiDigits, fields.Integer):
    """An integer in a request (ASCII digits only)."""


class Number(_AsciiDigits, fields.Float):
    """A decimal number in a request (ASCII digits only)."""


def Id(**kwargs) -> WholeNumber:  # noqa: N802 - used like the field classes beside it
    """A record's id in a request: 1 to the largest key, so a larger number is refused here
    with the field named instead of reaching SQL."""
    return WholeNumber(validate=validate.Range(1, MAX_ID), **kwargs)


# --- auth ---------------------------------------------------------------------------------


class TokenRequest(Strict):
    username = fields.String(required=True, validate=validate.Length(1, 80))
    password = fields.String(required=True, validate=validate.Length(1, 200))


class TokenResponse(Strict):
    token = fields.String(required=True)
    expires_at = UtcDateTime(required=True)


class MeSchema(Strict):
    id = fields.Integer(required=True)
    username = fields.String(required=True)
    role = fields.String(required=True)
    unit_code = fields.String(allow_none=True)
    unit_level = fields.String(allow_none=True)
    subject_id = fields.Integer(allow_none=True)
    full_name = fields.String(allow_none=True)


class Empty(Strict):
    pass


# --- geography and subjects ---------------------------------------------------------------


class UnitSchema(Strict):
    code = fields.String(required=True)
    name = fields.String(required=True)
    level = fields.String(required=True)
    parent_code = fields.String(allow_none=True)
    province_code = fields.String(required=True)
    district_code = fields.String(allow_none=True)
    is_dbkk = fields.Boolean(required=True)
    is_ethnic_minority = fields.Boolean(required=True)


class UnitList(Strict):
    items = fields.List(fields.Nested(UnitSchema), required=True)


class SuccessorSchema(Strict):
    code = fields.String(required=True)
    name = fields.String(required=True)
    #: the part of the old commune that went to it, when known
    share = fields.Float(allow_none=True, required=True)
    #: the official conversion table's choice when an address cannot say which
    is_default = fields.Boolean(required=True)


class OldUnitSchema(Strict):
    code = fields.String(required=True)
    name = fields.String(required=True)
    valid_to = fields.Date(allow_none=True, required=True)


class AwaitingSubjectSchema(Strict):
    subject_id = fields.Integer(required=True)
    name = fields.String(required=True)
    kind = fields.String(required=True)
    old_unit = fields.Nested(OldUnitSchema, required=True)
    candidates = fields.List(fields.Nested(SuccessorSchema), required=True)
    running_cases = fields.Integer(required=True)


class AwaitingSubjectList(Strict):
    items = fields.List(fields.Nested(AwaitingSubjectSchema), required=True)


class Assignment(Strict):
    subject_id = Id(required=True)
    unit_code = fields.String(required=True, validate=validate.Length(1, 20))


class AssignmentBody(Strict):
    assignments = fields.List(
        fields.Nested(Assignment), required=True, validate=validate.Length(1, 500)
    )


class AssignmentResult(Strict):
    moved = fields.Integer(required=True)


class SubjectSchema(Strict):
    id = fields.Integer(required=True)
    kind = fields.String(required=True)
    name = fields.String(required=True)
    unit_code = fields.String(required=True)
    managing_level = fields.String(required=True)
    head_name = fields.String(allow_none=True)
    external_code = fields.String(allow_none=True)
    community_id = fields.Integer(allow_none=True)
    unit_type = fields.String(allow_none=True)


class SubjectList(Strict):
    items = fields.List(fields.Nested(SubjectSchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


def _id_text(text: str) -> None:
    """A cursor: an id, written in ASCII digits, within the keys' range."""
    if whole_number(text, 0) is None:
        raise ValidationError(f"An id from 0 to {MAX_ID}.")


class ListQuery(Strict):
    cursor = fields.String(validate=_id_text)
    limit = WholeNumber(validate=validate.Range(1, 200), load_default=50)


class SubjectListQuery(ListQuery):
    q = fields.String(validate=validate.Length(max=100))
    kind = fields.String(validate=validate.OneOf(KINDS))
    unit = fields.String(validate=validate.Regexp(r"^[0-9]{2,5}$"))


class SubjectCreate(Strict):
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    name = fields.String(required=True, validate=validate.Length(1, 300))
    unit_code = fields.String(required=True, validate=validate.Length(1, 10))
    head_name = fields.String(allow_none=True, validate=validate.Length(max=200))
    community_id = Id(allow_none=True)
    external_code = fields.String(
        allow_none=True, validate=validate.Regexp(r"^[A-Za-z0-9._/-]{1,64}$")
    )
    phone = fields.String(allow_none=True, validate=validate.Regexp(r"^\+?[0-9]{9,12}$"))
    address = fields.String(allow_none=True, validate=validate.Length(max=300))
    unit_type = fields.String(allow_none=True, validate=validate.OneOf(UNIT_TYPES))
    member_ids = fields.List(Id(), validate=validate.Length(max=500))


# --- cases --------------------------------------------------------------------------------


class SubjectRef(Strict):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    kind = fields.String(required=True)


class AssessmentItemSchema(Strict):
    code = fields.String(required=True)
    label = fields.String(required=True)
    max_points = fields.Float(required=True)
    score = fields.Float(allow_none=True, required=True)
    evidence = fields.String(allow_none=True, required=True)
    reviewed_score = fields.Float(allow_none=True)
    review_note = fields.String(allow_none=True)


class AssessmentSchema(Strict):
    """A case's assessment. A ``points`` set: ``total`` of the items' scores against the pass
    mark. A ``levels`` set (TT 24/2023, TT 25/2023): each item is an indicator scored 1 (met)
    or 0 (not met), ``total`` counts those met and ``level`` is the highest level (mức độ)
    whose indicators are all met (null: none reached). ``level_applied`` is the level the
    applicant applies for (required before submitting); ``passed`` is whether the level
    reached is at least that one."""

    criteria_set_id = fields.String(required=True)
    #: points or levels
    kind = fields.String()
    #: a levels set: the level reached, as {code, label}, or null
    level = fields.Dict(allow_none=True)
    #: a levels set: the level applied for, as {code, label}, or null (not chosen yet)
    level_applied = fields.Dict(allow_none=True)
    items = fields.List(fields.Nested(AssessmentItemSchema), required=True)
    total = fields.Float(required=True)
    passed = fields.Boolean(required=True)
    missing = fields.List(fields.String(), required=True)


class SignOffSchema(Strict):
    department = fields.String(required=True)
    user = fields.String(required=True)
    at = UtcDateTime(required=True)


class PartClaimSchema(Strict):
    #: the department whose part of a joint stage is held
    part = fields.String(required=True)
    user = fields.String(required=True)
    at = UtcDateTime(required=True)


class CaseSummary(Strict):
    id = fields.Integer(required=True)
    subject = fields.Nested(SubjectRef, required=True)
    title = fields.String(required=True)
    year = fields.Integer(required=True)
    state = fields.String(required=True)
    version = fields.Integer(required=True)
    unit_code = fields.String(required=True)
    due_at = UtcDateTime(allow_none=True, required=True)
    claimed_by = fields.String(allow_none=True, required=True)
    is_escalated = fields.Boolean(required=True)


class CaseDecisionSchema(Strict):
    number = fields.String(required=True)
    date = fields.Date(required=True)
    body_name = fields.String(required=True)
    certificate = fields.String(required=True)


class CaseSchema(CaseSummary):
    workflow = fields.String(required=True)
    returned_from = fields.String(allow_none=True, required=True)
    is_extended = fields.Boolean(required=True)
    allowed_triggers = fields.List(fields.String(), required=True)
    assessment = fields.Nested(AssessmentSchema, required=True)
    sign_offs = fields.List(fields.Nested(SignOffSchema), required=True)
    #: at a joint stage, who holds each claimed department's part (``claimed_by`` stays empty)
    part_claims = fields.List(fields.Nested(PartClaimSchema), required=True)
    #: the issued decision that recognised the case (None before one is issued)
    decision = fields.Nested(CaseDecisionSchema, allow_none=True)


class CaseList(Strict):
    items = fields.List(fields.Nested(CaseSummary), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class CaseListQuery(ListQuery):
    state = fields.String(validate=validate.Length(1, 40))
    title = fields.String(validate=validate.OneOf(TITLES))
    year = WholeNumber(validate=validate.Range(2000, 2100))
    unit = fields.String(validate=validate.Regexp(r"^[0-9]{2,5}$"))
    overdue = fields.Boolean()
    claimed = fields.String(validate=validate.OneOf(("me", "none", "any")))


class CaseCreate(Strict):
    subject_id = Id(required=True)
    title = fields.String(required=True, validate=validate.OneOf(TITLES))
    year = WholeNumber(required=True, validate=validate.Range(2000, 2100))


class ItemInput(Strict):
    code = fields.String(required=True, validate=validate.Length(1, 20))
    score = Number(allow_none=True, allow_nan=False)
    evidence = fields.String(allow_none=True, validate=validate.Length(max=4000))
    note = fields.String(allow_none=True, validate=validate.Length(max=2000))


class AssessmentUpdate(Strict):
    items = fields.List(fields.Nested(ItemInput), required=True, validate=validate.Length(1, 100))
    version = WholeNumber(validate=validate.Range(1, MAX_ID))
    #: a levels set: the code of the level applied for (a ``levels[].code`` of the criteria
    #: set), or null to clear it; left as it is when absent. Only the applicant sets it.
    level_applied = fields.String(allow_none=True, validate=validate.Length(max=20))


class TransitionRequest(Strict):
    trigger = fields.String(required=True, validate=validate.Length(1, 40))
    comment = fields.String(allow_none=True, validate=validate.Length(max=MAX_COMMENT_LENGTH))
    version = WholeNumber(validate=validate.Range(1, MAX_ID))
    #: needed to approve or sign a case under its pass mark; kept in the history
    override_reason = fields.String(
        allow_none=True, validate=validate.Length(max=MAX_COMMENT_LENGTH)
    )


class BulkRequest(Strict):
    ids = fields.List(Id(), required=True, validate=validate.Length(1, 5000))
    trigger = fields.String(required=True, validate=validate.Length(1, 40))
    comment = fields.String(allow_none=True, validate=validate.Length(max=MAX_COMMENT_LENGTH))
    #: approve or sign the cases under their pass mark too, for this reason
    override_reason = fields.String(
        allow_none=True, validate=validate.Length(max=MAX_COMMENT_LENGTH)
    )


class BulkSucceeded(Strict):
    id = fields.Integer(required=True)
    state = fields.String(required=True)
    version = fields.Integer(required=True)


class BulkFailed(Strict):
    id = fields.Integer(required=True)
    code = fields.String(required=True)
    message = fields.String(required=True)


class BulkCounts(Strict):
    succeeded = fields.Integer(required=True)
    failed = fields.Integer(required=True)


class BulkResponse(Strict):
    succeeded = fields.List(fields.Nested(BulkSucceeded), required=True)
    failed = fields.List(fields.Nested(BulkFailed), required=True)
    counts = fields.Nested(BulkCounts, required=True)


class HistoryEntry(Strict):
    at = UtcDateTime(required=True)
    actor = fields.String(allow_none=True, required=True)
    trigger = fields.String(required=True)
    from_state = fields.String(allow_none=True, required=True)
    to_state = fields.String(required=True)
    comment = fields.String(allow_none=True, required=True)
    #: why a case under its pass mark was moved forward anyway
    override_reason = fields.String(allow_none=True)


class HistoryList(Strict):
    items = fields.List(fields.Nested(HistoryEntry), required=True)


class ClaimRequest(Strict):
    take_over = fields.Boolean(load_default=False)
    note = fields.String(allow_none=True, validate=validate.Length(max=MAX_COMMENT_LENGTH))


class ExtensionRequest(Strict):
    #: how many working days after the current due day (at most 30)
    working_days = fields.Integer(required=True, strict=True, validate=validate.Range(1, 30))
    reason = fields.String(required=True, validate=validate.Length(1, 2000))


class ExtensionResponse(Strict):
    case_id = fields.Integer(required=True)
    state = fields.String(required=True)
    working_days = fields.Integer(required=True)
    reason = fields.String(required=True)
    previous_due_at = UtcDateTime(allow_none=True, required=True)
    due_at = UtcDateTime(required=True)


# --- definitions --------------------------------------------------------------------------


class StateSchema(Strict):
    name = fields.String(required=True)
    label = fields.String(required=True)
    kind = fields.String(required=True)
    level = fields.String(allow_none=True)
    roles = fields.List(fields.String(), required=True)
    sla_days = fields.Integer(allow_none=True)
    joint = fields.List(fields.String(), required=True)


class TransitionSchema(Strict):
    trigger = fields.String(required=True)
    sources = fields.List(fields.String(), required=True)
    dest = fields.String(required=True)
    roles = fields.List(fields.String(), required=True)
    guards = fields.List(fields.String(), required=True)
    comment_required = fields.Boolean(required=True)
    label = fields.String(required=True)


class RungSchema(Strict):
    rung = fields.Integer(required=True)
    action = fields.String(required=True)
    notify = fields.List(fields.String(), required=True)
    at_sla_fraction = fields.Float(allow_none=True)
    overdue_days = fields.Integer(allow_none=True)


class WorkflowSchema(Strict):
    name = fields.String(required=True)
    title = fields.String(required=True)
    set = fields.String(required=True)
    initial = fields.String(required=True)
    states = fields.List(fields.Nested(StateSchema), required=True)
    transitions = fields.List(fields.Nested(TransitionSchema), required=True)
    escalation = fields.List(fields.Nested(RungSchema), required=True)


class WorkflowList(Strict):
    items = fields.List(fields.Nested(WorkflowSchema), required=True)


class CriteriaItemSchema(Strict):
    code = fields.String(required=True)
    label = fields.String(required=True)
    label_en = fields.String(required=True)
    max_points = fields.Float(required=True)
    description = fields.String(required=True)
    #: False where no source confirms the item (staff only)
    verified = fields.Boolean()


class BandSchema(Strict):
    code = fields.String(required=True)
    label = fields.String(required=True)
    min = fields.Float(required=True)


class PeriodSchema(Strict):
    from_ = fields.Integer(data_key="from", attribute="from", required=True)
    to = fields.Integer(allow_none=True, required=True)


class EffectiveSchema(Strict):
    """First and last day in force (ISO dates; ``to`` null while in force)."""

    from_ = fields.String(
        data_key="from", attribute="from", required=True, metadata={"format": "date"}
    )
    to = fields.String(allow_none=True, required=True, metadata={"format": "date"})


class LevelSchema(Strict):
    code = fields.String(required=True)
    label = fields.String(required=True)
    #: the indicator codes all met to reach this level
    requires = fields.List(fields.String(), required=True)


class CriteriaSetSchema(Strict):
    """A criteria set. ``kind: points``: items with maximum points, a pass mark and bands.
    ``kind: levels``: items are indicators met (1) or not (0), ``levels`` lowest first."""

    id = fields.String(required=True)
    kind = fields.String(required=True)
    levels = fields.List(fields.Nested(LevelSchema), required=True)
    title = fields.String(required=True)
    period = fields.Nested(PeriodSchema, required=True)
    effective = fields.Nested(EffectiveSchema, required=True)
    #: managing level (commune, district, province) → the days the set applies to its subjects
    managed_by = fields.Dict(
        keys=fields.String(), values=fields.Nested(EffectiveSchema), required=True
    )
    version = fields.String(required=True)
    label = fields.String(required=True)
    source = fields.String(required=True)
    pass_mark = fields.Float(required=True)
    pass_mark_dbkk = fields.Float(allow_none=True, required=True)
    max_total = fields.Float(required=True)
    bands = fields.List(fields.Nested(BandSchema), required=True)
    items = fields.List(fields.Nested(CriteriaItemSchema), required=True)
    #: what is provisional and how to check it (staff only)
    notes = fields.String()


# --- notifications ------------------------------------------------------------------------


class NotificationSchema(Strict):
    id = fields.Integer(required=True)
    title = fields.String(required=True)
    body = fields.String(required=True)
    link = fields.String(allow_none=True, required=True)
    case_id = fields.Integer(allow_none=True, required=True)
    created_at = UtcDateTime(required=True)
    read_at = UtcDateTime(allow_none=True, required=True)
    is_read = fields.Boolean(required=True)


class NotificationList(Strict):
    items = fields.List(fields.Nested(NotificationSchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True)
    unread = fields.Integer(required=True)


class NotificationQuery(ListQuery):
    unread = fields.Boolean(load_default=False)


class MarkRead(Strict):
    ids = fields.List(Id(), validate=validate.Length(max=500))

    @validates_schema
    def _not_empty(self, data, **kwargs):
        if "ids" in data and not data["ids"]:
            raise ValidationError("Give some ids or leave the field out to mark all.", "ids")


# --- reports ------------------------------------------------------------------------------


class BottleneckQuery(Strict):
    from_ = fields.Date(data_key="from")
    to = fields.Date()
    title = fields.String(validate=validate.OneOf(TITLES))
    unit = fields.String(validate=validate.Regexp(r"^[0-9]{2,5}$"))
    stage = fields.String(validate=validate.Length(1, 60))


class BottleneckRow(Strict):
    stage = fields.String(required=True)
    unit_code = fields.String(required=True)
    unit_name = fields.String(required=True)
    waiting = fields.Integer(required=True)
    arrived = fields.Integer(required=True)
    completed = fields.Integer(required=True)
    overdue = fields.Integer(required=True)
    escalated = fields.Integer(required=True)
    returned = fields.Integer(required=True)
    median_days = fields.Float(allow_none=True, required=True)
    p90_days = fields.Float(allow_none=True, required=True)
    on_time_rate = fields.Float(allow_none=True, required=True)
    late_rate = fields.Float(allow_none=True)
    to_handle = fields.Integer()
    late_in_progress = fields.Integer()
    nearly_late = fields.Integer()
    not_yet_due = fields.Integer()
    withdrawn = fields.Integer()
    late_done = fields.Integer()
    on_time_done = fields.Integer()


class BottleneckReport(Strict):
    rows = fields.List(fields.Nested(BottleneckRow), required=True)
    definitions = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    period = fields.Dict(keys=fields.String(), values=fields.String())
    group_by = fields.String()


class TargetQuery(Strict):
    year = WholeNumber(validate=validate.Range(2000, 2100))
    title = fields.String(validate=validate.OneOf(TITLES))
    unit = fields.String(validate=validate.Regexp(r"^[0-9]{2,5}$"))


class TargetRow(Strict):
    unit_code = fields.String(required=True)
    unit_name = fields.String(required=True)
    level = fields.String(required=True)
    title = fields.String(required=True)
    denominator = fields.Integer(allow_none=True, required=True)
    registered = fields.Integer(required=True)
    recognized = fields.Integer(required=True)
    percent = fields.Float(allow_none=True, required=True)
    target = fields.Float(allow_none=True, required=True)
    gap = fields.Float(allow_none=True, required=True)
    #: subjects still to recognise to reach the target (percentage plans)
    gap_count = fields.Integer(allow_none=True)
    #: the recognised share when the plan's period starts, and where the path to the
    #: end-of-period ``target`` stands in this year (percentage plans)
    baseline = fields.Float(allow_none=True)
    path = fields.Float(allow_none=True)
    #: share ≥ path (≥ target where no path is known)
    on_track = fields.Boolean(allow_none=True, required=True)
    is_dbkk = fields.Boolean()
    missing_denominators = fields.Integer()
    #: recognised cases of a levels set (TT 24/2023, TT 25/2023) by the level reached: level
    #: code (``TargetReport.levels``) → count; "none" for a recognition without a level
    levels = fields.Dict(keys=fields.String(), values=fields.Integer())


class PlanRef(Strict):
    id = fields.String(required=True)
    label = fields.String(required=True)
    #: the name in English ("" where the plan file gives none)
    label_en = fields.String()
    #: percent, or count (the 2015 pilot: recognised counts against counts)
    kind = fields.String()
    period = fields.Nested(PeriodSchema)
    #: the year is after the plan's period: its targets are carried forward
    carried_past_end = fields.Boolean()


class MissingDenominator(Strict):
    unit_code = fields.String(required=True)
    unit_name = fields.String(required=True)
    titles = fields.List(fields.String(), required=True)
    #: the day a reorganisation formed the commune, if one did
    formed_on = fields.String(allow_none=True, required=True)


class LevelRef(Strict):
    code = fields.String(required=True)
    label = fields.String(required=True)


class TargetReport(Strict):
    rows = fields.List(fields.Nested(TargetRow), required=True)
    #: the levels a row's ``levels`` counts, lowest first
    levels = fields.List(fields.Nested(LevelRef))
    plan = fields.Nested(PlanRef, allow_none=True, required=True)
    year = fields.Integer(required=True)
    #: the communes of the year without a denominator for a title in view
    missing_denominators = fields.List(fields.Nested(MissingDenominator), required=True)
    #: the first day of a reorganisation inside the year (old and new units both shown)
    reform_day = fields.String(allow_none=True, required=True)
    definitions = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
