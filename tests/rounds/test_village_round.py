"""The annual round as communes run it: a village head bound to one village, registration of
a village's households, and their self-assessments entered in bulk (issue 25)."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import select

from htsd_workflow.audit.models import AuditEntry
from htsd_workflow.auth.scope import in_scope, scope_clause
from htsd_workflow.cases.engine import get_registry
from htsd_workflow.cases.models import Case, CaseEvent, Round, VillageMeeting
from htsd_workflow.cases.operations import ensure_round, fire_trigger, save_assessment, start_case
from htsd_workflow.cases.rounds import consecutive_years
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


# --- rounds -------------------------------------------------------------------------------


def _round_body(**over):
    body = {
        "title": "family",
        "year": 2027,
        "registration_opens_on": "2027-01-01",
        "registration_closes_on": "2027-03-31",
        "review_deadline": "2027-11-30",
    }
    return {**body, **over}


def test_a_province_officer_opens_changes_and_closes_a_round_audited(ctx, make, api):
    officer = api(make.user("province_officer"))
    response = officer.post("/rounds", json=_round_body())
    assert response.status_code == 201, response.json
    round_id = response.json["id"]
    assert officer.post("/rounds", json=_round_body()).status_code == 409
    response = officer.client.patch(
        f"/api/v1/rounds/{round_id}",
        json={"registration_closes_on": "2027-04-30"},
        headers=officer._headers(),
    )
    assert response.status_code == 200, response.json
    assert response.json["registration_closes_on"] == "2027-04-30"
    listed = officer.get("/rounds?year=2027").json["items"]
    assert [r["id"] for r in listed] == [round_id]
    actions = db.session.scalars(
        select(AuditEntry.action).where(AuditEntry.target == f"round:{round_id}")
    ).all()
    assert sorted(actions) == ["round_changed", "round_opened"]


def test_a_round_s_dates_are_checked_as_on_the_command_line(ctx, make, api):
    officer = api(make.user("province_officer"))
    bad = officer.post("/rounds", json=_round_body(registration_closes_on="2026-12-01"))
    assert bad.status_code == 422
    assert "registration_closes_on" in bad.json["error"]["details"]
    assert officer.post("/rounds", json=_round_body(title="x")).status_code == 422
    assert db.session.scalar(select(Round.id).where(Round.year == 2027)) is None


def test_closing_a_round_ends_registration_today(villages, make, api):
    officer = api(make.user("province_officer"))
    round_id = officer.post(
        "/rounds",
        json=_round_body(
            year=YEAR, registration_opens_on="2026-01-01", registration_closes_on="2026-12-31"
        ),
    ).json["id"]
    response = officer.client.patch(
        f"/api/v1/rounds/{round_id}", json={"close": True}, headers=officer._headers()
    )
    assert response.status_code == 200, response.json
    assert response.json["registration_closes_on"] == "2026-12-06"
    with pytest.raises(InvalidInput):
        start_case(villages["own"][0].id, "family", YEAR, villages["head"])


def test_only_province_officers_and_admins_change_rounds(villages, make, api):
    for user in (villages["head"], make.user("commune_reviewer", COMMUNE)):
        assert api(user).post("/rounds", json=_round_body()).status_code == 403


# --- registration -------------------------------------------------------------------------


def _open_round(year=YEAR):
    found = ensure_round("family", year)
    db.session.commit()
    return found


def test_a_village_head_registers_their_village_each_household_gets_a_draft(villages, api):
    round_ = _open_round()
    own = [s.id for s in villages["own"]]
    other = villages["other"][0].id
    client = api(villages["head"])
    response = client.post(
        f"/rounds/{round_.id}/registrations", json={"subject_ids": own + [other]}
    )
    assert response.status_code == 200, response.json
    body = response.json
    assert {r["subject_id"] for r in body["registered"]} == set(own)
    assert [f["subject_id"] for f in body["failed"]] == [other]
    assert body["failed"][0]["code"] == "not_found"
    states = db.session.execute(select(Case.subject_id, Case.state).where(Case.year == YEAR)).all()
    assert sorted(states) == sorted((i, "draft") for i in own)
    again = client.post(f"/rounds/{round_.id}/registrations", json={"subject_ids": own}).json
    assert again["counts"] == {"registered": 0, "already_registered": 2, "failed": 0}


def test_an_applicant_cannot_register_households(villages, make, api):
    round_ = _open_round()
    household = villages["own"][0]
    applicant = api(make.applicant(household))
    response = applicant.post(
        f"/rounds/{round_.id}/registrations", json={"subject_ids": [household.id]}
    )
    assert response.status_code == 403


# --- entry in bulk ------------------------------------------------------------------------


def _scores(case, fraction=1.0):
    cset = get_registry().criteria_set(case.criteria_set_id)
    return [
        {"code": i.code, "score": round(i.max_points * fraction, 1), "evidence": "ok"}
        for i in cset.items
    ]


def test_bulk_assessments_save_all_and_submit_only_the_complete(villages, api, make):
    head = villages["head"]
    extra = make.subject("family", COMMUNE, community_id=villages["thon_1"].id)
    cases = [start_case(s.id, "family", YEAR, head) for s in [*villages["own"], extra]]
    db.session.commit()
    complete, partial, wrong = cases
    rows = [
        {"case_id": complete.id, "items": _scores(complete)},
        {"case_id": partial.id, "items": _scores(partial)[:2]},
        {"case_id": wrong.id, "items": [{"code": "no-such", "score": 1}]},
    ]
    response = api(head).put("/cases/bulk-assessments", json={"cases": rows, "submit": True})
    assert response.status_code == 200, response.json
    body = response.json
    assert {s["id"] for s in body["saved"]["succeeded"]} == {complete.id, partial.id}
    assert [f["id"] for f in body["saved"]["failed"]] == [wrong.id]
    assert [s["id"] for s in body["submitted"]["succeeded"]] == [complete.id]
    assert [f["id"] for f in body["submitted"]["failed"]] == [partial.id]
    assert body["submitted"]["failed"][0]["message"]
    db.session.expire_all()
    assert db.session.get(Case, complete.id).state == "commune_review"
    assert db.session.get(Case, partial.id).state == "draft"
    assert db.session.get(Case, partial.id).self_score is not None
    event = db.session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == complete.id, CaseEvent.trigger == "assess")
    ).one()
    assert event.actor_id == head.id
    assert event.data["source"] == {"via": "api", "row": 1}


def test_bulk_assessments_of_another_village_are_refused_case_by_case(villages, api, make):
    officer = make.user("commune_reviewer", COMMUNE)
    other = start_case(villages["other"][0].id, "family", YEAR, officer)
    db.session.commit()
    response = api(villages["head"]).put(
        "/cases/bulk-assessments", json={"cases": [{"case_id": other.id, "items": _scores(other)}]}
    )
    assert response.status_code == 200
    assert response.json["saved"]["failed"][0]["code"] == "not_found"
    db.session.expire_all()
    assert db.session.get(Case, other.id).self_score is None


# --- the village meeting (bình xét) -------------------------------------------------------


def _meeting_body(villages, round_, **over):
    own = villages["own"]
    body = {
        "village_id": villages["thon_1"].id,
        "round_id": round_.id,
        "held_on": "2026-12-01",
        "chair": "Ông A Nhương",
        "secretary": "Bà Y Liên",
        "attendance": 40,
        "votes": [
            {"subject_id": own[0].id, "votes_for": 35, "present": 38},
            {"subject_id": own[1].id, "votes_for": 10, "present": 38},
        ],
    }
    return {**body, **over}


def test_a_village_head_records_the_meeting_and_only_their_village_sees_it(villages, make, api):
    round_ = _open_round()
    client = api(villages["head"])
    response = client.post("/village-meetings", json=_meeting_body(villages, round_))
    assert response.status_code == 201, response.json
    assert [v["votes_for"] for v in response.json["votes"]] == [35, 10]
    assert client.post("/village-meetings", json=_meeting_body(villages, round_)).status_code == 409
    assert [m["id"] for m in client.get("/village-meetings").json["items"]] == [response.json["id"]]
    other_head = make.user("village_head", subject_id=villages["thon_2"].id)
    assert api(other_head).get("/village-meetings").json["items"] == []
    officer = make.user("commune_reviewer", COMMUNE)
    assert len(api(officer).get("/village-meetings").json["items"]) == 1
    refused = api(other_head).post("/village-meetings", json=_meeting_body(villages, round_))
    assert refused.status_code == 404


def test_a_meeting_with_impossible_votes_is_refused_and_nothing_is_kept(villages, api):
    round_ = _open_round()
    own, other = villages["own"], villages["other"]
    client = api(villages["head"])
    for votes in (
        [{"subject_id": own[0].id, "votes_for": 39, "present": 38}],
        [{"subject_id": own[0].id, "votes_for": 1, "present": 41}],
        [{"subject_id": other[0].id, "votes_for": 1, "present": 2}],
    ):
        response = client.post(
            "/village-meetings", json=_meeting_body(villages, round_, votes=votes)
        )
        assert response.status_code == 422, response.json
        assert "votes[0]" in response.json["error"]["details"]
    assert db.session.scalar(select(VillageMeeting.id)) is None


def test_with_a_required_meeting_a_case_reaches_commune_review_only_after_it(
    villages, api, make, monkeypatch
):
    round_ = _open_round()
    registry = get_registry()
    family = registry.definition("family")
    required = dataclasses.replace(family, village_meeting="required")
    monkeypatch.setattr(
        registry,
        "definition",
        lambda title, _d=registry.definition: required if title == "family" else _d(title),
    )
    head = villages["head"]
    case = start_case(villages["own"][0].id, "family", YEAR, head)
    make.fill(case, head)
    db.session.commit()
    with pytest.raises(InvalidInput) as refused:
        fire_trigger(case.id, "submit", head)
    assert "village_meeting" in refused.value.details
    db.session.rollback()
    assert (
        api(head).post("/village-meetings", json=_meeting_body(villages, round_)).status_code == 201
    )
    fire_trigger(case.id, "submit", head)
    db.session.commit()
    assert db.session.get(Case, case.id).state == "commune_review"


def test_an_optional_meeting_is_not_needed_to_submit(villages, make):
    head = villages["head"]
    case = start_case(villages["own"][0].id, "family", YEAR, head)
    make.fill(case, head)
    fire_trigger(case.id, "submit", head)
    assert get_registry().definition("family").village_meeting == "optional"
    assert case.state == "commune_review"


@pytest.mark.parametrize(
    "years, streak",
    [([], 0), ([2025], 1), ([2023, 2024, 2025], 3), ([2021, 2023, 2024], 2), ([2024, 2022], 1)],
)
def test_years_in_a_row_end_with_the_latest(years, streak):
    assert consecutive_years(years) == streak


def test_each_level_s_deadline_is_set_checked_and_listed(ctx, make, api):
    officer = api(make.user("province_officer"))
    levels = {"commune": "2027-06-30", "province": "2027-11-30"}
    response = officer.post("/rounds", json={**_round_body(), "level_deadlines": levels})
    assert response.status_code == 201, response.json
    assert response.json["level_deadlines"] == levels
    round_id = response.json["id"]
    found = db.session.get(Round, round_id)
    assert found.deadline_of("commune").isoformat() == "2027-06-30"
    assert found.deadline_of("district") == found.review_deadline  # none of its own

    def patch(body):
        return officer.client.patch(
            f"/api/v1/rounds/{round_id}", json=body, headers=officer._headers()
        )

    # a level before the one below it, or after the round's deadline, is refused
    refused = patch({"level_deadlines": {"commune": "2027-09-30", "district": "2027-08-31"}})
    assert refused.status_code == 422 and "level_deadlines.district" in str(refused.json)
    refused = patch({"level_deadlines": {"province": "2028-01-31"}})
    assert refused.status_code == 422 and "level_deadlines.province" in str(refused.json)
    # the round's own deadline cannot move before a level's
    assert patch({"review_deadline": "2027-10-31"}).status_code == 422
    db.session.expire_all()
    assert db.session.get(Round, round_id).level_deadlines == levels
    changed = patch({"level_deadlines": {"commune": "2027-07-15"}})
    assert changed.status_code == 200 and changed.json["level_deadlines"] == {
        "commune": "2027-07-15"
    }
    audit = db.session.scalars(
        select(AuditEntry)
        .where(AuditEntry.target == f"round:{round_id}")
        .order_by(AuditEntry.id.desc())
        .limit(1)
    ).one()  # the newest (rows come in no set order without one: PostgreSQL's varied)
    assert audit.details["after"]["level_deadlines"] == {"commune": "2027-07-15"}
