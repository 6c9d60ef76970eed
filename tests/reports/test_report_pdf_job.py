"""A long report's PDF is built by the worker with a progress bar; a short one comes at once.

Measured (issue 21): the targets PDF of the whole province (455 table rows, 18 pages) took
WeasyPrint 4.7–7.4 s on an idle 2-core machine — a request that showed nothing meanwhile."""

from __future__ import annotations

from flask import g

from htsd_workflow.extensions import db
from htsd_workflow.jobs import names
from htsd_workflow.jobs.runner import run_job
from htsd_workflow.reports.models import ReportPdfJob
from htsd_workflow.reports.pdf_jobs import REPORT_PDF
from tests.factories import COMMUNE, DISTRICT
from tests.reports.test_reports import login


def test_a_long_report_pdf_is_built_in_the_background_with_progress(ctx, client, make):
    ran = []
    ctx.config["REPORT_PDF_INLINE_MAX_ROWS"] = 5
    ctx.extensions.setdefault("htsd_job_runners", {})[names.BUILD_REPORT_PDF] = ran.append
    try:
        manager = make.user("manager", DISTRICT)
        login(client, manager)
        started = client.get("/reports/targets?year=2026&format=pdf")
        assert started.status_code == 302
        job_id = ran[0]
        assert started.headers["Location"].endswith(f"/reports/pdf-jobs/{job_id}")
        page = client.get(started.headers["Location"]).get_data(as_text=True)
        assert "data-progress-url" in page and "Đang dàn trang báo cáo" in page
        assert client.get(f"/reports/pdf-jobs/{job_id}/file").status_code == 404  # not yet
        queued = client.get(f"/reports/pdf-jobs/{job_id}/status").get_json()
        assert queued["total"] == 2 and queued["done"] == 0 and not queued["finished"]

        run_job(REPORT_PDF, job_id)
        status = client.get(f"/reports/pdf-jobs/{job_id}/status").get_json()
        assert status["status"] == "done" and status["done"] == 2 and status["finished"]
        page = client.get(f"/reports/pdf-jobs/{job_id}").get_data(as_text=True)
        assert "Tải tệp PDF" in page
        done = client.get(f"/reports/pdf-jobs/{job_id}/file")
        assert done.status_code == 200 and done.mimetype == "application/pdf"
        assert done.data.startswith(b"%PDF")
        assert db.session.get(ReportPdfJob, job_id).pages >= 1

        # only the person who asked for it may open it
        g.pop("_login_user", None)
        login(client, make.user("manager", DISTRICT))
        assert client.get(f"/reports/pdf-jobs/{job_id}").status_code == 404
        assert client.get(f"/reports/pdf-jobs/{job_id}/file").status_code == 404
    finally:
        ctx.config["REPORT_PDF_INLINE_MAX_ROWS"] = 120
        ctx.extensions["htsd_job_runners"].pop(names.BUILD_REPORT_PDF, None)


def test_a_short_report_pdf_still_comes_at_once(ctx, client, make):
    ran = []
    ctx.extensions.setdefault("htsd_job_runners", {})[names.BUILD_REPORT_PDF] = ran.append
    try:
        login(client, make.user("manager", DISTRICT))
        response = client.get(f"/reports/targets?year=2026&unit={COMMUNE}&format=pdf")
        assert response.status_code == 200 and response.data.startswith(b"%PDF")
        assert not ran
    finally:
        ctx.extensions["htsd_job_runners"].pop(names.BUILD_REPORT_PDF, None)
