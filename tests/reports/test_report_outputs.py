"""Report outputs and the figures added later: PDF, every table's exports, the weekly trend in
constant queries, department escalations, directly-managed units and the 2015 pilot's counts."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy import event, select, update

from htsd_workflow.cases.models import Case, StageVisit
from htsd_workflow.cases.operations import fire_trigger, set_round
from htsd_workflow.core.time import utcnow
from htsd_workflow.extensions import db
from htsd_workflow.geography.models import Unit
from htsd_workflow.reports.models import Denominator
from htsd_workflow.reports.plans import load_plans, plan_for
from htsd_workflow.reports.queries import Filters, _start, bottlenecks, targets, weekly_trend
from htsd_workflow.sla.operations import scan_sla
from tests.factories import COMMUNE, DISTRICT, OTHER_DISTRICT
from tests.reports.test_reports import YEAR_2026, flow, login, visit, year_2018  # noqa: F401

PILOT_OTHER = "611"  # huyện Ngọc Hồi, the second pilot district


def pdf_text(data: bytes) -> str:
    assert data[:5] == b"%PDF-"
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def test_the_targets_pdf_carries_the_period_scope_figures_and_definitions(
    year_2018,  # noqa: F811
    client,
    make,
):
    login(client, make.user("manager", "62"))
    response = client.get("/reports/targets?year=2018&title=family&format=pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    text = " ".join(pdf_text(response.data).split())
    for words in (
        "Tiến độ so với chỉ tiêu năm 2018",
        "Phạm vi: Tỉnh Kon Tum",
        "KH 189/KH-UBND ngày 03/02/2015 của UBND tỉnh Kon Tum (2016–2020)",
        "Phường Quang Trung",
        "60,0%",  # the commune's 6 of 10 households, written the Vietnamese way
        "53,3%",  # the district's weighted target, one decimal
        "Định nghĩa",
        "bình quân gia quyền",
        "Trung ương Hội Khuyến học Việt Nam",
    ):
        assert words in text, words
    # the chart is inline SVG: its labels are drawn into the PDF too
    assert "Thành phố Kon Tum · Gia đình học tập" in text


def test_the_bottleneck_pdf_and_print_page(flow, client, make):  # noqa: F811
    login(client, make.user("manager", DISTRICT))
    query = "from=2026-01-01&to=2026-12-31"
    page = client.get(f"/reports/bottlenecks?{query}&print=1").get_data(as_text=True)
    assert "report-print.css" in page and "<nav" not in page and "<form" not in page
    assert "Kỳ báo cáo: <strong>01/01/2026 – 31/12/2026</strong>" in page
    response = client.get(f"/reports/bottlenecks?{query}&format=pdf")
    assert response.status_code == 200
    text = " ".join(pdf_text(response.data).split())
    for words in (
        "Điểm nghẽn và thời hạn giải quyết",
        "Kỳ báo cáo: 01/01/2026 – 31/12/2026",
        "Phạm vi: Thành phố Kon Tum",
        "Chờ xã xét duyệt",
        "Phường Quang Trung",
        "Tỷ lệ đúng hạn = 100% − tỷ lệ trễ hạn",
    ):
        assert words in text, words
    assert client.get("/reports/bottlenecks?format=docx").status_code == 422


def test_every_table_has_export_links_that_read_back(flow, client, make):  # noqa: F811
    make.case_in("commune_review")  # a case waiting, for the longest-waiting table
    login(client, make.user("manager", "62"))
    page = client.get("/reports/bottlenecks?from=2026-01-01&to=2026-12-31")
    html = page.get_data(as_text=True)
    # the weekly trend's links come with the trend, which the page fetches after it shows
    trend = client.get(
        "/reports/bottlenecks/trend?from=2026-01-01&to=2026-12-31",
        headers={"X-Requested-With": "fetch"},
    )
    html += trend.get_data(as_text=True)
    expected = {
        "details": "Bước",
        "trend": "Tuần bắt đầu",
        "slowest": "Bước",
        "waiting": "Hồ sơ",
    }
    for table, first_header in expected.items():
        for kind in ("csv", "xlsx"):
            link = f"table={table}&amp;format={kind}"
            assert link in html, link
            url = f"/reports/bottlenecks?from=2026-01-01&to=2026-12-31&table={table}&format={kind}"
            response = client.get(url)
            assert response.status_code == 200, url
            if kind == "csv":
                rows = list(
                    csv.reader(io.StringIO(response.data.decode("utf-8-sig")), delimiter=";")
                )
            else:
                sheet = load_workbook(io.BytesIO(response.data)).active
                rows = [list(r) for r in sheet.iter_rows(values_only=True)]
            assert rows[0][0] == first_header and len(rows) > 1, (table, kind)
    details = load_workbook(
        io.BytesIO(client.get("/reports/bottlenecks?from=2026-01-01&format=xlsx").data)
    ).active
    stages = {r[0] for r in details.iter_rows(min_row=2, values_only=True)}
    assert "Chờ xã xét duyệt" in stages  # in words, not the state's code
    assert client.get("/reports/bottlenecks?table=nope&format=csv").status_code == 422
    targets_page = client.get("/reports/targets?year=2026").get_data(as_text=True)
    assert "format=csv" in targets_page and "format=xlsx" in targets_page


def test_the_screen_page_shows_before_the_trend_which_it_fetches_after(
    flow,  # noqa: F811
    client,
    make,
    monkeypatch,
):
    """The weekly trend reads the period's visits a second time: the screen page does not wait
    for it (it fetches ``/reports/bottlenecks/trend`` with the same filters once shown); the
    printed page, the PDF and the trend's export still carry it."""
    from htsd_workflow.reports import views

    login(client, make.user("manager", "62"))
    query = "from=2026-01-01&to=2026-12-31&title=family"
    computed = []
    real = views.weekly_trend
    monkeypatch.setattr(views, "weekly_trend", lambda *a: computed.append(a) or real(*a))
    page = client.get(f"/reports/bottlenecks?{query}").get_data(as_text=True)
    assert not computed and "<polyline" not in page
    src = f"/reports/bottlenecks/trend?{query.replace('&', '&amp;')}"
    assert f'data-fragment-src="{src}"' in page
    assert "Đang tải biểu đồ xu hướng theo tuần…" in page and "<noscript>" in page

    fragment = client.get(
        f"/reports/bottlenecks/trend?{query}", headers={"X-Requested-With": "fetch"}
    )
    text = fragment.get_data(as_text=True)
    assert fragment.status_code == 200 and len(computed) == 1
    assert computed[0][1] == Filters(date(2026, 1, 1), date(2026, 12, 31), title="family")
    assert "<polyline" in text and "Số liệu theo tuần" in text and "<nav" not in text
    assert (
        "/reports/bottlenecks?from=2026-01-01&amp;to=2026-12-31&amp;title=family&amp;table=trend&amp;format=csv"
        in text
    )
    # opened without JavaScript (the noscript link): a page of its own, with the way back
    alone = client.get(f"/reports/bottlenecks/trend?{query}").get_data(as_text=True)
    assert "<nav" in alone and "<polyline" in alone and "Về báo cáo điểm nghẽn" in alone
    assert client.get("/reports/bottlenecks/trend?from=nope").status_code == 422

    printed = client.get(f"/reports/bottlenecks?{query}&print=1").get_data(as_text=True)
    assert "<polyline" in printed and "data-fragment-src" not in printed
    assert len(computed) == 3  # the fragment, the page of its own, the printed page
    login(client, make.user("commune_reviewer", COMMUNE))
    assert client.get("/reports/bottlenecks/trend").status_code == 403


