"""Who may see what: one place that builds the territorial filter for a user.

Every list, report and API query goes through ``scope_clause``; object pages use ``in_scope``.
Anything with the unit-path attributes (province_code, district_code, commune_code) can be
checked: cases, subjects, stage visits, units.
"""

from __future__ import annotations

from sqlalchemy import false, select

from htsd_workflow.auth.models import User
from htsd_workflow.auth.roles import SUBJECT_BOUND_ROLES
from htsd_workflow.extensions import db
from htsd_workflow.geography.queries import units_within
from htsd_workflow.subjects.models import Subject

#: the unit-path attribute that a user's territory level is compared with
TERRITORY_ATTRIBUTE = {
    "province": "province_code",
    "district": "district_code",
    "commune": "commune_code",
}


def in_scope(user: User, obj) -> bool:
    """Whether ``obj`` is in the user's territory; applicants see only their own subject."""
    if user is None or not user.is_active:
        return False
    if user.role == "applicant":
        subject_id = obj.id if isinstance(obj, Subject) else getattr(obj, "subject_id", None)
        return user.subject_id is not None and subject_id == user.subject_id
    if user.role == "village_head":
        return user.subject_id is not None and _village_of(obj) == user.subject_id
    attribute = TERRITORY_ATTRIBUTE.get(user.unit_level)
    return attribute is not None and getattr(obj, attribute, None) == user.unit_code


def in_scope_ids(user: User, rows) -> set[int]:
    """The ids of those case rows (anything with ``id`` and ``subject_id``) that ``in_scope``
    admits, with one query for all of them where a village head's would take one each."""
    rows = list(rows)
    if user is None or not user.is_active or user.role != "village_head":
        return {row.id for row in rows if in_scope(user, row)}
    subject_ids = {row.subject_id for row in rows if row.subject_id is not None}
    if user.subject_id is None or not subject_ids:
        return set()
    villages = dict(
        db.session.execute(
            select(Subject.id, Subject.community_id).where(Subject.id.in_(subject_ids))
        ).all()
    )
    return {row.id for row in rows if villages.get(row.subject_id) == user.subject_id}


def _village_of(obj) -> int | None:
    """The village (community subject) of a household, or of a case's household."""
    if isinstance(obj, Subject):
        return obj.community_id
    subject_id = getattr(obj, "subject_id", None)
    if subject_id is None:
        return None
    return db.session.scalar(select(Subject.community_id).where(Subject.id == subject_id))


def territory(user: User) -> tuple[str, object]:
    """The user's territory as (what is compared, with what): ``("subject", subject id)`` for
    an applicant, ``("village", community id)`` for a village head (the households of the
    village and their cases), ``(unit-path attribute, unit code)`` for staff, ``("none", None)`` for
    nobody (inactive, or no territory)."""
    if user is None or not user.is_active:
        return "none", None
    if user.role == "applicant":
        if user.subject_id is None:
            return "none", None
        return "subject", user.subject_id
    if user.role == "village_head":
        if user.subject_id is None:
            return "none", None
        return "village", user.subject_id
    attribute = TERRITORY_ATTRIBUTE.get(user.unit_level)
    if attribute is None:
        return "none", None
    return attribute, user.unit_code


def territory_clause(model, what: str, value, *, subject_column=None):
    """``model`` restricted to a territory as ``territory`` gives it; ``value`` may be a
    ``bindparam`` for a statement made once for every user of that kind."""
    if what == "none":
        return false()
    if what == "subject":
        column = subject_column if subject_column is not None else model.subject_id
        return column == value
    if what == "village":
        if model is Subject:
            return Subject.community_id == value
        column = subject_column if subject_column is not None else model.subject_id
        return column.in_(select(Subject.id).where(Subject.community_id == value))
    return getattr(model, what) == value


def scope_clause(user: User, model, *, subject_column=None):
    """A WHERE clause restricting ``model`` (with the unit-path columns) to the user's territory."""
    what, value = territory(user)
    return territory_clause(model, what, value, subject_column=subject_column)


def sees_everything_in_province(user: User) -> bool:
    return user.unit_level == "province" and user.role not in SUBJECT_BOUND_ROLES


def units_in_territory(user: User):
    """A WHERE clause over ``Unit``: the units of the staff user's territory, their own unit
    included (``geography.queries.units_within``); none for applicants or without a territory.
    ``in_scope(user, unit)`` answers the same for one unit."""
    if user is None or not user.is_active or user.role in SUBJECT_BOUND_ROLES:
        return false()
    return units_within(user.unit_level, user.unit_code)
