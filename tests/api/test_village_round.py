"""The annual round as communes run it: a village head bound to one village, registration of
a village's households, and their self-assessments entered in bulk (issue 25)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from htsd_workflow.auth.scope import in_scope, scope_clause
from htsd_workflow.cases.engine import get_registry
from htsd_workflow.cases.models import Case
from htsd_workflow.cases.operations import fire_trigger, save_assessment, start_case
from htsd_workflow.core.errors import InvalidInput, NotAllowed, NotFound
from htsd_workflow.extensions import db
from htsd_workflow.subjects.models import Subject
from tests.factories import COMMUNE, OTHER_COMMUNE_SAME_DISTRICT

YEAR = 2026


@pytest.fixture
def villages(ctx, make):
    """Two villages of one commune with two households each, and a village head of the first."""
    thon_1 = make.subject("community", COMMUNE, name="Thôn 1")
    thon_2 = make.subject("community", COMMUNE, name="Thôn 2")
    homes_1 = [make.subject("family", COMMUNE, community_id=thon_1.id) for _ in range(2)]
    homes_2 = [make.subject("family", COMMUNE, community_id=thon_2.id) for _ in range(2)]
    head = make.user("village_head", subject_id=thon_1.id)
    return {"thon_1": thon_1, "thon_2": thon_2, "own": homes_1, "other": homes_2, "head": head}


def test_a_village_head_is_bound_to_a_village(ctx, make):
    household = make.subject("family", COMMUNE)
    with pytest.raises(InvalidInput):
        make.user("village_head", subject_id=household.id)
    with pytest.raises(InvalidInput):
        make.user("village_head", COMMUNE)


def test_a_village_head_sees_only_the_households_of_their_village(villages):
    head = villages["head"]
    assert head.unit_code == COMMUNE  # the village's commune, for the menu and the slips
    listed = set(db.session.scalars(select(Subject.id).where(scope_clause(head, Subject))))
    assert listed == {s.id for s in villages["own"]}
    assert all(in_scope(head, s) for s in villages["own"])
    assert not any(in_scope(head, s) for s in villages["other"])


def test_a_village_head_starts_and_follows_only_their_village_cases(villages, make):
    head = villages["head"]
    own = start_case(villages["own"][0].id, "family", YEAR, head)
    officer = make.user("commune_reviewer", COMMUNE)
    other = start_case(villages["other"][0].id, "family", YEAR, officer)
    db.session.commit()
    with pytest.raises(NotFound):
        start_case(villages["other"][1].id, "family", YEAR, head)
    listed = set(db.session.scalars(select(Case.id).where(scope_clause(head, Case))))
    assert listed == {own.id}
    assert in_scope(head, own) and not in_scope(head, other)


def test_a_village_head_enters_and_submits_a_household_form_but_never_reviews(villages, make):
    head = villages["head"]
    case = start_case(villages["own"][0].id, "family", YEAR, head)
    make.fill(case, head)
    fire_trigger(case.id, "submit", head)
    db.session.commit()
    assert db.session.get(Case, case.id).state == "commune_review"
    items = get_registry().criteria_set(case.criteria_set_id).items[:1]
    with pytest.raises(NotAllowed):
        fire_trigger(case.id, "approve", head)
    with pytest.raises(NotAllowed):
        save_assessment(case.id, [{"code": item.code, "score": 0} for item in items], head)


def test_a_village_head_lists_only_their_village_through_the_api(villages, api):
    client = api(villages["head"])
    response = client.get("/subjects?kind=family")
    assert response.status_code == 200, response.json
    assert {s["id"] for s in response.json["items"]} == {s.id for s in villages["own"]}
    response = client.get(f"/subjects/{villages['other'][0].id}")
    assert response.status_code == 404


def test_another_commune_cannot_hold_a_village_head_of_this_commune(villages, make):
    officer = make.user("commune_reviewer", OTHER_COMMUNE_SAME_DISTRICT)
    assert not in_scope(officer, villages["thon_1"])
