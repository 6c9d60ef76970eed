"""Every path of the default workflow, through the one core operation."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select

from htsd_workflow.cases.models import Case, CaseEvent, SignOff, StageVisit
from htsd_workflow.cases.operations import allowed_triggers, fire_trigger
from htsd_workflow.core.calendar import get_calendar
from htsd_workflow.core.errors import Conflict, InvalidInput, NotAllowed, NotFound
from htsd_workflow.extensions import db
from htsd_workflow.notifications.models import OutboxMessage
from tests.factories import COMMUNE, DISTRICT, PROVINCE


def history(case_id):
    return db.session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)
    ).all()


def test_case_goes_from_draft_to_recognised_with_both_signatures(ctx, make):
    case, applicant = make.draft()
    commune = make.reviewer("commune_reviewer", COMMUNE)
    district = make.reviewer("district_reviewer", DISTRICT)
    education = make.reviewer("education_reviewer", PROVINCE)
    culture = make.reviewer("culture_reviewer", PROVINCE)

    assert fire_trigger(case.id, "submit", applicant).state == "commune_review"
    assert fire_trigger(case.id, "approve", commune).state == "district_verification"
    assert fire_trigger(case.id, "approve", district).state == "provincial_confirmation"
    after_first = fire_trigger(case.id, "sign", education)
    assert after_first.state == "provincial_confirmation"
    final = fire_trigger(case.id, "sign", culture)
    db.session.commit()
    assert final.state == "recognized"
    assert final.is_open is False
    assert {s.department for s in final.sign_offs} == {"education", "culture"}
    events = history(case.id)
    assert [e.trigger for e in events] == [
        "create",
        "assess",
        "submit",
        "approve",
        "approve",
        "sign",
        "sign",
    ]
    for before, after in zip(events, events[1:], strict=False):
        assert after.from_state == before.to_state
    # each transition leaves an outbox row in the same transaction
    kinds = db.session.scalars(
        select(OutboxMessage.kind).where(OutboxMessage.case_id == case.id)
    ).all()
    assert kinds == ["submit", "approve", "approve", "sign", "sign"]


def test_signing_in_the_other_order_also_recognises(ctx, make):
    case, _ = make.case_in("provincial_confirmation")
    culture = make.reviewer("culture_reviewer", PROVINCE)
    education = make.reviewer("education_reviewer", PROVINCE)
    assert fire_trigger(case.id, "sign", culture).state == "provincial_confirmation"
    assert fire_trigger(case.id, "sign", education).state == "recognized"


def test_a_department_cannot_sign_twice(ctx, make):
    case, _ = make.case_in("provincial_confirmation")
    education = make.reviewer("education_reviewer", PROVINCE)
    fire_trigger(case.id, "sign", education)
    with pytest.raises(Conflict):
        fire_trigger(case.id, "sign", education)


def test_department_returning_after_the_other_signed_clears_the_signature(ctx, make):
    case, _ = make.case_in("provincial_confirmation")
    education = make.reviewer("education_reviewer", PROVINCE)
    culture = make.reviewer("culture_reviewer", PROVINCE)
    district = make.reviewer("district_reviewer", DISTRICT)
    fire_trigger(case.id, "sign", education)
    with pytest.raises(InvalidInput):
        fire_trigger(case.id, "return_to_district", culture)  # a comment is required
    back = fire_trigger(case.id, "return_to_district", culture, comment="Thiếu biên bản")
    assert back.state == "district_verification"
    assert db.session.scalars(select(SignOff).where(SignOff.case_id == case.id)).all() == []
    fire_trigger(case.id, "approve", district)
    # both must sign again
    assert fire_trigger(case.id, "sign", culture).state == "provincial_confirmation"
    assert fire_trigger(case.id, "sign", education).state == "recognized"


@pytest.mark.parametrize(
    "stage, role",
    [
        ("commune_review", "commune_reviewer"),
        ("district_verification", "district_reviewer"),
        ("provincial_confirmation", "education_reviewer"),
    ],
)
def test_return_and_resubmit_at_each_level(ctx, make, stage, role):
    case, applicant = make.case_in(stage)
    unit = {"commune_reviewer": COMMUNE, "district_reviewer": DISTRICT}.get(role, PROVINCE)
    reviewer = make.reviewer(role, unit)
    with pytest.raises(InvalidInput) as refused:
        fire_trigger(case.id, "return_to_applicant", reviewer, comment="   ")
    assert "comment" in refused.value.details
    returned = fire_trigger(case.id, "return_to_applicant", reviewer, comment="Bổ sung ảnh")
    assert returned.state == "returned"
    assert returned.returned_from == stage
    assert returned.due_at is None
    resubmitted = fire_trigger(case.id, "resubmit", applicant)
    assert resubmitted.state == stage
    assert resubmitted.returned_from is None


@pytest.mark.parametrize("stage", ["district_verification", "provincial_confirmation"])
def test_only_the_roles_of_the_row_that_fires_may_resubmit(ctx, make, stage):
    """A commune officer may resubmit for a household what the commune returned, not what the
    district or the province returned (those rows name the applicant only)."""
    case, applicant = make.case_in(stage)
    unit = {"district_verification": DISTRICT}.get(stage, PROVINCE)
    role = {"district_verification": "district_reviewer"}.get(stage, "education_reviewer")
    fire_trigger(case.id, "return_to_applicant", make.reviewer(role, unit), comment="Bổ sung")
    commune = make.reviewer("commune_reviewer", COMMUNE)
    db.session.commit()
    returned = db.session.get(Case, case.id)
    assert "resubmit" not in allowed_triggers(returned, commune)
    with pytest.raises(NotAllowed):
        fire_trigger(case.id, "resubmit", commune)
    db.session.rollback()
    assert db.session.get(Case, case.id).state == "returned"
    assert "resubmit" in allowed_triggers(db.session.get(Case, case.id), applicant)
    assert fire_trigger(case.id, "resubmit", applicant).state == stage


def test_a_commune_officer_resubmits_what_the_commune_returned(ctx, make):
    case, _ = make.case_in("commune_review")
    commune = make.reviewer("commune_reviewer", COMMUNE)
    fire_trigger(case.id, "return_to_applicant", commune, comment="Bổ sung")
    db.session.commit()
    assert "resubmit" in allowed_triggers(db.session.get(Case, case.id), commune)
    assert fire_trigger(case.id, "resubmit", commune).state == "commune_review"


@pytest.mark.parametrize(
    "stage, role",
    [
        ("commune_review", "commune_reviewer"),
        ("district_verification", "district_reviewer"),
        ("provincial_confirmation", "culture_reviewer"),
    ],
)
def test_reject_at_each_level_is_final(ctx, make, stage, role):
    case, applicant = make.case_in(stage)
    unit = {"commune_reviewer": COMMUNE, "district_reviewer": DISTRICT}.get(role, PROVINCE)
    reviewer = make.reviewer(role, unit)
    with pytest.raises(InvalidInput):
        fire_trigger(case.id, "reject", reviewer)
    rejected = fire_trigger(case.id, "reject", reviewer, comment="Không đạt")
    assert rejected.state == "rejected" and not rejected.is_open
    with pytest.raises(Conflict):
        fire_trigger(case.id, "withdraw", applicant)


@pytest.mark.parametrize("stage", ["draft", "commune_review", "provincial_confirmation"])
def test_applicant_may_withdraw_before_recognition(ctx, make, stage):
    case, applicant = make.case_in(stage)
    assert fire_trigger(case.id, "withdraw", applicant).state == "withdrawn"


def test_incomplete_self_assessment_cannot_be_submitted_and_names_missing_items(ctx, make):
    case, applicant = make.draft(complete=False)
    with pytest.raises(InvalidInput) as refused:
        fire_trigger(case.id, "submit", applicant)
    assert refused.value.details["assessment"]
    assert db.session.get(Case, case.id).state == "draft"


def test_unknown_and_not_allowed_now_triggers_are_refused(ctx, make):
    case, applicant = make.draft()
    with pytest.raises(InvalidInput):
        fire_trigger(case.id, "teleport", applicant)
    with pytest.raises(Conflict):
        fire_trigger(case.id, "approve", make.reviewer("commune_reviewer", COMMUNE))


def test_stale_version_is_a_conflict_checked_before_the_trigger(ctx, make):
    case, _ = make.case_in("commune_review")
    reviewer = make.reviewer("commune_reviewer", COMMUNE)
    stale = case.version
    fire_trigger(case.id, "approve", reviewer, expected_version=stale)
    with pytest.raises(Conflict) as lost:
        fire_trigger(case.id, "reject", reviewer, comment="x", expected_version=stale)
    assert lost.value.details["current_version"] == stale + 1


def test_wrong_role_and_wrong_territory_are_refused(ctx, make):
    case, applicant = make.case_in("commune_review")
    other_commune = make.user("commune_reviewer", "23284")
    district = make.reviewer("district_reviewer", DISTRICT)
    with pytest.raises(NotFound):
        fire_trigger(case.id, "approve", other_commune)
    with pytest.raises(Conflict):
        fire_trigger(case.id, "approve", district)  # in territory, but not at this level yet
    with pytest.raises(NotAllowed):
        fire_trigger(case.id, "approve", applicant)
    stranger, _ = make.draft()
    with pytest.raises(NotFound):
        fire_trigger(stranger.id, "submit", applicant)  # someone else's household


def test_stage_visits_and_due_dates_are_kept(ctx, make):
    case, applicant = make.case_in("district_verification")
    visits = db.session.scalars(
        select(StageVisit).where(StageVisit.case_id == case.id).order_by(StageVisit.id)
    ).all()
    assert [v.stage for v in visits] == ["commune_review", "district_verification"]
    assert visits[0].left_at is not None and visits[0].outcome == "approve"
    assert visits[1].left_at is None
    assert case.due_at == visits[1].due_at


def test_allowed_triggers_follow_role_state_and_signatures(ctx, make):
    case, applicant = make.case_in("provincial_confirmation")
    education = make.reviewer("education_reviewer", PROVINCE)
    assert set(allowed_triggers(case, education)) == {
        "sign",
        "return_to_district",
        "return_to_applicant",
        "reject",
    }
    assert allowed_triggers(case, applicant) == ["withdraw"]
    fire_trigger(case.id, "sign", education)
    assert "sign" not in allowed_triggers(db.session.get(Case, case.id), education)


def test_resubmission_restarts_the_stage_sla_in_full(ctx, make):
    day1 = datetime(2026, 12, 1, 2, 0)  # Tuesday 09:00 local
    case, applicant = make.draft(now=day1)
    reviewer = make.reviewer("commune_reviewer", COMMUNE)
    first = fire_trigger(case.id, "submit", applicant, now=day1)
    assert first.due_at == get_calendar().due_at(day1, 10)
    fire_trigger(
        case.id, "return_to_applicant", reviewer, comment="Bổ sung", now=datetime(2026, 12, 8, 2)
    )
    later = datetime(2026, 12, 14, 2, 0)
    again = fire_trigger(case.id, "resubmit", applicant, now=later)
    assert again.due_at == get_calendar().due_at(later, 10)  # ten full working days again
    assert again.stage_entered_at == later
