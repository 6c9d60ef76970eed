"""The API's /units endpoints: administrative units and their children."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from htsd_workflow.api.framework import (
    endpoint,
)
from htsd_workflow.api.schemas import (
    UnitList,
    UnitSchema,
)
from htsd_workflow.core.errors import NotFound
from htsd_workflow.extensions import db
from htsd_workflow.geography.models import Unit


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
