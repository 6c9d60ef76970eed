"""What the report pages print: every row names its unit, and every figure is rounded and
written the reader's way (89,5 and 1.050 in Vietnamese), a gap with its unit."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime

import pytest
from flask import g
from sqlalchemy import delete

from htsd_workflow.cases.models import StageVisit
from htsd_workflow.cases.operations import fire_trigger, set_round
from htsd_workflow.extensions import db
from htsd_workflow.reports.models import Denominator
from htsd_workflow.reports.queries import bottlenecks, targets
from tests.factories import COMMUNE, DISTRICT
from tests.reports.test_report_outputs import _recognise, pdf_text
from tests.reports.test_reports import YEAR_2026, login, visit

CITY = "Thành phố Kon Tum"


def _page(client, url: str) -> str:
    # the test's app context serves the client's requests: a fresh g each, as on a server
    g.__dict__.clear()
    response = client.get(url)
    assert response.status_code == 200, url
    return response.get_data(as_text=True)


def test_a_district_managers_targets_name_no_row_after_the_province(ctx, make):
    case, _ = make.draft(unit=COMMUNE, year=2018, now=datetime(2018, 3, 1, 2))
    _recognise(case.id, 2018)
    db.session.add(Denominator(unit_code=COMMUNE, year=2018, title="family", count=10))
    db.session.commit()
    rows = targets(make.user("manager", DISTRICT), year=2018, title="family")["rows"]
    assert rows and all(r["unit_name"] for r in rows)
    assert not [r for r in rows if r["unit_code"] == "62" or r["unit_name"] == "Tỉnh Kon Tum"]
    (district,) = [r for r in rows if r["level"] == "district"]
    assert district["unit_name"] == CITY and district["recognized"] == 1
    # the province still sees its own total
    mine = targets(make.user("manager", "62"), year=2018, title="family")["rows"]
    assert [r["unit_name"] for r in mine if r["level"] == "province"] == ["Tỉnh Kon Tum"]


@pytest.mark.pinned_clock
def test_the_district_managers_overview_and_bottlenecks_name_the_districts_own_units(
    ctx, client, make
):
    case, applicant = make.draft("unit", DISTRICT)
    fire_trigger(case.id, "submit", applicant)
    db.session.commit()
    manager = make.user("manager", DISTRICT)
    login(client, manager)
    overview = _page(client, "/overview")
    assert f'data-label="Địa bàn">{CITY} (trực tiếp quản lý)</td>' in overview
    assert 'data-label="Địa bàn">Cấp tỉnh' not in overview
    (row,) = bottlenecks(manager, YEAR_2026)["rows"]
    assert row["stage"] == "district_verification" and row["unit_code"] == ""
    assert row["unit_name"] == f"{CITY} (trực tiếp quản lý)"
    page = _page(client, "/reports/bottlenecks?from=2026-01-01&to=2026-12-31")
    assert f">Huyện · {CITY}" in page  # the chart's row, not "Huyện · "
    assert "Huyện · <" not in page


def test_report_figures_are_rounded_and_written_the_readers_way(ctx, client, make):
    case, _ = make.case_in("draft")
    db.session.execute(delete(StageVisit))
    for days, late in ((1, False), (1, False), (1, False), (3, True)):
        visit(
            case,
            entered_at=datetime(2026, 3, 1, 2),
            left_at=datetime(2026, 3, 10, 2),
            outcome="approve",
            due_at=datetime(2026, 3, 13, 10),
            working_days=days,
            is_late=late,
        )
    db.session.commit()
    manager = make.user("manager", DISTRICT)
    (row,) = bottlenecks(manager, YEAR_2026)["rows"]
    assert row["p90_days"] == 2.4000000000000004  # the raw figure, kept for the API
    login(client, manager)
    query = "from=2026-01-01&to=2026-12-31"
    page = _page(client, f"/reports/bottlenecks?{query}")
    assert "2.4000000000000004" not in page
    assert "<td>2,4</td>" in page and "<td>1,0</td>" in page  # p90 and median, one decimal
    assert "75,0%" in page  # the on-time rate
    pdf = " ".join(pdf_text(client.get(f"/reports/bottlenecks?{query}&format=pdf").data).split())
    assert "2,4" in pdf and "2.4000000000000004" not in pdf
    csv_text = client.get(f"/reports/bottlenecks?{query}&format=csv").data.decode("utf-8-sig")
    assert "2.4000000000000004" not in csv_text and "2,4" in csv_text
    # as Excel on a Vietnamese Windows reads it: ";" between cells, a decimal comma
    header, *rows = csv.reader(io.StringIO(csv_text), delimiter=";")
    assert len(header) > 5 and all(len(r) == len(header) for r in rows)
    with client.session_transaction() as session:
        session["lang"] = "en"
    english = _page(client, f"/reports/bottlenecks?{query}")
    assert "<td>2.4</td>" in english and "75.0%" in english
    g.__dict__.clear()
    english_csv = client.get(f"/reports/bottlenecks?{query}&format=csv").data.decode("utf-8-sig")
    header, *rows = csv.reader(io.StringIO(english_csv))
    assert len(header) > 5 and "2.4" in english_csv and "2,4" not in english_csv


def test_the_figure_format_groups_thousands_and_keeps_one_decimal(app):
    from htsd_workflow.core.pages import format_figure  # (new with this test)

    with app.test_request_context(headers={"Accept-Language": "vi"}):
        g.pop("_login_user", None)
        assert format_figure(1050, 0) == "1.050"
        assert format_figure(89.46) == "89,5"
        assert format_figure(5.400000000000006) == "5,4"
        assert format_figure(60) == "60,0"
        assert format_figure(None) == "—"


def test_a_gap_says_its_unit_and_how_many_more_families(ctx, client, make):
    set_round("family", 2018, date(2018, 1, 1), date(2018, 12, 31), date(2018, 12, 15))
    for _ in range(3):
        case, _ = make.draft(unit=COMMUNE, year=2018, now=datetime(2018, 3, 1, 2))
        _recognise(case.id, 2018)
    db.session.add(Denominator(unit_code=COMMUNE, year=2018, title="family", count=10))
    db.session.commit()
    manager = make.user("manager", "62")
    rows = {r["unit_code"]: r for r in targets(manager, year=2018, title="family")["rows"]}
    commune = rows[COMMUNE]
    assert (commune["percent"], commune["target"], commune["gap"]) == (30.0, 60.0, 30.0)
    assert commune["gap_count"] == 3  # 60 % of 10 households is 6; 3 are recognised
    login(client, manager)
    page = _page(client, "/reports/targets?year=2018&title=family")
    assert "30,0 điểm phần trăm (thêm 3 hộ gia đình)" in page
