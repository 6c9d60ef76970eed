"""Scores and pass marks through the API: the ĐBKK mark of the case's year, the override of a
failing case, and assessment saves that do not overwrite each other."""

from __future__ import annotations

from htsd_workflow.cases.operations import fire_trigger
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


def test_second_put_of_the_assessment_from_the_same_version_gets_409(ctx, api, make):
    case, applicant = make.draft(complete=False)
    officer = make.reviewer("commune_reviewer", COMMUNE)
    seen = case.version
    first = api(applicant).put(
        f"/cases/{case.id}/assessment",
        {"items": [{"code": "1.1", "score": 8}], "version": seen},
    )
    assert first.status_code == 200 and first.json["version"] == seen + 1
    second = api(officer).put(
        f"/cases/{case.id}/assessment",
        {"items": [{"code": "1.1", "score": 2}], "version": seen},
    )
    assert second.status_code == 409
    assert second.json["error"]["details"]["current_version"] == seen + 1
    now = api(applicant).get(f"/cases/{case.id}").json
    assert now["assessment"]["items"][0]["score"] == 8


def test_second_reviewer_adjustment_from_the_same_version_gets_409(ctx, api, make):
    case, _ = make.case_in("commune_review")
    seen = case.version
    adjust = {"items": [{"code": "2.2", "score": 10, "note": "Thiếu"}], "version": seen}
    first = api(make.user("commune_reviewer", COMMUNE)).put(f"/cases/{case.id}/assessment", adjust)
    assert first.status_code == 200
    adjust["items"][0]["score"] = 19
    second = api(make.user("commune_reviewer", COMMUNE)).put(f"/cases/{case.id}/assessment", adjust)
    assert second.status_code == 409
    assert first.json["assessment"]["total"] == 90


def _failing(make):
    case, applicant = make.draft()
    make.fill(case, applicant, fraction=0.66)
    fire_trigger(case.id, "submit", applicant)
    db.session.commit()
    return case


def test_approving_a_failing_case_needs_override_reason_kept_in_the_history(ctx, api, make):
    case = _failing(make)
    client = api(make.reviewer("commune_reviewer", COMMUNE))
    refused = client.post(f"/cases/{case.id}/transitions", json={"trigger": "approve"})
    assert refused.status_code == 422
    error = refused.json["error"]
    assert error["code"] == "below_pass_mark" and "66/100" in error["message"]
    assert (error["details"]["total"], error["details"]["pass_mark"]) == (66, 80)
    assert client.get(f"/cases/{case.id}").json["state"] == "commune_review"
    done = client.post(
        f"/cases/{case.id}/transitions",
        json={"trigger": "approve", "override_reason": "Xác minh thực tế đạt"},
    )
    assert done.status_code == 200 and done.json["state"] == "district_verification"
    history = client.get(f"/cases/{case.id}/history").json["items"]
    assert history[-1]["override_reason"] == "Xác minh thực tế đạt"


def test_bulk_over_the_api_skips_failing_cases_unless_overridden(ctx, api, make):
    case = _failing(make)
    client = api(make.reviewer("commune_reviewer", COMMUNE))
    skipped = client.post("/cases/bulk-transitions", json={"ids": [case.id], "trigger": "approve"})
    assert skipped.status_code == 200
    assert skipped.json["failed"][0]["code"] == "below_pass_mark"
    done = client.post(
        "/cases/bulk-transitions",
        json={"ids": [case.id], "trigger": "approve", "override_reason": "Theo biên bản"},
    )
    assert done.json["counts"] == {"succeeded": 1, "failed": 0}


def test_a_district_unit_in_2024_runs_on_tt_24s_levels_page_api_and_queue(ctx, api, as_user, make):
    from datetime import date, datetime

    import pytest

    from htsd_workflow.cases.operations import save_assessment, set_round, start_case
    from htsd_workflow.core.errors import BelowPassMark
    from htsd_workflow.subjects.operations import create_subject
    from tests.clients import text
    from tests.factories import DISTRICT

    set_round("unit", 2024, date(2024, 1, 1), date(2024, 12, 31), date(2025, 2, 15))
    started = datetime(2024, 3, 1, 3)
    cases = {}
    for name, met in (
        ("Phòng GD&ĐT", {"1.1", "2.1", "3.1"}),
        ("Phòng Tư pháp", {"1.1", "1.2", "2.2", "3.2"}),
    ):
        unit = create_subject("unit", name, DISTRICT, unit_type="agency")
        applicant = make.applicant(unit)
        case = start_case(unit.id, "unit", 2024, applicant, now=started)
        assert case.criteria_set_id == "unit-tt24-2023"
        # the applicant's form asks met or not for each indicator, not points
        form = text(as_user(applicant).get(f"/cases/{case.id}/assessment"))
        assert '<option value="1"' in form and "tối đa 1 điểm" not in form
        entries = [
            {"code": c, "score": 1 if c in met else 0, "evidence": "Biên bản"}
            for c in ("1.1", "1.2", "2.1", "2.2", "3.1", "3.2")
        ]
        save_assessment(case.id, entries, applicant, level_applied="level1")
        assert fire_trigger(case.id, "submit", applicant).state == "district_verification"
        cases[name] = case.id
    db.session.commit()
    reviewer = make.reviewer("district_reviewer", DISTRICT)
    good = api(reviewer).get(f"/cases/{cases['Phòng GD&ĐT']}").json["assessment"]
    assert good["kind"] == "levels" and good["passed"] is True
    assert good["level"] == {"code": "level1", "label": "Mức độ 1 – Khá"}
    # four indicators met, more than level 1 asks, but not its own: no level
    short = api(reviewer).get(f"/cases/{cases['Phòng Tư pháp']}").json["assessment"]
    assert short["level"] is None and short["passed"] is False and short["total"] == 4
    page = text(as_user(reviewer).get(f"/cases/{cases['Phòng GD&ĐT']}"))
    assert "Đạt Mức độ 1 – Khá" in page and "Số chỉ số đạt" in page
    queue = text(as_user(reviewer).get("/queue"))
    for name, word in (("Phòng GD&ĐT", ">Đạt<"), ("Phòng Tư pháp", ">Chưa đạt<")):
        start = queue.index(f'name="case_id" value="{cases[name]}"')
        assert word in queue[start : queue.index("</tr>", start)]
    with pytest.raises(BelowPassMark, match="chưa đạt mức độ nào: đạt 4/6 chỉ số"):
        fire_trigger(cases["Phòng Tư pháp"], "approve", reviewer)
