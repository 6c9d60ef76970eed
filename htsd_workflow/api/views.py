"""The /api/v1 endpoints. Every one goes through the same operations and scope as the pages."""

from __future__ import annotations

from flask import current_app, request
from flask_babel import lazy_gettext as _l
from sqlalchemy import Integer, String, bindparam, select
from sqlalchemy.orm import aliased, joinedload

from htsd_workflow.api.framework import (
    PASSWORD_CHANGE_REQUIRED,
    ApiError,
    endpoint,
    issue_token,
)
from htsd_workflow.api.schemas import (
    AssessmentUpdate,
    BottleneckQuery,
    BottleneckReport,
    BulkRequest,
    BulkResponse,
    CaseCreate,
    CaseList,
    CaseListQuery,
    CaseSchema,
    ClaimRequest,
    CriteriaSetSchema,
    Empty,
    ExtensionRequest,
    ExtensionResponse,
    HistoryList,
    MarkRead,
    MeSchema,
    NotificationList,
    NotificationQuery,
    SubjectCreate,
    SubjectList,
    SubjectListQuery,
    SubjectSchema,
    TargetQuery,
    TargetReport,
    TokenRequest,
    TokenResponse,
    TransitionRequest,
    UnitList,
    UnitSchema,
    WorkflowList,
)
from htsd_workflow.audit.operations import record_audit, record_sign_in
from htsd_workflow.auth.models import User
from htsd_workflow.auth.operations import revoke_api_tokens
from htsd_workflow.auth.scope import in_scope, scope_clause
from htsd_workflow.auth.signin import _check_password, sign_in_limited
from htsd_workflow.cases.engine import get_registry
from htsd_workflow.cases.models import AssessmentItem, Case, CaseEvent, PartClaim, SignOff
from htsd_workflow.cases.operations import (
    actor_department,
    allowed_triggers,
    claim_case,
    fire_bulk,
    fire_trigger,
    release_case,
    save_assessment,
    start_case,
)
from htsd_workflow.core.errors import NotFound
from htsd_workflow.core.text import nfc, search_key
from htsd_workflow.core.time import utcnow
from htsd_workflow.criteria.scoring import compute_result
from htsd_workflow.extensions import db, limiter
from htsd_workflow.geography.models import Unit
from htsd_workflow.geography.queries import unit_is_dbkk_in
from htsd_workflow.notifications.operations import inbox_for, mark_read, unread_count
from htsd_workflow.reports.queries import bottlenecks, parse_filters, targets
from htsd_workflow.sla.operations import extend_deadline
from htsd_workflow.subjects.models import Subject
from htsd_workflow.subjects.operations import create_subject

# --- helpers ------------------------------------------------------------------------------


def _case_unit_code(case: Case) -> str:
    return case.commune_code or case.district_code or case.province_code


def _summary(case: Case, subject: dict, claimed_by: str | None) -> dict:
    return {
        "id": case.id,
        "subject": subject,
        "title": case.title,
        "year": case.year,
        "state": case.state,
        "version": case.version,
        "unit_code": _case_unit_code(case),
        "due_at": case.due_at,
        "claimed_by": claimed_by,
        "is_escalated": bool(case.is_escalated),
    }


def case_summary(case: Case) -> dict:
    """A case in a list (its subject and claimant loaded with it)."""
    return _summary(
        case,
        {"id": case.subject.id, "name": case.subject.name, "kind": case.subject.kind},
        case.claimed_by.username if case.claimed_by_id else None,
    )


_claimer = aliased(User)
_signer = aliased(User)

#: what a case's answer shows beyond the case row: its subject, who claimed it, whether its
#: commune is ĐBKK, and its sign-offs (at most one per department, so at most a few rows)
_CASE_FACTS = (
    select(
        Subject.id,
        Subject.name,
        Subject.kind,
        select(_claimer.username)
        .where(_claimer.id == bindparam("claimed_by_id", type_=Integer))
        .scalar_subquery(),
        select(unit_is_dbkk_in(bindparam("year", type_=Integer)))
        .where(Unit.code == bindparam("commune_code", type_=String))
        .scalar_subquery(),
        SignOff.department,
        _signer.username,
        SignOff.at,
    )
    .select_from(Subject)
    .outerjoin(SignOff, SignOff.case_id == bindparam("case_id", type_=Integer))
    .outerjoin(_signer, _signer.id == SignOff.user_id)
    .where(Subject.id == bindparam("subject_id", type_=Integer))
    .order_by(SignOff.id)
)
_CASE_ITEMS = select(
    AssessmentItem.code,
    AssessmentItem.score,
    AssessmentItem.evidence,
    AssessmentItem.reviewed_score,
    AssessmentItem.review_note,
).where(AssessmentItem.case_id == bindparam("case_id", type_=Integer))