def test_the_weekly_trend_matches_a_week_by_week_count(flow, make):  # noqa: F811
    manager = make.user("manager", "62")
    weeks = weekly_trend(manager, YEAR_2026)
    visits = db.session.scalars(select(StageVisit)).all()
    assert len(weeks) == 53
    for week in weeks:
        start = _start(date.fromisoformat(week["week"]))
        end = _start(date.fromisoformat(week["week"]) + timedelta(days=7))
        assert week["arrived"] == sum(start <= v.entered_at < end for v in visits)
        assert week["completed"] == sum(
            v.left_at is not None and start <= v.left_at < end for v in visits
        )
        assert week["overdue_backlog"] == sum(
            v.entered_at < end
            and v.due_at is not None
            and v.due_at < end
            and (v.left_at is None or v.left_at >= end)
            for v in visits
        ), week
    assert max(w["overdue_backlog"] for w in weeks) >= 2  # the figure is exercised


class QueryCounter:
    def __init__(self):
        self.count = 0

    def __enter__(self):
        event.listen(db.engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *exc):
        event.remove(db.engine, "before_cursor_execute", self._count)

    def _count(self, *args, **kwargs):
        self.count += 1


def test_report_pages_run_a_fixed_number_of_queries(year_2018, client, make):  # noqa: F811
    login(client, make.user("manager", "62"))
    counts = {}
    for n in (1, 5):  # five times the data of every kind must not add queries
        for _ in range(n):
            make.case_in("commune_review")
            make.case_in("district_verification", unit="23500")
        for url in (
            "/reports/bottlenecks?from=2026-01-01&to=2026-12-31",
            "/reports/targets?year=2018",
            "/reports/denominators?year=2018",
        ):
            client.get(url)  # warm caches filled once per process (calendar, plans)
            with QueryCounter() as counter:
                assert client.get(url).status_code == 200
            counts.setdefault(url, []).append(counter.count)
    for url, (before, after) in counts.items():
        # the session's identity map may save a look-up the second time, never add one
        assert after <= before, (url, before, after)
        assert after <= 25, (url, after)


