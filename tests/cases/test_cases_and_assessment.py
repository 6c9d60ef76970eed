"""Starting cases in rounds, the self-assessment and reviewers' adjustments."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from sqlalchemy import select

from htsd_workflow.cases.models import AssessmentItem, Case, CaseEvent
from htsd_workflow.cases.operations import (
    assessment_result,
    fire_trigger,
    save_assessment,
    set_round,
    start_case,
)
from htsd_workflow.core.errors import Conflict, InvalidInput, NotAllowed, NotFound
from htsd_workflow.extensions import db
from htsd_workflow.geography.operations import set_commune_flags
from htsd_workflow.subjects.operations import create_subject
from tests.factories import COMMUNE, DISTRICT, PROVINCE


def test_current_years_round_is_open_by_default_and_a_second_application_is_refused(ctx, make):
    case, applicant = make.draft()
    assert case.state == "draft" and case.criteria_set_id
    with pytest.raises(Conflict) as refused:
        start_case(case.subject_id, "family", case.year, applicant)
    assert refused.value.details["case_id"] == case.id
    assert db.session.scalar(select(Case.id).where(Case.subject_id == case.subject_id)) == case.id


def test_closed_or_missing_round_refuses_new_cases(ctx, make):
    subject = make.subject()
    applicant = make.applicant(subject)
    with pytest.raises(InvalidInput, match="năm 2019"):
        start_case(subject.id, "family", 2019, applicant)
    set_round("family", 2030, date(2030, 1, 1), date(2030, 3, 31), date(2030, 12, 15))
    with pytest.raises(InvalidInput):
        start_case(subject.id, "family", 2030, applicant, now=datetime(2030, 5, 1, 3))
    case = start_case(subject.id, "family", 2030, applicant, now=datetime(2030, 2, 1, 3))
    assert case.year == 2030


def test_title_must_fit_the_subject_and_a_stranger_cannot_start(ctx, make):
    subject = make.subject("family")
    applicant = make.applicant(subject)
    with pytest.raises(InvalidInput):
        start_case(subject.id, "clan", date.today().year, applicant)
    stranger = make.applicant(make.subject("family"))
    with pytest.raises(NotFound):
        start_case(subject.id, "family", date.today().year, stranger)
    other_commune_officer = make.user("commune_reviewer", "23284")
    with pytest.raises(NotFound):
        start_case(subject.id, "family", date.today().year, other_commune_officer)


def test_unit_managed_by_district_enters_at_district_verification(ctx, make):
    unit = create_subject("unit", "Phòng GD&ĐT TP Kon Tum", DISTRICT, unit_type="agency")
    applicant = make.applicant(unit)
    case = start_case(unit.id, "unit", date.today().year, applicant)
    make.fill(case, applicant)
    assert fire_trigger(case.id, "submit", applicant).state == "district_verification"
    province_unit = create_subject("unit", "Trường THPT chuyên", PROVINCE, unit_type="school")
    applicant2 = make.applicant(province_unit)
    case2 = start_case(province_unit.id, "unit", date.today().year, applicant2)
    make.fill(case2, applicant2)
    assert fire_trigger(case2.id, "submit", applicant2).state == "provincial_confirmation"


def test_a_units_set_follows_who_manages_it_and_the_case_keeps_it(ctx, make):
    # 2024: TT 24/2023's indicators at levels for a unit managed by a district or the
    # province, QĐ 448's points for one managed by a commune (CV 6782: "ở cơ sở thuộc xã quản lý")
    year = 2024
    set_round("unit", year, date(2024, 1, 1), date(2024, 12, 31), date(2025, 2, 15))
    started = datetime(2024, 3, 1, 3)
    by_district = create_subject("unit", "Phòng GD&ĐT TP Kon Tum", DISTRICT, unit_type="agency")
    by_province = create_subject("unit", "Trường THPT chuyên", PROVINCE, unit_type="school")
    by_commune = create_subject("unit", "Trường tiểu học xã", COMMUNE, unit_type="school")
    ids = {}
    for subject in (by_district, by_province, by_commune):
        case = start_case(subject.id, "unit", year, make.applicant(subject), now=started)
        ids[subject.managing_level] = case.criteria_set_id
    assert ids == {
        "district": "unit-tt24-2023",
        "province": "unit-tt24-2023",
        "commune": "unit-qd448",
    }


def test_a_late_case_for_2020_follows_the_rules_of_that_years_end(ctx, make):
    set_round("unit", 2020, date(2020, 1, 1), date(2021, 3, 31), date(2021, 6, 30))
    unit = create_subject("unit", "Phòng GD&ĐT TP Kon Tum", DISTRICT, unit_type="agency")
    case = start_case(unit.id, "unit", 2020, make.applicant(unit), now=datetime(2021, 1, 5, 3))
    assert case.criteria_set_id == "unit-tt22-2020"
    early = create_subject("unit", "Phòng GD&ĐT Đắk Hà", DISTRICT, unit_type="agency")
    case = start_case(early.id, "unit", 2020, make.applicant(early), now=datetime(2020, 9, 20, 3))
    assert case.criteria_set_id == "unit-qd448"


def test_scores_above_the_maximum_are_refused_and_nothing_is_half_written(ctx, make):
    case, applicant = make.draft(complete=False)
    entries = [
        {"code": "1.1", "score": 8, "evidence": "Giấy khen"},
        {"code": "1.2", "score": 99},
    ]
    with pytest.raises(InvalidInput) as refused:
        save_assessment(case.id, entries, applicant)
    assert "items[1.2].score" in refused.value.details
    db.session.rollback()
    item = db.session.scalar(
        select(AssessmentItem).where(
            AssessmentItem.case_id == case.id, AssessmentItem.code == "1.1"
        )
    )
    assert item.score is None


def test_total_and_pass_are_computed_and_the_reviewers_score_wins(ctx, make):
    case, applicant = make.draft()  # full marks
    result = assessment_result(case)
    assert result.total == 100 and result.passed
    fire_trigger(case.id, "submit", applicant)
    reviewer = make.reviewer("commune_reviewer", COMMUNE)
    with pytest.raises(InvalidInput):
        save_assessment(case.id, [{"code": "2.2", "score": 0}], reviewer)  # a note is required
    save_assessment(
        case.id,
        [
            {"code": "2.2", "score": 0, "note": "Không có minh chứng"},
            {"code": "3", "score": 15, "note": "Thiếu sách"},
        ],
        reviewer,
    )
    db.session.commit()
    item = db.session.scalar(
        select(AssessmentItem).where(
            AssessmentItem.case_id == case.id, AssessmentItem.code == "2.2"
        )
    )
    assert (item.score, item.reviewed_score) == (20, 0)  # both values are kept
    result = assessment_result(db.session.get(Case, case.id))
    assert result.total == 75 and not result.passed
    adjust = db.session.scalar(
        select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.trigger == "adjust_scores")
    )
    assert adjust.actor_id == reviewer.id and adjust.data["items"][0]["new"] == 0


def test_dbkk_commune_uses_the_lower_pass_mark(ctx, make):
    case, applicant = make.draft()
    make.fill(case, applicant, fraction=0.75)
    assert not assessment_result(case).passed
    set_commune_flags(COMMUNE, is_dbkk=True)
    assert assessment_result(case).passed


def test_commune_officer_enters_a_paper_self_assessment_on_a_households_behalf(ctx, make):
    subject = make.subject()
    officer = make.reviewer("commune_reviewer", COMMUNE)
    case = start_case(subject.id, "family", date.today().year, officer)
    make.fill(case, officer)
    assert fire_trigger(case.id, "submit", officer).state == "commune_review"
    db.session.commit()
    events = db.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id)).all()
    assert {e.actor_id for e in events} == {officer.id}
    assert {e.trigger for e in events} == {"create", "assess", "submit"}


def test_reviewer_of_another_level_cannot_touch_scores(ctx, make):
    case, applicant = make.case_in("commune_review")
    district = make.reviewer("district_reviewer", DISTRICT)
    with pytest.raises(NotAllowed):
        save_assessment(case.id, [{"code": "2.2", "score": 1, "note": "x"}], district)
    with pytest.raises(NotAllowed):
        save_assessment(case.id, [{"code": "2.2", "score": 1}], applicant)  # no longer a draft
