"""Report figures against hand-built data whose answers are known."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime

import pytest
from flask import g
from openpyxl import load_workbook
from sqlalchemy import delete, update

from htsd_workflow.api.framework import issue_token
from htsd_workflow.cases.models import Case, StageVisit
from htsd_workflow.cases.operations import set_round
from htsd_workflow.extensions import db
from htsd_workflow.geography.models import DbkkPeriod
from htsd_workflow.reports.exports import to_csv
from htsd_workflow.reports.models import Denominator
from htsd_workflow.reports.plans import load_plans, plan_for
from htsd_workflow.reports.queries import Filters, bottlenecks, percentile, targets
from tests.factories import COMMUNE, DISTRICT, OTHER_DISTRICT

NOW = datetime(2026, 11, 28, 3)
YEAR_2026 = Filters(date(2026, 1, 1), date(2026, 12, 31))


def visit(case, **values):
    base = {
        "case_id": case.id,
        "stage": "commune_review",
        "title": "family",
        "year": 2026,
        "province_code": case.province_code,
        "district_code": case.district_code,
        "commune_code": case.commune_code,
        "is_escalated": False,
    }
    db.session.add(StageVisit(**{**base, **values}))


@pytest.fixture
def flow(ctx, make):
    case, _ = make.case_in("draft")
    far, _ = make.case_in("draft", unit="23500")
    db.session.execute(delete(StageVisit))
    done = dict(
        entered_at=datetime(2026, 3, 1, 2),
        left_at=datetime(2026, 3, 10, 2),
        outcome="approve",
        due_at=datetime(2026, 3, 13, 10),
    )
    for days, late in ((1, False), (2, False), (3, False), (4, False), (10, True)):
        visit(case, working_days=days, is_late=late, **done)
    visit(case, entered_at=datetime(2026, 11, 1, 2), due_at=datetime(2026, 11, 10, 10))
    visit(case, entered_at=datetime(2026, 11, 25, 2), due_at=datetime(2026, 12, 20, 10))
    visit(
        case,
        entered_at=datetime(2026, 4, 1, 2),
        left_at=datetime(2026, 4, 5, 2),
        outcome="return_to_applicant",
        working_days=2,
        is_late=False,
        due_at=datetime(2026, 4, 15, 10),
    )
    visit(far, entered_at=datetime(2026, 5, 1, 2), due_at=datetime(2026, 5, 5, 10))
    db.session.commit()
    return case


def test_bottleneck_figures_for_a_district_manager(flow, make):
    manager = make.user("manager", DISTRICT)
    report = bottlenecks(manager, YEAR_2026, now=NOW)
    assert report["group_by"] == "commune"
    (row,) = report["rows"]  # the other district's visit is not in scope
    assert row["unit_code"] == COMMUNE
    assert (row["waiting"], row["arrived"], row["completed"]) == (2, 8, 6)
    assert (row["overdue"], row["returned"], row["to_handle"]) == (1, 1, 8)
    assert row["median_days"] == 2.5 and row["p90_days"] == 7.0
    assert row["late_rate"] == 0.25 and row["on_time_rate"] == 0.75
    # done late / on time: decisions only; the return is counted on its own
    assert (row["late_done"], row["on_time_done"], row["not_yet_due"]) == (1, 4, 1)


def test_province_manager_sees_districts(flow, make):
    rows = bottlenecks(make.user("manager", "62"), YEAR_2026, now=NOW)["rows"]
    assert {r["unit_code"] for r in rows} == {DISTRICT, OTHER_DISTRICT}


def test_percentile_matches_postgresql_percentile_cont():
    assert percentile([1, 2, 2, 3, 4, 10], 0.5) == 2.5
    assert percentile([1, 2, 2, 3, 4, 10], 0.9) == 7.0
    assert percentile([5], 0.9) == 5.0


def test_the_plan_in_force_by_year():
    plans = load_plans("workflows/plans")
    assert plan_for(plans, "62", 2018).id == "kon-tum-2016-2020"
    # the province's KH 1514 takes precedence over the national QĐ 387 for 2021–2025
    assert plan_for(plans, "62", 2023).id == "kon-tum-2021-2025"
    assert plan_for(plans, "01", 2023).id == "qd-387-2021-2025"
    # the latest stays in force after its end (QĐ 387's 2030 figures are not known)
    assert plan_for(plans, "62", 2027).id == "kon-tum-2021-2025"
    assert plans["kon-tum-2021-2025"].carried_past_end(2027)
    assert plans["kon-tum-2016-2020"].target("family", True) == 50


@pytest.fixture
def year_2018(ctx, make):
    set_round("family", 2018, date(2018, 1, 1), date(2018, 12, 31), date(2018, 12, 15))
    db.session.add(DbkkPeriod(unit_code="23284", from_year=2016, to_year=2020))
    for code, count in ((COMMUNE, 10), ("23284", 20)):
        db.session.add(Denominator(unit_code=code, year=2018, title="family", count=count))

    def cases(unit, state, n):
        for _ in range(n):
            case, _ = make.draft(unit=unit, year=2018, now=datetime(2018, 3, 1, 2))
            db.session.execute(
                update(Case)
                .where(Case.id == case.id)
                .values(state=state, submitted_at=datetime(2018, 3, 2))
            )

    cases(COMMUNE, "recognized", 6)
    cases(COMMUNE, "commune_review", 1)
    cases(COMMUNE, "withdrawn", 1)
    cases("23284", "recognized", 10)
    cases("23287", "recognized", 3)
    db.session.commit()


def test_targets_with_dbkk_weighted_mix_and_missing_denominators(year_2018, make):
    report = targets(make.user("manager", "62"), year=2018, title="family")
    assert report["plan"]["id"] == "kon-tum-2016-2020"
    rows = {r["unit_code"]: r for r in report["rows"]}
    commune = rows[COMMUNE]
    assert (commune["denominator"], commune["registered"], commune["recognized"]) == (10, 7, 6)
    assert (commune["percent"], commune["target"], commune["gap"]) == (60.0, 60.0, 0.0)
    assert commune["on_track"] is True
    dbkk = rows["23284"]
    assert dbkk["is_dbkk"] and dbkk["target"] == 50 and dbkk["percent"] == 50.0
    missing = rows["23287"]
    assert missing["denominator"] is None and missing["percent"] is None  # never 0 %
    district = rows[DISTRICT]
    assert district["denominator"] == 30 and district["target"] == 53.33
    assert district["percent"] == 53.33 and district["recognized"] == 19
    assert district["missing_denominators"] == 19  # 21 wards, two with figures


def test_targets_for_2023_follow_kh_1514s_path_and_show_its_end_target(ctx, make, client):
    # 2020, the year before KH 1514's period: 3 of 10 households recognised (30 %)
    for year, recognised in ((2020, 3), (2023, 6)):
        set_round("family", year, date(year, 1, 1), date(year, 12, 31), date(year, 12, 15))
        db.session.add(Denominator(unit_code=COMMUNE, year=year, title="family", count=10))
        for _ in range(recognised):
            case, _ = make.draft(unit=COMMUNE, year=year, now=datetime(year, 3, 1, 2))
            db.session.execute(
                update(Case)
                .where(Case.id == case.id)
                .values(state="recognized", submitted_at=datetime(year, 3, 2))
            )
    db.session.commit()
    manager = make.user("manager", "62")
    report = targets(manager, year=2023, title="family")
    assert report["plan"]["id"] == "kon-tum-2021-2025"
    assert not report["plan"]["carried_past_end"]
    commune = {r["unit_code"]: r for r in report["rows"]}[COMMUNE]
    # from 30 % (2020) to 80 % by 2025: 2023 is the third of five years, 60 % on the path
    assert (commune["baseline"], commune["path"], commune["target"]) == (30.0, 60.0, 80.0)
    assert commune["percent"] == 60.0 and commune["on_track"] is True
    assert commune["gap"] == 20.0  # to the end target
    login(client, manager)
    page = client.get("/reports/targets?year=2023&title=family").get_data(as_text=True)
    assert "KH 1514/KH-UBND" in page and "Lộ trình năm" in page and "Chỉ tiêu cuối kỳ" in page
    assert "60%" in page.replace(",0%", "%") and "80%" in page.replace(",0%", "%")
    # after 2025 the plan is carried and the page says so
    later = client.get("/reports/targets?year=2027&title=family").get_data(as_text=True)
    assert "kết thúc năm 2025" in later and "tiếp tục áp dụng" in later


def test_a_district_manager_sees_only_their_district(year_2018, make):
    rows = targets(make.user("manager", OTHER_DISTRICT), year=2018, title="family")["rows"]
    assert rows and all(r["unit_code"] != COMMUNE for r in rows)
    assert {r["unit_code"] for r in rows if r["level"] == "district"} == {OTHER_DISTRICT}


def login(client, user):
    g.pop("_login_user", None)
    with client.session_transaction() as session:
        session["_user_id"] = user.get_id()
        session["_fresh"] = True


def test_pages_charts_and_exports_read_back(year_2018, client, make):
    manager = make.user("manager", "62")
    login(client, manager)
    page = client.get("/reports/targets?year=2018&title=family")
    assert page.status_code == 200 and "<svg" in page.get_data(as_text=True)
    assert "KH 189/KH-UBND ngày 03/02/2015" in page.get_data(as_text=True)
    sheet = load_workbook(
        io.BytesIO(client.get("/reports/targets?year=2018&title=family&format=xlsx").data)
    ).active
    header = [c.value for c in sheet[1]]
    assert header[:3] == ["Mã đơn vị", "Đơn vị", "Cấp"]
    codes = [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert COMMUNE in codes
    text = client.get("/reports/targets?year=2018&format=csv").data.decode("utf-8-sig")
    assert next(csv.reader(io.StringIO(text), delimiter=";"))[0] == "Mã đơn vị"
    bottleneck = client.get("/reports/bottlenecks")
    html = bottleneck.get_data(as_text=True)
    assert bottleneck.status_code == 200 and html.count("<svg") == 2  # rates, funnel
    assert 'data-fragment-src="/reports/bottlenecks/trend' in html  # the trend comes after
    trend = client.get("/reports/bottlenecks/trend", headers={"X-Requested-With": "fetch"})
    assert trend.status_code == 200 and "<polyline" in trend.get_data(as_text=True)
    assert client.get("/reports/bottlenecks?from=nope").status_code == 422
    login(client, make.user("commune_reviewer", COMMUNE))
    assert client.get("/reports/targets").status_code == 403


def test_exported_cells_that_a_spreadsheet_would_run_are_inert():
    data = to_csv(
        [("name", "Tên")],
        [
            {"name": '=HYPERLINK("http://x")'},
            {"name": "+1"},
            {"name": "-2"},
            {"name": "@SUM(A1)"},
            {"name": "An"},
        ],
    )
    cells = [row[0] for row in csv.reader(io.StringIO(data.decode("utf-8-sig")))][1:]
    assert cells == ['\'=HYPERLINK("http://x")', "'+1", "'-2", "'@SUM(A1)", "An"]


def test_the_api_gives_the_same_figures(year_2018, ctx, make):
    manager = make.user("manager", "62")
    manager.must_change_password = False
    token, _ = issue_token(manager)
    db.session.commit()
    client = ctx.test_client()
    response = client.get(
        "/api/v1/reports/targets?year=2018&title=family",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200
    row = next(r for r in response.json["rows"] if r["unit_code"] == COMMUNE)
    assert row["percent"] == 60.0 and row["target"] == 60.0
    bottleneck = client.get(
        "/api/v1/reports/bottlenecks", headers={"Authorization": f"Bearer {token}"}
    )
    assert bottleneck.status_code == 200 and "definitions" in bottleneck.json


def test_an_unknown_unit_is_a_clear_422_on_every_report(ctx, client, make):
    """A unit code that names no unit (a blank, a typo) is refused naming the code, on the
    pages and in the API — never a 500."""
    manager = make.user("manager", "62")
    manager.must_change_password = False
    token, _ = issue_token(manager)
    db.session.commit()
    login(client, manager)
    for path in ("/reports/targets", "/reports/bottlenecks", "/reports/bottlenecks/trend"):
        for code in (" ", "99999"):
            response = client.get(path, query_string={"unit": code})
            assert response.status_code == 422, (path, code)
            assert f"Không có đơn vị mã “{code}”" in response.get_data(as_text=True)
    for path in ("/api/v1/reports/targets", "/api/v1/reports/bottlenecks"):
        response = client.get(
            path, query_string={"unit": "99999"}, headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 422, path
    assert client.get("/reports/targets", query_string={"unit": COMMUNE}).status_code == 200


def test_weekly_trend_matches_a_count_made_visit_by_visit(flow, make):
    """The weekly trend (a few grouped queries) against the definitions applied in Python to
    visits that start before, inside and after the period, open and closed, late and not."""
    import random
    from datetime import timedelta

    from htsd_workflow.reports.queries import _start, weekly_trend

    db.session.execute(delete(StageVisit))  # only the visits below
    rng = random.Random(5)
    origin = datetime(2025, 11, 1)
    visits = []
    for _ in range(300):
        entered = origin + timedelta(hours=rng.randrange(0, 24 * 450))
        left = entered + timedelta(hours=rng.randrange(1, 24 * 60)) if rng.random() < 0.7 else None
        due = entered + timedelta(hours=rng.randrange(1, 24 * 30)) if rng.random() < 0.9 else None
        visit(flow, entered_at=entered, left_at=left, due_at=due)
        visits.append((entered, left, due))
    db.session.commit()
    manager = make.user("manager", DISTRICT)
    filters = Filters(date(2026, 1, 7), date(2026, 9, 30))
    first = date(2026, 1, 5)
    days = [first + timedelta(days=7 * k) for k in range(39)]
    expected = []
    for day in days:
        start, end = _start(day), _start(day + timedelta(days=7))
        arrived = sum(start <= e < end for e, _l, _d in visits)
        completed = sum(left is not None and start <= left < end for _e, left, _d in visits)
        # overdue from the later of arrival and due moment, until it leaves
        backlog = sum(
            due is not None
            and max(e, due) < end
            and (left is None or (left >= end and left > max(e, due)))
            for e, left, due in visits
        )
        expected.append((arrived, completed, backlog))
    assert any(b for _a, _c, b in expected) and any(a for a, _c, _b in expected)
    weeks = weekly_trend(manager, filters)
    assert [w["week"] for w in weeks] == [d.isoformat() for d in days]
    assert [(w["arrived"], w["completed"], w["overdue_backlog"]) for w in weeks] == expected