def case_detail(case: Case, user: User) -> dict:
    """The full case as the API answers it, in two statements whatever the number of items
    and sign-offs (the case's own columns come from ``case`` as it is: after a transition,
    the locked row the operation returns)."""
    # Core statements on the session's connection (inside its transaction): plain rows, none
    # of the ORM's per-statement work; flushed first, as the session's autoflush would
    db.session.flush()
    connection = db.session.connection()
    facts = connection.execute(
        _CASE_FACTS,
        {
            "case_id": case.id,
            "subject_id": case.subject_id,
            "claimed_by_id": case.claimed_by_id,
            "commune_code": case.commune_code,
            "year": case.year,
        },
    ).all()
    subject_id, subject_name, subject_kind, claimed_by, is_dbkk = facts[0][:5]
    subject = {"id": subject_id, "name": subject_name, "kind": subject_kind}
    items = {row.code: row for row in connection.execute(_CASE_ITEMS, {"case_id": case.id})}
    cset = get_registry().criteria_set(case.criteria_set_id)
    part_claims = []
    if get_registry().definition(case.title).states[case.state].joint:
        part_claims = [
            {"part": part, "user": username, "at": at}
            for part, username, at in connection.execute(
                select(PartClaim.part, User.username, PartClaim.claimed_at)
                .join(User, User.id == PartClaim.user_id)
                .where(PartClaim.case_id == case.id)
                .order_by(PartClaim.part)
            )
        ]
    result = compute_result(
        cset,
        {
            code: row.reviewed_score if row.reviewed_score is not None else row.score
            for code, row in items.items()
        },
        bool(is_dbkk),
    )
    return {
        **_summary(case, subject, claimed_by),
        "workflow": case.workflow,
        "returned_from": case.returned_from,
        "is_extended": bool(case.is_extended),
        "allowed_triggers": allowed_triggers(case, user),
        "assessment": {
            "criteria_set_id": cset.id,
            "items": [
                {
                    "code": ci.code,
                    "label": ci.label,
                    "max_points": ci.max_points,
                    "score": items[ci.code].score if ci.code in items else None,
                    "evidence": items[ci.code].evidence if ci.code in items else None,
                    "reviewed_score": items[ci.code].reviewed_score if ci.code in items else None,
                    "review_note": items[ci.code].review_note if ci.code in items else None,
                }
                for ci in cset.items
            ],
            "total": result.total,
            "passed": result.passed,
            "missing": list(result.missing),
        },
        "sign_offs": [
            {"department": department, "user": signer, "at": at}
            for *_head, department, signer, at in facts
            if department is not None
        ],
        "part_claims": part_claims,
    }


def _visible_case(case_id: int, user: User) -> Case:
    case = db.session.get(Case, case_id)
    if case is None or not in_scope(user, case):
        raise NotFound(_l("Không tìm thấy hồ sơ trong phạm vi của bạn."))
    return case


def _page(rows, limit):
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (str(rows[-1].id) if more and rows else None)


# --- auth ---------------------------------------------------------------------------------


def _token_limit():
    return current_app.config["LOGIN_RATE_LIMIT_PER_ADDRESS"]


@endpoint(
    "/auth/token",
    "POST",
    summary="Exchange a username and password for a bearer token",
    body=TokenRequest,
    response=TokenResponse,
    public=True,
    status=201,
    tags=("auth",),
)
@sign_in_limited
@limiter.limit(_token_limit, scope="api-token")
def create_token(body):
    username = (nfc(body["username"]) or "").lower()
    user = db.session.scalar(select(User).where(User.username == username))
    matched = _check_password(user, body["password"])
    if not matched or not user.is_active:
        reason = "unknown_user" if user is None else "locked" if matched else "wrong_password"
        record_sign_in(body["username"], user, ok=False, reason=reason, api=True)
        db.session.commit()
        raise ApiError(401, "unauthorized", _l("Tên đăng nhập hoặc mật khẩu không đúng."))
    if user.must_change_password:
        raise ApiError(403, "password_change_required", PASSWORD_CHANGE_REQUIRED)
    token, row = issue_token(user)
    record_sign_in(body["username"], user, ok=True, api=True)
    return {"token": token, "expires_at": row.expires_at}


