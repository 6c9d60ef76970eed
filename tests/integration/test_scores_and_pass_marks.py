"""Scores and pass marks: the score that counts, the ĐBKK mark of the case's year, refusing to
move a failing case forward without an override, and saves that do not overwrite each other."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from htsd_workflow.cases.models import AssessmentItem, Case
from htsd_workflow.cases.operations import assessment_result, save_assessment
from htsd_workflow.core.errors import Conflict
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
        [{"code": "2", "score": 20, "note": "Thiếu minh chứng"}],
        first,
        expected_version=seen,
    )
    db.session.commit()
    with pytest.raises(Conflict):
        save_assessment(
            case.id, [{"code": "2", "score": 30, "note": "Đủ"}], second, expected_version=seen
        )
    db.session.rollback()
    assert assessment_result(db.session.get(Case, case.id)).total == 90
