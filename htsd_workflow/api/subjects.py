"""The API's /subjects endpoints: the applicants (families, clans, communities, units)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from htsd_workflow.api.framework import (
    ApiError,
    endpoint,
)
from htsd_workflow.api.schemas import (
    SubjectCreate,
    SubjectList,
    SubjectListQuery,
    SubjectSchema,
)
from htsd_workflow.api.serialize import _page
from htsd_workflow.auth.roles import SUBJECT_CREATORS
from htsd_workflow.auth.scope import in_scope, scope_clause
from htsd_workflow.core.errors import NotFound
from htsd_workflow.core.text import search_key
from htsd_workflow.extensions import db
from htsd_workflow.geography.models import Unit
from htsd_workflow.subjects.models import Subject
from htsd_workflow.subjects.operations import create_subject


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
    roles=SUBJECT_CREATORS,
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
