"""Reports for the commune's own title and for sets of levels: the targets count each commune
once and the levels reached beside the recognised; the bottlenecks and the lists of the
recognised carry the commune title (kept 36 months)."""

from __future__ import annotations

import csv
import io
from datetime import date

from flask import g

from htsd_workflow.cases.operations import fire_trigger, save_assessment, start_case
from htsd_workflow.decisions.lists import recognitions
from htsd_workflow.decisions.operations import draft_decision, issue_decision
from htsd_workflow.extensions import db
from htsd_workflow.reports.queries import bottlenecks, parse_filters, targets
from htsd_workflow.subjects.operations import create_subject
from tests.clients import text
from tests.factories import COMMUNE, DISTRICT, OTHER_COMMUNE_SAME_DISTRICT, PROVINCE

YEAR = 2026
LEVEL1 = {"1.1", "1.2", "2.1", "3.1", "4.1", "5.1"}


def commune_case(make, code: str, met: set[str] | None, *, to: str = "recognized"):
    """A commune's case for YEAR with ``met`` indicators (None: all), driven to ``to``."""
    subject = create_subject("commune", f"Xã {code}", code)
    officer = make.reviewer("commune_reviewer", code)
    case = start_case(subject.id, "commune", YEAR, officer)
    entries = [
        {"code": item.code, "score": 1 if met is None or item.code in met else 0, "evidence": "x"}
        for item in case.items
    ]
    save_assessment(case.id, entries, officer, level_applied="level1")
    fire_trigger(case.id, "submit", officer)
    if to != "district_verification":
        fire_trigger(case.id, "approve", make.reviewer("district_reviewer", DISTRICT))
        for role in ("education_reviewer", "culture_reviewer"):
            fire_trigger(case.id, "sign", make.reviewer(role, PROVINCE))
    db.session.commit()
    return case


def test_targets_count_each_commune_once_and_the_levels_reached(ctx, make, as_user):
    commune_case(make, COMMUNE, None)
    commune_case(make, OTHER_COMMUNE_SAME_DISTRICT, LEVEL1)
    manager = make.user("manager", PROVINCE)
    report = targets(manager, year=YEAR, title="commune")
    assert report["levels"][:2] == [
        {"code": "level1", "label": "Mức độ 1 – Khá"},
        {"code": "level2", "label": "Mức độ 2 – Tốt"},
    ]
    rows = {(r["unit_code"], r["level"]): r for r in report["rows"]}
    mine = rows[(COMMUNE, "commune")]
    # the commune itself: one, entered by no one
    assert (mine["denominator"], mine["recognized"], mine["percent"]) == (1, 1, 100.0)
    assert mine["levels"] == {"level2": 1}
    assert rows[(OTHER_COMMUNE_SAME_DISTRICT, "commune")]["levels"] == {"level1": 1}
    district = rows[(DISTRICT, "district")]
    assert district["recognized"] == 2 and district["levels"] == {"level1": 1, "level2": 1}
    # every commune of the district counts one
    assert district["denominator"] == len(_district_rows(report, DISTRICT)) > 2
    assert rows[(PROVINCE, "province")]["levels"] == {"level1": 1, "level2": 1}
    # the points titles count no levels
    family = targets(manager, year=YEAR, title="family")["rows"]
    assert all(r["levels"] == {} for r in family)
    # on the page, beside the recognised; and in the export
    g.pop("_login_user", None)
    browser = as_user(manager)
    page = text(browser.get(f"/reports/targets?year={YEAR}&title=commune"))
    assert "Mức độ 1 – Khá: 1; Mức độ 2 – Tốt: 1" in page
    exported = browser.get(f"/reports/targets?year={YEAR}&title=commune&format=csv")
    table = list(csv.DictReader(io.StringIO(exported.data.decode("utf-8-sig")), delimiter=";"))
    assert {r["Mức độ đạt được"] for r in table if r["Mã đơn vị"] == COMMUNE} == {
        "Mức độ 2 – Tốt: 1"
    }


def _district_rows(report, district):
    from sqlalchemy import select

    from htsd_workflow.geography.models import Unit

    codes = set(
        db.session.scalars(
            select(Unit.code).where(Unit.district_code == district, Unit.level == "commune")
        )
    )
    return [r for r in report["rows"] if r["level"] == "commune" and r["unit_code"] in codes]


def test_the_bottlenecks_show_the_communes_waiting_at_the_district(ctx, make):
    commune_case(make, COMMUNE, None, to="district_verification")
    report = bottlenecks(
        make.user("manager", PROVINCE),
        parse_filters({"from": "2026-01-01", "to": "2026-12-31", "title": "commune"}),
    )
    waiting = {r["stage"]: r["waiting"] for r in report["rows"] if r["waiting"]}
    assert waiting == {"district_verification": 1}


def test_the_list_of_the_recognised_keeps_a_commune_36_months(ctx, make):
    case = commune_case(make, COMMUNE, None)
    officer = make.reviewer("district_reviewer", DISTRICT)
    decision = draft_decision("commune", YEAR, DISTRICT, officer)
    issue_decision(
        decision.id, "3", date(2026, 12, 20), "Nguyễn Văn A", make.user("manager", DISTRICT)
    )
    db.session.commit()
    from htsd_workflow.cases.models import Case

    scope = Case.province_code == PROVINCE
    for year, listed in ((2026, True), (2029, True), (2030, False)):
        found = recognitions(scope, year, title="commune", valid_in=True)
        assert [r["case_id"] for r in found] == ([case.id] if listed else []), year


def test_a_district_unit_on_tt_24_counts_its_level_on_the_direct_row(ctx, make):
    from datetime import datetime

    from htsd_workflow.cases.operations import set_round

    set_round("unit", 2024, date(2024, 1, 1), date(2024, 12, 31), date(2025, 2, 15))
    started = datetime(2024, 3, 1, 3)
    unit = create_subject("unit", "Phòng GD&ĐT", DISTRICT, unit_type="agency")
    applicant = make.applicant(unit)
    case = start_case(unit.id, "unit", 2024, applicant, now=started)
    assert case.criteria_set_id == "unit-tt24-2023"
    met = {"1.1", "2.1", "3.1"}
    entries = [
        {"code": i.code, "score": 1 if i.code in met else 0, "evidence": "x"} for i in case.items
    ]
    save_assessment(case.id, entries, applicant, now=started, level_applied="level1")
    fire_trigger(case.id, "submit", applicant, now=started)
    fire_trigger(case.id, "approve", make.reviewer("district_reviewer", DISTRICT), now=started)
    for role in ("education_reviewer", "culture_reviewer"):
        fire_trigger(case.id, "sign", make.reviewer(role, PROVINCE), now=started)
    # a commune-managed unit of the same year: QĐ 448's points, no level
    points, _ = make.draft("unit", COMMUNE, year=2024, now=started)
    assert points.criteria_set_id == "unit-qd448"
    db.session.commit()
    rows = {
        (r["unit_code"], r["level"]): r
        for r in targets(make.user("manager", PROVINCE), year=2024, title="unit")["rows"]
    }
    assert rows[(DISTRICT, "direct")]["levels"] == {"level1": 1}
    assert rows[(DISTRICT, "district")]["levels"] == {"level1": 1}
    assert rows[(COMMUNE, "commune")]["levels"] == {}
