"""The API's /cases endpoints: list, open, read, assess, transitions (one and bulk), history,
claims, deadline extensions. Every one goes through the same operations and scope as the pages."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from htsd_workflow.api.framework import (
    endpoint,
)
from htsd_workflow.api.schemas import (
    AssessmentUpdate,
    BulkRequest,
    BulkResponse,
    CaseCreate,
    CaseList,
    CaseListQuery,
    CaseSchema,
    ClaimRequest,
    ExtensionRequest,
    ExtensionResponse,
    HistoryList,
    TransitionRequest,
)
from htsd_workflow.api.serialize import _page, _visible_case, case_detail, case_summary
from htsd_workflow.auth.roles import CASE_STARTERS, REVIEWER_ROLES
from htsd_workflow.auth.scope import scope_clause
from htsd_workflow.cases.assessment import KEEP
from htsd_workflow.cases.models import Case, CaseEvent, PartClaim
from htsd_workflow.cases.operations import (
    actor_department,
    claim_case,
    fire_bulk,
    fire_trigger,
    release_case,
    save_assessment,
    start_case,
)
from htsd_workflow.core.text import nfc
from htsd_workflow.core.time import utcnow
from htsd_workflow.extensions import db
from htsd_workflow.sla.operations import extend_deadline


@endpoint(
    "/cases",
    "GET",
    summary="The caller's cases, filtered, keyset-paginated",
    query=CaseListQuery,
    response=CaseList,
    tags=("cases",),
)
def list_cases(user, query):
    statement = (
        select(Case)
        .options(joinedload(Case.subject), joinedload(Case.claimed_by))
        .where(scope_clause(user, Case))
        .order_by(Case.id)
        .limit(query["limit"] + 1)
    )
    if query.get("cursor"):
        statement = statement.where(Case.id > int(query["cursor"]))
    for name in ("state", "title", "year"):
        if query.get(name) is not None:
            statement = statement.where(getattr(Case, name) == query[name])
    if query.get("unit"):
        code = query["unit"]
        statement = statement.where(
            (Case.commune_code == code)
            | (Case.district_code == code)
            | (Case.province_code == code)
        )
    if query.get("overdue") is True:
        statement = statement.where(Case.is_open.is_(True), Case.due_at < utcnow())
    elif query.get("overdue") is False:
        statement = statement.where((Case.due_at.is_(None)) | (Case.due_at >= utcnow()))
    if query.get("claimed") == "me":
        held = select(PartClaim.part).where(
            PartClaim.case_id == Case.id, PartClaim.user_id == user.id
        )
        statement = statement.where((Case.claimed_by_id == user.id) | held.exists())
    elif query.get("claimed") == "none":
        # at a joint stage: the user's department's part is free
        held = select(PartClaim.part).where(
            PartClaim.case_id == Case.id, PartClaim.part == actor_department(user)
        )
        statement = statement.where(Case.claimed_by_id.is_(None), ~held.exists())
    rows, cursor = _page(db.session.scalars(statement).unique().all(), query["limit"])
    return {"items": [case_summary(c) for c in rows], "next_cursor": cursor}


@endpoint(
    "/cases",
    "POST",
    summary="Start an application (draft) for a subject",
    roles=CASE_STARTERS,
    body=CaseCreate,
    response=CaseSchema,
    status=201,
    tags=("cases",),
)
def post_case(user, body):
    case = start_case(body["subject_id"], body["title"], body["year"], user)
    db.session.flush()
    return case_detail(case, user)


@endpoint(
    "/cases/<int:case_id>",
    "GET",
    summary="A case with its assessment and sign-offs",
    response=CaseSchema,
    tags=("cases",),
)
def get_case(user, case_id):
    return case_detail(_visible_case(case_id, user), user)


@endpoint(
    "/cases/<int:case_id>/assessment",
    "PUT",
    summary="Item scores and evidence (or a reviewer's adjusted scores with a note)",
    body=AssessmentUpdate,
    response=CaseSchema,
    tags=("cases",),
)
def put_assessment(user, case_id, body):
    _visible_case(case_id, user)
    case = save_assessment(
        case_id,
        body["items"],
        user,
        expected_version=body.get("version"),
        level_applied=body.get("level_applied", KEEP),
    )
    db.session.flush()
    db.session.refresh(case)
    return case_detail(case, user)


@endpoint(
    "/cases/<int:case_id>/transitions",
    "POST",
    summary="Fire a trigger; 409 with the current version when `version` is stale",
    body=TransitionRequest,
    response=CaseSchema,
    tags=("cases",),
)
def post_transition(user, case_id, body):
    case = fire_trigger(
        case_id,
        body["trigger"],
        user,
        comment=body.get("comment"),
        expected_version=body.get("version"),
        override_reason=body.get("override_reason"),
    )
    return case_detail(case, user)


@endpoint(
    "/cases/bulk-transitions",
    "POST",
    summary="Fire one trigger on many cases; per-case results",
    roles=REVIEWER_ROLES,
    body=BulkRequest,
    response=BulkResponse,
    tags=("cases",),
)
def post_bulk(user, body):
    return fire_bulk(
        body["ids"],
        body["trigger"],
        user,
        comment=body.get("comment"),
        override_reason=body.get("override_reason"),
    ).as_dict()


@endpoint(
    "/cases/<int:case_id>/history",
    "GET",
    summary="The case's timeline, oldest first",
    response=HistoryList,
    tags=("cases",),
)
def get_history(user, case_id):
    _visible_case(case_id, user)
    events = db.session.scalars(
        select(CaseEvent)
        .options(joinedload(CaseEvent.actor))
        .where(CaseEvent.case_id == case_id)
        .order_by(CaseEvent.id)
    ).all()
    return {
        "items": [
            {
                "at": e.at,
                "actor": e.actor.username if e.actor else None,
                "trigger": e.trigger,
                "from_state": e.from_state,
                "to_state": e.to_state,
                "comment": e.comment,
                "override_reason": ((e.data or {}).get("override") or {}).get("reason"),
            }
            for e in events
        ]
    }


@endpoint(
    "/cases/<int:case_id>/claim",
    "POST",
    summary="Take a case in the queue",
    body=ClaimRequest,
    response=CaseSchema,
    tags=("cases",),
)
def post_claim(user, case_id, body):
    case = claim_case(case_id, user, take_over=body["take_over"], note=body.get("note"))
    return case_detail(case, user)


@endpoint(
    "/cases/<int:case_id>/release",
    "POST",
    summary="Give a claimed case back",
    response=CaseSchema,
    tags=("cases",),
)
def post_release(user, case_id):
    return case_detail(release_case(case_id, user), user)


@endpoint(
    "/cases/<int:case_id>/extensions",
    "POST",
    summary="Extend the current stage's deadline by some working days, once per stage",
    roles=REVIEWER_ROLES,
    body=ExtensionRequest,
    response=ExtensionResponse,
    status=201,
    tags=("cases",),
)
def post_extension(user, case_id, body):
    previous = _visible_case(case_id, user).due_at
    case = extend_deadline(case_id, user, None, body["reason"], working_days=body["working_days"])
    return {
        "case_id": case.id,
        "state": case.state,
        "working_days": body["working_days"],
        "reason": nfc(body["reason"]),
        "previous_due_at": previous,
        "due_at": case.due_at,
    }