@endpoint(
    "/auth/token",
    "DELETE",
    summary="Revoke the token used for this call",
    response=Empty,
    tags=("auth",),
)
def revoke_token(user):
    request.api_token.revoked_at = utcnow()
    return {}


@endpoint(
    "/users/<int:user_id>/tokens",
    "DELETE",
    summary="An admin revokes a user's tokens",
    roles=("admin",),
    response=Empty,
    tags=("auth",),
)
def revoke_user_tokens(user, user_id):
    target = db.session.get(User, user_id)
    if target is None or target.unit_code is None or not in_scope(user, _unit_of(target)):
        raise NotFound(_l("Không tìm thấy người dùng."))
    revoke_api_tokens(user_id)
    record_audit("api_tokens_revoked", actor=user, target=f"user:{user_id}")
    return {}


def _unit_of(user: User) -> Unit:
    return db.session.get(Unit, user.unit_code)


@endpoint(
    "/me",
    "GET",
    summary="The caller's account, role and territory",
    response=MeSchema,
    tags=("auth",),
)
def me(user):
    return user


# --- geography ----------------------------------------------------------------------------


@endpoint(
    "/units/<code>",
    "GET",
    summary="An administrative unit (GSO code)",
    response=UnitSchema,
    tags=("geography",),
)
def get_unit(user, code):
    unit = db.session.get(Unit, code)
    if unit is None:
        raise NotFound(_l("Không có đơn vị hành chính mã “%(code)s”.", code=code))
    return unit


@endpoint(
    "/units/<code>/children",
    "GET",
    summary="The districts or communes of a unit",
    response=UnitList,
    tags=("geography",),
)
def unit_children(user, code):
    if db.session.get(Unit, code) is None:
        raise NotFound(_l("Không có đơn vị hành chính mã “%(code)s”.", code=code))
    children = db.session.scalars(
        select(Unit).where(Unit.parent_code == code).order_by(Unit.code)
    ).all()
    return {"items": children}


# --- subjects -----------------------------------------------------------------------------


@endpoint(
    "/subjects",
    "GET",
    summary="Households, clans, communities and units in scope",
    query=SubjectListQuery,
    response=SubjectList,
    tags=("subjects",),
)
def list_subjects(user, query):
    statement = (
        select(Subject)
        .where(scope_clause(user, Subject, subject_column=Subject.id))
        .order_by(Subject.id)
        .limit(query["limit"] + 1)
    )
    if query.get("cursor"):
        statement = statement.where(Subject.id > int(query["cursor"]))
    if query.get("kind"):
        statement = statement.where(Subject.kind == query["kind"])
    if query.get("unit"):
        code = query["unit"]
        statement = statement.where(
            (Subject.unit_code == code)
            | (Subject.district_code == code)
            | (Subject.province_code == code)
        )
    if query.get("q"):
        statement = statement.where(
            Subject.name_search.contains(search_key(query["q"]), autoescape=True)
        )
    rows, cursor = _page(db.session.scalars(statement).all(), query["limit"])
    return {"items": rows, "next_cursor": cursor}


@endpoint(
    "/subjects",
    "POST",
    summary="Create a subject in the caller's territory",
    roles=("commune_reviewer", "district_reviewer", "province_officer", "admin"),
    body=SubjectCreate,
    response=SubjectSchema,
    status=201,
    tags=("subjects",),
)
def post_subject(user, body):
    unit = db.session.get(Unit, body["unit_code"])
    if unit is None or not in_scope(user, unit):
        raise ApiError(
            422,
            "invalid_input",
            _l("Đơn vị quản lý không có hoặc ngoài địa bàn của bạn."),
            {"unit_code": [_l("Nhập mã GSO trong địa bàn của bạn")]},
        )
    return create_subject(
        body["kind"],
        body["name"],
        body["unit_code"],
        head_name=body.get("head_name"),
        community_id=body.get("community_id"),
        external_code=body.get("external_code"),
        phone=body.get("phone"),
        address=body.get("address"),
        unit_type=body.get("unit_type"),
        member_ids=body.get("member_ids"),
    )