def test_department_sign_off_visits_are_escalated(ctx, make):
    case, _ = make.case_in("provincial_confirmation")
    fire_trigger(case.id, "sign", make.reviewer("education_reviewer", "62"))
    db.session.commit()
    due = db.session.get(Case, case.id).due_at
    scan_sla(now=due + timedelta(days=2))
    visits = {
        v.stage: v.is_escalated
        for v in db.session.scalars(
            select(StageVisit).where(StageVisit.case_id == case.id, StageVisit.left_at.is_(None))
        )
    }
    assert visits == {"provincial_confirmation": True, "provincial_confirmation:culture": True}
    today = utcnow().date()
    report = bottlenecks(
        make.user("manager", "62"),
        Filters(today - timedelta(days=30), today + timedelta(days=30)),
        now=due + timedelta(days=2),
    )
    escalated = {r["stage"]: r["escalated"] for r in report["rows"]}
    assert escalated["provincial_confirmation"] == 1
    assert escalated["provincial_confirmation:culture"] == 1
    assert escalated["provincial_confirmation:education"] == 0  # signed before the deadline


def _recognise(case_id: int, year: int) -> None:
    db.session.execute(
        update(Case)
        .where(Case.id == case_id)
        .values(state="recognized", is_open=False, submitted_at=datetime(year, 3, 2), year=year)
    )


def test_units_managed_by_a_district_or_the_province_count_in_the_targets(ctx, make):
    for code in (DISTRICT, "62"):
        case, _ = make.draft("unit", code, year=2018, now=datetime(2018, 3, 1, 2))
        _recognise(case.id, 2018)
    db.session.add(Denominator(unit_code=DISTRICT, year=2018, title="unit", count=4))
    db.session.add(Denominator(unit_code="62", year=2018, title="unit", count=2))
    db.session.add(Denominator(unit_code=COMMUNE, year=2018, title="unit", count=6))
    db.session.commit()
    report = targets(make.user("manager", "62"), year=2018, title="unit")
    rows = {(r["unit_code"], r["level"]): r for r in report["rows"]}
    direct = rows[(DISTRICT, "direct")]
    assert (direct["denominator"], direct["recognized"], direct["percent"]) == (4, 1, 25.0)
    assert direct["target"] == 50.0  # the plan's rate, not a ĐBKK one
    district = rows[(DISTRICT, "district")]
    assert (district["denominator"], district["recognized"], district["percent"]) == (10, 1, 10.0)
    province = rows[("62", "province")]
    assert (province["denominator"], province["recognized"]) == (12, 2)
    assert rows[("62", "direct")]["recognized"] == 1
    # a district manager sees their district's own units, not the province's
    mine = targets(make.user("manager", DISTRICT), year=2018, title="unit")["rows"]
    assert {(r["unit_code"], r["level"]) for r in mine if r["level"] == "direct"} == {
        (DISTRICT, "direct")
    }
    other = targets(make.user("manager", OTHER_DISTRICT), year=2018, title="unit")["rows"]
    assert all(r["recognized"] == 0 for r in other)


