"""The level applied for (mức độ đăng ký) of a levels-kind set (TT 24/2023): chosen by the
applicant before submitting, and the level reached is read against it — on the form, the
case page, the queue, the pass check and the API."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from flask import g

from htsd_workflow.cases.models import Case
from htsd_workflow.cases.operations import fire_trigger, save_assessment, set_round, start_case
from htsd_workflow.core.errors import BelowPassMark, InvalidInput
from htsd_workflow.extensions import db
from htsd_workflow.subjects.operations import create_subject
from tests.clients import text
from tests.factories import DISTRICT

CODES = ("1.1", "1.2", "2.1", "2.2", "3.1", "3.2")
LEVEL1 = {"1.1", "2.1", "3.1"}


def _unit_case(make, name="Phòng GD&ĐT", met=LEVEL1):
    """A unit managed by the district in 2024 (TT 24/2023's levels), its indicators filled."""
    set_round("unit", 2024, date(2024, 1, 1), date(2024, 12, 31), date(2025, 2, 15))
    unit = create_subject("unit", name, DISTRICT, unit_type="agency")
    applicant = make.applicant(unit)
    case = start_case(unit.id, "unit", 2024, applicant, now=datetime(2024, 3, 1, 3))
    assert case.criteria_set_id == "unit-tt24-2023"
    entries = [{"code": c, "score": 1 if c in met else 0, "evidence": "Biên bản"} for c in CODES]
    save_assessment(case.id, entries, applicant)
    db.session.commit()
    return case, applicant


def test_submit_is_refused_until_a_level_is_applied_for(ctx, make, api, as_user):
    case, applicant = _unit_case(make)
    with pytest.raises(InvalidInput, match="Chưa chọn mức độ đăng ký") as refused:
        fire_trigger(case.id, "submit", applicant)
    assert "level_applied" in refused.value.details
    db.session.rollback()
    # through the API: 422 naming the field, and the case stays a draft
    answer = api(applicant).post(f"/cases/{case.id}/transitions", json={"trigger": "submit"})
    assert answer.status_code == 422
    assert "level_applied" in answer.json["error"]["details"]
    assert api(applicant).get(f"/cases/{case.id}").json["state"] == "draft"
    # the form: a select of the set's levels; "send" without one is refused beside it
    client = as_user(applicant)
    form = text(client.get(f"/cases/{case.id}/assessment"))
    assert 'name="level_applied"' in form and '<option value="level2"' in form
    fields = {"version": str(db.session.get(Case, case.id).version), "action": "send"}
    for code in CODES:
        fields[f"score-{code}"] = "1" if code in LEVEL1 else "0"
    sent = client.post(f"/cases/{case.id}/assessment", {**fields, "level_applied": ""})
    assert sent.status_code == 422
    page = text(sent)
    assert "Chưa chọn mức độ đăng ký" in page and "Bắt buộc chọn mức độ đăng ký" in page
    db.session.expire_all()
    assert db.session.get(Case, case.id).state == "draft"
    fields["version"] = str(db.session.get(Case, case.id).version)
    sent = client.post(f"/cases/{case.id}/assessment", {**fields, "level_applied": "level1"})
    assert sent.status_code == 302, text(sent)
    db.session.expire_all()
    done = db.session.get(Case, case.id)
    assert (done.state, done.level_applied) == ("district_verification", "level1")


def test_applied_for_level_2_reaching_level_1_does_not_pass(ctx, make, api, as_user):
    case, applicant = _unit_case(make)
    save_assessment(case.id, [], applicant, level_applied="level2")
    fire_trigger(case.id, "submit", applicant)
    db.session.commit()
    reviewer = make.reviewer("district_reviewer", DISTRICT)
    assessment = api(reviewer).get(f"/cases/{case.id}").json["assessment"]
    assert assessment["level"]["code"] == "level1" and assessment["passed"] is False
    assert assessment["level_applied"] == {"code": "level2", "label": "Mức độ 2 – Tốt"}
    # the case page and the queue say "applied for X, reached Y"
    page = text(as_user(reviewer).get(f"/cases/{case.id}"))
    assert "Mức độ đăng ký" in page and "Thấp hơn mức độ đăng ký" in page
    g.pop("_login_user", None)
    queue = text(as_user(reviewer).get("/queue"))
    start = queue.index(f'name="case_id" value="{case.id}"')
    row = queue[start : queue.index("</tr>", start)]
    assert "Đăng ký Mức độ 2 – Tốt, đạt Mức độ 1 – Khá" in row and ">Chưa đạt<" in row
    # the reviewer moves it on only with the override reason, as for points
    with pytest.raises(BelowPassMark, match="đăng ký “Mức độ 2 – Tốt” nhưng chỉ đạt"):
        fire_trigger(case.id, "approve", reviewer)
    db.session.rollback()
    refused = api(reviewer).post(f"/cases/{case.id}/transitions", json={"trigger": "approve"})
    assert refused.status_code == 422
    assert refused.json["error"]["code"] == "below_pass_mark"
    assert "override_reason" in refused.json["error"]["details"]
    moved = fire_trigger(case.id, "approve", reviewer, override_reason="Xác minh thực tế")
    assert moved.state == "provincial_confirmation"


def test_applied_for_level_1_reaching_level_2_passes(ctx, make, api):
    case, applicant = _unit_case(make, met=set(CODES))
    save_assessment(case.id, [], applicant, level_applied="level1")
    fire_trigger(case.id, "submit", applicant)
    db.session.commit()
    reviewer = make.reviewer("district_reviewer", DISTRICT)
    assessment = api(reviewer).get(f"/cases/{case.id}").json["assessment"]
    assert assessment["level"]["code"] == "level2" and assessment["passed"] is True
    assert fire_trigger(case.id, "approve", reviewer).state == "provincial_confirmation"


def test_the_level_applied_for_round_trips_through_the_api(ctx, make, api):
    case, applicant = _unit_case(make)
    client = api(applicant)
    put = client.put(
        f"/cases/{case.id}/assessment",
        json={"items": [{"code": "1.1", "score": 1}], "level_applied": "level2"},
    )
    assert put.status_code == 200, put.json
    assert put.json["assessment"]["level_applied"]["code"] == "level2"
    assert client.get(f"/cases/{case.id}").json["assessment"]["level_applied"]["code"] == "level2"
    # left alone when absent, refused when not one of the set's levels, cleared by null
    kept = client.put(f"/cases/{case.id}/assessment", json={"items": [{"code": "1.1", "score": 1}]})
    assert kept.json["assessment"]["level_applied"]["code"] == "level2"
    bad = client.put(
        f"/cases/{case.id}/assessment",
        json={"items": [{"code": "1.1", "score": 1}], "level_applied": "level9"},
    )
    assert bad.status_code == 422 and "level_applied" in bad.json["error"]["details"]
    assert client.get(f"/cases/{case.id}").json["assessment"]["level_applied"]["code"] == "level2"
    cleared = client.put(
        f"/cases/{case.id}/assessment",
        json={"items": [{"code": "1.1", "score": 1}], "level_applied": None},
    )
    assert cleared.json["assessment"]["level_applied"] is None
    # a reviewer does not choose it for the applicant
    client.put(
        f"/cases/{case.id}/assessment",
        json={"items": [{"code": "1.1", "score": 1}], "level_applied": "level1"},
    )
    fire_trigger(case.id, "submit", applicant)
    db.session.commit()
    reviewer = api(make.reviewer("district_reviewer", DISTRICT))
    changed = reviewer.put(
        f"/cases/{case.id}/assessment",
        json={"items": [{"code": "1.2", "score": 1, "note": "x"}], "level_applied": "level2"},
    )
    assert changed.status_code == 422 and "level_applied" in changed.json["error"]["details"]
    assert reviewer.get(f"/cases/{case.id}").json["assessment"]["level_applied"]["code"] == "level1"


def test_a_points_set_has_no_level_to_apply_for(ctx, make, api):
    case, applicant = make.draft(complete=False)
    bad = api(applicant).put(
        f"/cases/{case.id}/assessment",
        json={"items": [{"code": "1.1", "score": 8}], "level_applied": "level1"},
    )
    assert bad.status_code == 422 and "level_applied" in bad.json["error"]["details"]
