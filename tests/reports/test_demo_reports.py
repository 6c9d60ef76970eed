"""Both reports, their charts and exports work on the demo data for the two demo managers."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy import select

from htsd_workflow.auth.models import User
from htsd_workflow.demo.seed import seed_demo
from htsd_workflow.extensions import db
from htsd_workflow.jobs import names
from htsd_workflow.jobs.runner import run_job
from htsd_workflow.reports.pdf_jobs import REPORT_PDF
from htsd_workflow.reports.queries import Filters, bottlenecks, targets
from tests.reports.test_reports import login

DAY = date(2026, 11, 20)
PERIOD = "from=2026-01-01&to=2026-11-20"


@pytest.fixture
def demo(ctx):
    seed_demo(case_count=3000, today=DAY, commune_limit=3)
    db.session.commit()

    def user(name):
        return db.session.scalar(select(User).where(User.username == name))

    return user


@pytest.mark.parametrize(
    "username,scope", [("lanhdaotinh", "Tỉnh Kon Tum"), ("lanhdaohuyen", "Thành phố Kon Tum")]
)
def test_the_demo_managers_open_both_reports_and_every_output(demo, client, username, scope):
    manager = demo(username)
    manager.must_change_password = False
    db.session.commit()
    login(client, manager)
    page = client.get(f"/reports/bottlenecks?{PERIOD}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and html.count("<svg") == 2 and scope in html
    trend = client.get(
        f"/reports/bottlenecks/trend?{PERIOD}", headers={"X-Requested-With": "fetch"}
    )
    assert trend.status_code == 200 and "<polyline" in trend.get_data(as_text=True)
    page = client.get("/reports/targets?year=2026")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "<svg" in html and "Kế hoạch" in html
    for url in (f"/reports/bottlenecks?{PERIOD}", "/reports/targets?year=2026"):
        ran = []
        client.application.extensions.setdefault("htsd_job_runners", {})[names.BUILD_REPORT_PDF] = (
            ran.append
        )
        try:
            pdf = client.get(f"{url}&format=pdf")
        finally:
            client.application.extensions["htsd_job_runners"].pop(names.BUILD_REPORT_PDF, None)
        if pdf.status_code == 302:  # a long report: built by the worker (here: at once)
            run_job(REPORT_PDF, ran[0])
            pdf = client.get(f"/reports/pdf-jobs/{ran[0]}/file")
        assert pdf.status_code == 200
        # the scope heads the first page (reading every page's text took longer than making
        # the PDF: the province's reports are dozens of pages)
        reader = PdfReader(io.BytesIO(pdf.data))
        assert len(reader.pages) >= 1
        assert scope in " ".join(reader.pages[0].extract_text().split())
        rows = list(
            csv.reader(
                io.StringIO(client.get(f"{url}&format=csv").data.decode("utf-8-sig")),
                delimiter=";",
            )
        )
        assert len(rows) > 2
        sheet = load_workbook(io.BytesIO(client.get(f"{url}&format=xlsx").data)).active
        assert sheet.max_row == len(rows)


def test_the_demo_figures_are_not_empty(demo):
    province, district = demo("lanhdaotinh"), demo("lanhdaohuyen")
    period = Filters(date(2026, 1, 1), DAY)
    rows = bottlenecks(province, period)["rows"]
    assert sum(r["waiting"] for r in rows) > 0 and sum(r["completed"] for r in rows) > 0
    assert sum(r["escalated"] for r in rows) > 0  # the seed applies the ladder
    assert sum(r["overdue"] for r in rows) > 0
    mine = bottlenecks(district, period)["rows"]
    assert mine and sum(r["waiting"] for r in mine) < sum(r["waiting"] for r in rows)
    report = targets(district, year=2026)
    # the province's own plan, carried past its end in 2025
    assert report["plan"]["id"] == "kon-tum-2021-2025" and report["plan"]["carried_past_end"]
    by_level = {(r["level"], r["title"]): r for r in report["rows"]}
    assert by_level[("district", "family")]["percent"] is not None
    assert by_level[("direct", "unit")]["denominator"] == 3  # the district's own units
    assert {r["unit_code"] for r in report["rows"] if r["level"] == "district"} == {"608"}