def test_the_2015_pilot_compares_recognised_counts_with_the_plans_counts(ctx, make, client):
    assert plan_for(load_plans("workflows/plans"), "62", 2015).id == "kon-tum-pilot-2015"
    set_round("family", 2015, date(2015, 1, 1), date(2015, 12, 31), date(2015, 12, 15))
    for _ in range(20):  # Kon Tum city reaches its 20 families
        case, _ = make.draft(unit=COMMUNE, year=2015, now=datetime(2015, 3, 1, 2))
        _recognise(case.id, 2015)
    ngoc_hoi_commune = db.session.scalar(
        select(Unit.code).where(Unit.level == "commune", Unit.district_code == PILOT_OTHER)
    )
    for _ in range(3):  # Ngọc Hồi has 3
        case, _ = make.draft(unit=ngoc_hoi_commune, year=2015, now=datetime(2015, 3, 1, 2))
        _recognise(case.id, 2015)
    case, _ = make.draft(unit="23500", year=2015, now=datetime(2015, 3, 1, 2))  # not a pilot
    _recognise(case.id, 2015)
    db.session.commit()
    manager = make.user("manager", "62")
    report = targets(manager, year=2015, title="family")
    assert report["plan"]["kind"] == "count"
    rows = {(r["unit_code"], r["level"]): r for r in report["rows"]}
    city, ngoc_hoi = rows[(DISTRICT, "district")], rows[(PILOT_OTHER, "district")]
    assert (city["recognized"], city["target"], city["gap"], city["on_track"]) == (
        20,
        20.0,
        0.0,
        True,
    )
    assert (ngoc_hoi["recognized"], ngoc_hoi["target"], ngoc_hoi["gap"]) == (3, 20.0, 17.0)
    assert ngoc_hoi["on_track"] is False
    other = rows[(OTHER_DISTRICT, "district")]
    assert other["target"] is None and other["on_track"] is None  # not a pilot district
    province = rows[("62", "province")]
    assert (province["target"], province["gap"]) == (40.0, 17.0)  # 23 of 2 × 20
    assert rows[(COMMUNE, "commune")]["target"] is None  # counts are per district
    assert "không phải %" in report["definitions"]["target"]
    login(client, manager)
    html = client.get("/reports/targets?year=2015&title=family").get_data(as_text=True)
    assert "Thí điểm năm 2015" in html and "Chỉ tiêu (số lượng)" in html
    assert "giao chỉ tiêu bằng số lượng, không phải tỷ lệ" in html
    sheet = load_workbook(
        io.BytesIO(client.get("/reports/targets?year=2015&title=family&format=xlsx").data)
    ).active
    header = [c.value for c in sheet[1]]
    assert "Chỉ tiêu (số lượng)" in header and "Chỉ tiêu (%)" not in header


@pytest.mark.parametrize("year,plan", [(2016, "kon-tum-2016-2020"), (2014, "qd-281-2014-2020")])
def test_the_pilot_is_in_force_in_2015_only(year, plan):
    assert plan_for(load_plans("workflows/plans"), "62", year).id == plan


def test_returned_and_withdrawn_are_counted_apart_from_done(flow, make):  # noqa: F811
    visit(
        flow,
        entered_at=datetime(2026, 6, 1, 2),
        left_at=datetime(2026, 6, 30, 2),
        outcome="withdraw",
        working_days=20,
        is_late=True,
        due_at=datetime(2026, 6, 12, 10),
    )
    db.session.commit()
    report = bottlenecks(make.user("manager", DISTRICT), YEAR_2026, now=datetime(2026, 11, 28, 3))
    (row,) = report["rows"]
    assert (row["returned"], row["withdrawn"]) == (1, 1)
    assert (row["late_done"], row["on_time_done"]) == (1, 4)  # neither is a decision
    assert row["completed"] == 7 and row["to_handle"] == 9
    assert row["late_rate"] == round(2 / 9, 4)  # 1 late in progress + 1 late decision
