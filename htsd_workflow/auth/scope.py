"""Who may see what: one place that builds the territorial filter for a user.

Every list, report and API query goes through ``scope_clause``; object pages use ``in_scope``.
"""

from __future__ import annotations

from sqlalchemy import false

from htsd_workflow.auth.models import User
from htsd_workflow.subjects.models import Subject

#: roles that see no territory (only their own subject)
_SUBJECT_ROLES = ("applicant",)


def in_scope(user: User, obj) -> bool:
    """Whether ``obj`` (anything with province/district/commune codes) is in the user's territory.

    Applicants see only their own subject's objects.
    """
    if user is None or not user.is_active:
        return False
    if user.role in _SUBJECT_ROLES:
        subject_id = obj.id if isinstance(obj, Subject) else getattr(obj, "subject_id", None)
        return user.subject_id is not None and subject_id == user.subject_id
    level = user.unit_level
    if level == "province":
        return obj.province_code == user.unit_code
    if level == "district":
        return obj.district_code == user.unit_code
    if level == "commune":
        return obj.commune_code == user.unit_code
    return False


def scope_clause(user: User, model, *, subject_column=None):
    """A WHERE clause restricting ``model`` (with the unit-path columns) to the user's territory."""
    if user is None or not user.is_active:
        return false()
    if user.role in _SUBJECT_ROLES:
        if user.subject_id is None:
            return false()
        column = subject_column if subject_column is not None else model.subject_id
        return column == user.subject_id
    level = user.unit_level
    if level == "province":
        return model.province_code == user.unit_code
    if level == "district":
        return model.district_code == user.unit_code
    if level == "commune":
        return model.commune_code == user.unit_code
    return false()


def sees_everything_in_province(user: User) -> bool:
    return user.unit_level == "province" and user.role != "applicant"
