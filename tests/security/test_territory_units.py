"""The units of a user's territory: one rule, the same whether asked in SQL or of one unit.

``auth.scope.units_in_territory`` (the filter lists, the unit search, the denominators, the
admin's pages, the failed e-mails) and ``auth.scope.in_scope`` on a unit (an object page, the
denominator a user may set) must name the same units, for every role and level.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from htsd_workflow.auth.roles import ROLES, SUBJECT_BOUND_ROLES
from htsd_workflow.auth.scope import in_scope, units_in_territory
from htsd_workflow.extensions import db
from htsd_workflow.geography.models import Unit
from tests.factories import COMMUNE, DISTRICT, OTHER_COMMUNE_SAME_DISTRICT, OTHER_DISTRICT, PROVINCE

#: (role, unit) pairs to try: every role at each level it may be bound to
BOUND = [
    ("commune_reviewer", COMMUNE),
    ("district_reviewer", DISTRICT),
    ("education_reviewer", PROVINCE),
    ("culture_reviewer", PROVINCE),
    ("province_officer", PROVINCE),
    ("manager", PROVINCE),
    ("manager", DISTRICT),
    ("admin", PROVINCE),
]


def test_every_role_is_tried():
    assert {role for role, _unit in BOUND} == set(ROLES) - set(SUBJECT_BOUND_ROLES)


@pytest.mark.parametrize("role, unit", BOUND)
def test_the_units_of_a_territory_are_the_units_in_scope(ctx, make, role, unit):
    user = make.user(role, unit)
    units = db.session.scalars(select(Unit)).all()
    listed = set(db.session.scalars(select(Unit.code).where(units_in_territory(user))))
    assert listed == {u.code for u in units if in_scope(user, u)}
    assert unit in listed  # the user's own unit is part of their territory
    level = db.session.get(Unit, unit).level
    expected_inside = {
        "commune": {COMMUNE},
        "district": {DISTRICT, COMMUNE, OTHER_COMMUNE_SAME_DISTRICT},
        "province": {PROVINCE, DISTRICT, OTHER_DISTRICT, COMMUNE},
    }[level]
    assert expected_inside <= listed
    if level != "province":
        assert OTHER_DISTRICT not in listed and PROVINCE not in listed


def test_an_applicant_or_a_deactivated_user_has_no_units(ctx, make):
    applicant = make.user("applicant", subject_id=make.subject().id)
    village_head = make.user("village_head", subject_id=make.subject("community").id)
    gone = make.user("district_reviewer", DISTRICT)
    gone.is_active_user = False
    db.session.commit()
    for user in (applicant, village_head, gone):
        assert db.session.scalars(select(Unit.code).where(units_in_territory(user))).all() == []
