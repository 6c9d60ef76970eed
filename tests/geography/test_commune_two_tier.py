"""The commune's own title in a two-tier province (today's Quảng Ngãi, no districts)."""

from __future__ import annotations

import pytest

from htsd_workflow.cases.models import Case
from htsd_workflow.core.errors import InvalidInput
from htsd_workflow.decisions.models import Decision
from htsd_workflow.extensions import db
from htsd_workflow.subjects.operations import create_subject

YEAR = 2026


def _recognised_in_two_tier(fresh):
    """Today's Quảng Ngãi (no districts): the commune's dossier goes straight to the two
    departments, who recognise it."""
    from htsd_workflow.cases.operations import fire_trigger, save_assessment, start_case
    from tests.factories import Factory

    result = fresh.test_cli_runner().invoke(args=["geo", "import", "--province", "51"])
    assert result.exit_code == 0, result.output
    make = Factory()
    subject = create_subject("commune", "Phường Kon Tum", "23293")
    officer = make.reviewer("commune_reviewer", "23293")
    case = start_case(subject.id, "commune", YEAR, officer)
    assert (case.workflow, case.criteria_set_id) == ("two_tier/commune", "commune-tt25-2023")
    entries = [{"code": i.code, "score": 1, "evidence": "x"} for i in case.items]
    save_assessment(case.id, entries, officer, level_applied="level1")
    assert fire_trigger(case.id, "submit", officer).state == "provincial_confirmation"
    for role in ("education_reviewer", "culture_reviewer"):
        fire_trigger(case.id, "sign", make.reviewer(role, "51"))
    assert db.session.get(Case, case.id).state == "recognized"
    return case, make


def test_in_a_two_tier_province_the_commune_goes_to_the_province(fresh):
    _recognised_in_two_tier(fresh)


def test_in_a_two_tier_province_the_province_issues_the_communes_decision(fresh):
    """The decision block is the province's own set's (two-tier: the province issues), not the
    installation default's (three-tier: the district)."""
    from datetime import date

    from htsd_workflow.decisions.operations import draft_decision, issue_decision

    case, make = _recognised_in_two_tier(fresh)
    officer = make.reviewer("commune_reviewer", "23293")
    with pytest.raises(InvalidInput):  # not a commune's decision
        draft_decision("commune", YEAR, "23293", officer)
    decision = draft_decision("commune", YEAR, "51", make.reviewer("province_officer", "51"))
    assert [e.case_id for e in decision.entries] == [case.id]
    issue_decision(decision.id, "9", date(2026, 12, 20), "Trần Văn C", make.user("manager", "51"))
    db.session.commit()
    decision = db.session.get(Decision, decision.id)
    assert decision.status == "issued" and decision.valid_months == 36
    assert decision.body_name.startswith("Sở Giáo dục và Đào tạo")
