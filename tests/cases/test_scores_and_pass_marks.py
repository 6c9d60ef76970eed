"""Scores and pass marks: the score that counts, the ĐBKK mark of the case's year, refusing to
move a failing case forward without an override, and saves that do not overwrite each other."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from htsd_workflow.auth.models import User
from htsd_workflow.cases.models import AssessmentItem, Case, CaseEvent
from htsd_workflow.cases.operations import (
    assessment_result,
    fire_bulk,
    fire_trigger,
    save_assessment,
)
from htsd_workflow.core.errors import BelowPassMark, Conflict
from htsd_workflow.extensions import db
from htsd_workflow.geography.models import DbkkPeriod
from htsd_workflow.geography.operations import set_commune_flags
from htsd_workflow.reports.queries import dbkk_communes
from tests.factories import COMMUNE


def test_dbkk_mark_follows_the_list_of_the_cases_year_not_todays_flag(ctx, make):
    case, applicant = make.draft()  # a 2026 case
    make.fill(case, applicant, fraction=0.75)  # 75 of 100: passes 70, not 80
    # on the list 2016-2020 only, but the flag was never cleared
    set_commune_flags(COMMUNE, is_dbkk=True, from_year=2016, to_year=2020)
    db.session.commit()
    assert COMMUNE not in dbkk_communes([COMMUNE], case.year)
    result = assessment_result(case)
    assert (result.pass_mark, result.passed) == (80, False)


def test_a_commune_listed_for_the_cases_year_gets_the_dbkk_mark_without_the_flag(ctx, make):
    case, applicant = make.draft()
    make.fill(case, applicant, fraction=0.75)
    db.session.add(DbkkPeriod(unit_code=COMMUNE, from_year=2021, to_year=None))
    db.session.commit()
    assert COMMUNE in dbkk_communes([COMMUNE], case.year)
    result = assessment_result(case)
    assert (result.pass_mark, result.passed) == (70, True)


@pytest.mark.parametrize("flag", [True, False])
def test_a_commune_never_listed_falls_back_to_its_flag(ctx, make, flag):
    case, applicant = make.draft()
    make.fill(case, applicant, fraction=0.75)
    set_commune_flags(COMMUNE, is_dbkk=flag)
    assert assessment_result(case).pass_mark == (70 if flag else 80)


def test_two_saves_from_the_same_version_the_second_is_refused(ctx, make):
    case, applicant = make.draft(complete=False)
    officer = make.reviewer("commune_reviewer", COMMUNE)  # enters the paper form
    seen = case.version
    save_assessment(case.id, [{"code": "1.1", "score": 8}], applicant, expected_version=seen)
    db.session.commit()
    with pytest.raises(Conflict) as refused:
        save_assessment(case.id, [{"code": "1.1", "score": 2}], officer, expected_version=seen)
    db.session.rollback()
    assert refused.value.details["current_version"] == seen + 1
    item = db.session.scalar(
        select(AssessmentItem).where(
            AssessmentItem.case_id == case.id, AssessmentItem.code == "1.1"
        )
    )
    assert item.score == 8


def test_two_reviewers_adjusting_from_the_same_version_the_second_is_refused(ctx, make):
    case, _ = make.case_in("commune_review")
    first = make.user("commune_reviewer", COMMUNE)
    second = make.user("commune_reviewer", COMMUNE)
    seen = case.version
    save_assessment(
        case.id,
        [{"code": "2.2", "score": 10, "note": "Thiếu minh chứng"}],
        first,
        expected_version=seen,
    )
    db.session.commit()
    with pytest.raises(Conflict):
        save_assessment(
            case.id, [{"code": "2.2", "score": 20, "note": "Đủ"}], second, expected_version=seen
        )
    db.session.rollback()
    assert assessment_result(db.session.get(Case, case.id)).total == 90


# --- issue 18 item 3: a case below its pass mark moves forward only with a reason ------------


def failing_case(make, fraction=0.66, unit=COMMUNE):
    """A case sent to the commune with 66/100 (by default): under the mark of 80."""
    case, applicant = make.draft(unit=unit)
    make.fill(case, applicant, fraction=fraction)
    fire_trigger(case.id, "submit", applicant)
    db.session.commit()
    return db.session.get(Case, case.id)


def test_approving_a_case_below_the_pass_mark_is_refused_naming_score_and_mark(ctx, make):
    case = failing_case(make)
    reviewer = make.reviewer("commune_reviewer", COMMUNE)
    with pytest.raises(BelowPassMark) as refused:
        fire_trigger(case.id, "approve", reviewer)
    assert "66/100" in refused.value.message and "điểm đạt 80" in refused.value.message
    assert refused.value.details["override_reason"]
    db.session.rollback()
    assert db.session.get(Case, case.id).state == "commune_review"


def test_an_override_reason_moves_it_forward_and_stays_in_the_history(ctx, make):
    case = failing_case(make)
    reviewer = make.reviewer("commune_reviewer", COMMUNE)
    moved = fire_trigger(
        case.id, "approve", reviewer, override_reason="Hộ nghèo, đã có xác nhận của thôn"
    )
    db.session.commit()
    assert moved.state == "district_verification"
    event = db.session.scalar(
        select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.trigger == "approve")
    )
    assert event.data["override"] == {
        "reason": "Hộ nghèo, đã có xác nhận của thôn",
        "total": 66,
        "max_total": 100,
        "pass_mark": 80,
    }


def test_the_reviewers_adjusted_score_is_the_one_checked(ctx, make):
    case, _ = make.case_in("commune_review")  # 100 by self-assessment
    reviewer = make.reviewer("commune_reviewer", COMMUNE)
    save_assessment(
        case.id,
        [
            {"code": "2.2", "score": 0, "note": "Không có minh chứng"},
            {"code": "3", "score": 15, "note": "Thiếu sách"},
        ],
        reviewer,
    )
    with pytest.raises(BelowPassMark, match="75/100"):
        fire_trigger(case.id, "approve", reviewer)


def test_the_dbkk_mark_of_the_cases_year_applies(ctx, make):
    db.session.add(DbkkPeriod(unit_code=COMMUNE, from_year=2021, to_year=2025))
    db.session.commit()
    passing = failing_case(make, fraction=0.75)  # 75: over 70 only
    db.session.add(DbkkPeriod(unit_code=COMMUNE, from_year=2026, to_year=None))
    db.session.commit()
    reviewer = make.reviewer("commune_reviewer", COMMUNE)
    assert fire_trigger(passing.id, "approve", reviewer).state == "district_verification"
    low = failing_case(make, fraction=0.49)
    with pytest.raises(BelowPassMark, match="điểm đạt 70"):
        fire_trigger(low.id, "approve", reviewer)


def test_signing_a_failing_case_needs_the_reason_too(ctx, make):
    case, _ = make.case_in("provincial_confirmation")
    education = make.reviewer("education_reviewer", "62")
    # a score found wrong after the district's approval (written as the reviewers' score)
    db.session.execute(
        update(AssessmentItem)
        .where(AssessmentItem.case_id == case.id, AssessmentItem.code.in_(("2.1", "2.2")))
        .values(reviewed_score=0, review_note="x")
    )
    db.session.commit()
    with pytest.raises(BelowPassMark):
        fire_trigger(case.id, "sign", education)
    db.session.rollback()
    signed = fire_trigger(case.id, "sign", education, override_reason="Đã thẩm tra thực tế")
    assert signed.state == "provincial_confirmation"


def test_bulk_skips_failing_cases_with_the_reason_unless_the_override_is_given(ctx, make):
    good, _ = make.case_in("commune_review")
    bad = failing_case(make)
    reviewer = make.reviewer("commune_reviewer", COMMUNE)
    result = fire_bulk([good.id, bad.id], "approve", reviewer)
    db.session.commit()
    assert [r["id"] for r in result.succeeded] == [good.id]
    assert result.failed[0]["id"] == bad.id and result.failed[0]["code"] == "below_pass_mark"
    assert "66/100" in result.failed[0]["message"]
    again = fire_bulk([bad.id], "approve", reviewer, override_reason="Theo biên bản họp thôn")
    db.session.commit()
    assert [r["id"] for r in again.succeeded] == [bad.id]
    event = db.session.scalar(
        select(CaseEvent).where(CaseEvent.case_id == bad.id, CaseEvent.trigger == "approve")
    )
    assert event.data["override"]["reason"] == "Theo biên bản họp thôn"


@pytest.mark.postgres_only
def test_two_officers_saving_the_same_assessment_at_once_the_second_gets_a_conflict(ctx, make):
    from tests.cases.test_concurrency import two_racers

    case, applicant = make.draft(complete=False)
    officer = make.reviewer("commune_reviewer", COMMUNE)
    case_id, version = case.id, case.version
    applicant_id, officer_id = applicant.id, officer.id
    db.session.commit()

    def save(user_id, score):
        user = db.session.get(User, user_id)
        entries = [{"code": "1.1", "score": score}]
        return save_assessment(case_id, entries, user, expected_version=version).version

    results = two_racers(ctx, lambda: save(applicant_id, 8), lambda: save(officer_id, 2))
    assert results["first"] == ("ok", version + 1)
    kind, error = results["second"]
    assert kind == "error" and isinstance(error, Conflict)
    assert error.details["current_version"] == version + 1
    db.session.expire_all()
    item = db.session.scalar(
        select(AssessmentItem).where(
            AssessmentItem.case_id == case_id, AssessmentItem.code == "1.1"
        )
    )
    assert item.score == 8
