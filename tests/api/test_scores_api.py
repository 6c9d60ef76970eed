"""Scores and pass marks through the API: the ĐBKK mark of the case's year, the override of a
failing case, and assessment saves that do not overwrite each other."""

from __future__ import annotations

from htsd_workflow.extensions import db
from htsd_workflow.geography.operations import set_commune_flags
from tests.factories import COMMUNE


def test_case_answer_uses_the_dbkk_list_of_the_cases_year(ctx, api, make):
    case, applicant = make.draft()
    make.fill(case, applicant, fraction=0.75)
    set_commune_flags(COMMUNE, is_dbkk=True, from_year=2016, to_year=2020)
    db.session.commit()
    answer = api(applicant).get(f"/cases/{case.id}").json
    assert answer["assessment"]["total"] == 75 and answer["assessment"]["passed"] is False
