"""The API's /units endpoints: administrative units and their children."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from htsd_workflow.api.framework import (
    endpoint,
)
from htsd_workflow.api.schemas import (
    AssignmentBody,
    AssignmentResult,
    AwaitingSubjectList,
    UnitList,
    UnitSchema,
)
from htsd_workflow.auth.roles import SUBJECT_ASSIGNERS
from htsd_workflow.core.errors import NotFound
from htsd_workflow.extensions import db
from htsd_workflow.geography.models import Unit
from htsd_workflow.geography.reform import assign_split_subjects, subjects_awaiting_assignment


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


@endpoint(
    "/reform/subjects",
    "GET",
    summary="Subjects of split communes still to place under a successor (after geo reform)",
    roles=SUBJECT_ASSIGNERS,
    response=AwaitingSubjectList,
    tags=("geography",),
)
def list_awaiting_subjects(user):
    return {
        "items": [
            {
                "subject_id": item.subject.id,
                "name": item.subject.name,
                "kind": item.subject.kind,
                "old_unit": item.old_unit,
                "candidates": item.candidates,
                "running_cases": item.running,
            }
            for item in subjects_awaiting_assignment(user)
        ]
    }


@endpoint(
    "/reform/subjects",
    "POST",
    summary="Place subjects of split communes under successors (all or none; repeatable)",
    roles=SUBJECT_ASSIGNERS,
    body=AssignmentBody,
    response=AssignmentResult,
    tags=("geography",),
)
def assign_awaiting_subjects(user, body):
    choices = {a["subject_id"]: a["unit_code"] for a in body["assignments"]}
    return {"moved": assign_split_subjects(choices, user)}