@endpoint(
    "/subjects/<int:subject_id>",
    "GET",
    summary="One subject",
    response=SubjectSchema,
    tags=("subjects",),
)
def get_subject(user, subject_id):
    subject = db.session.get(Subject, subject_id)
    if subject is None or not in_scope(user, subject):
        raise NotFound(_l("Không tìm thấy đối tượng trong phạm vi của bạn."))
    return subject


# --- cases --------------------------------------------------------------------------------


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
    roles=("applicant", "commune_reviewer", "district_reviewer", "province_officer"),
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
    case = save_assessment(case_id, body["items"], user, expected_version=body.get("version"))
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
    roles=("commune_reviewer", "district_reviewer", "education_reviewer", "culture_reviewer"),
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
    roles=("commune_reviewer", "district_reviewer", "education_reviewer", "culture_reviewer"),
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


# --- definitions --------------------------------------------------------------------------


@endpoint(
    "/workflows",
    "GET",
    summary="The workflow definitions in force",
    response=WorkflowList,
    tags=("definitions",),
)
def list_workflows(user):
    return {"items": [d.to_dict() for d in get_registry().definitions.values()]}


@endpoint(
    "/criteria-sets/<set_id>",
    "GET",
    summary="A criteria set with its items",
    response=CriteriaSetSchema,
    tags=("definitions",),
)
def get_criteria_set(user, set_id):
    sets = get_registry().criteria_sets
    if set_id not in sets:
        raise NotFound(_l("Không có bộ tiêu chí “%(set)s”.", set=set_id))
    return sets[set_id].to_dict()


# --- notifications ------------------------------------------------------------------------


@endpoint(
    "/notifications",
    "GET",
    summary="The caller's inbox, newest first",
    query=NotificationQuery,
    response=NotificationList,
    tags=("notifications",),
)
def list_notifications(user, query):
    before = int(query["cursor"]) if query.get("cursor") else None
    rows = inbox_for(user, before_id=before, limit=query["limit"] + 1, unread_only=query["unread"])
    more = len(rows) > query["limit"]
    rows = rows[: query["limit"]]
    return {
        "items": [
            {
                "id": n.id,
                "title": n.title,
                "body": n.body,
                "link": n.link,
                "case_id": n.case_id,
                "created_at": n.created_at,
                "read_at": n.read_at,
                "is_read": n.read_at is not None,
            }
            for n in rows
        ],
        "next_cursor": str(rows[-1].id) if more and rows else None,
        "unread": unread_count(user),
    }


@endpoint(
    "/notifications/read",
    "POST",
    summary="Mark messages read (all when no ids)",
    body=MarkRead,
    response=Empty,
    tags=("notifications",),
)
def post_read(user, body):
    mark_read(user, body.get("ids"))
    return {}


# --- reports ------------------------------------------------------------------------------

REPORT_READERS = ("manager", "province_officer", "admin", "education_reviewer", "culture_reviewer")


@endpoint(
    "/reports/bottlenecks",
    "GET",
    summary="Bottlenecks per stage and unit",
    roles=REPORT_READERS,
    query=BottleneckQuery,
    response=BottleneckReport,
    tags=("reports",),
)
def report_bottlenecks(user, query):
    args = {
        key: str(query[name])
        for key, name in (
            ("from", "from_"),
            ("to", "to"),
            ("title", "title"),
            ("unit", "unit"),
            ("stage", "stage"),
        )
        if query.get(name)
    }
    return bottlenecks(user, parse_filters(args))


@endpoint(
    "/reports/targets",
    "GET",
    summary="Progress against the plan's targets",
    roles=REPORT_READERS,
    query=TargetQuery,
    response=TargetReport,
    tags=("reports",),
)
def report_targets(user, query):
    return targets(
        user,
        year=query.get("year") or utcnow().year,
        title=query.get("title"),
        unit=query.get("unit"),
    )
