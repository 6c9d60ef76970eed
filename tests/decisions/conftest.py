"""Recognised cases and decisions for the decision tests."""

from __future__ import annotations

import pytest

from htsd_workflow.cases.models import Case
from htsd_workflow.cases.operations import fire_trigger
from htsd_workflow.extensions import db
from tests.factories import COMMUNE, PROVINCE


@pytest.fixture
def recognised(make):
    """``recognised(unit=COMMUNE, name=None)`` drives a new family case to ``recognized``."""
    signers = {}

    def build(unit=COMMUNE, name=None, kind="family"):
        case, applicant = make.case_in("provincial_confirmation", kind, unit, name=name)
        for role in ("education_reviewer", "culture_reviewer"):
            if role not in signers:
                signers[role] = make.reviewer(role, PROVINCE)
            fire_trigger(case.id, "sign", signers[role])
        db.session.commit()
        case = db.session.get(Case, case.id)
        assert case.state == "recognized"
        return case, applicant

    return build
