"""Large report PDFs built in the background with a progress bar (a job of the shared kind,
``htsd_workflow/jobs``): WeasyPrint takes seconds per dozen pages, too long for a request
that shows nothing meanwhile. The request renders the printable HTML (the reader's territory,
filters and language) and keeps it on the job; the steps lay it out, then write the PDF; the
boundary (``jobs.runner.run_job``) commits after each; the worker's task
``build_report_pdf_task`` runs it (a thread of the web process when no broker answers)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from flask import current_app

from htsd_workflow.auth.models import User
from htsd_workflow.core.time import utcnow
from htsd_workflow.extensions import db
from htsd_workflow.jobs import names
from htsd_workflow.jobs.models import claim_job
from htsd_workflow.jobs.runner import JobKind, start_job
from htsd_workflow.reports.exports import render_pdf
from htsd_workflow.reports.models import ReportPdfJob

log = logging.getLogger(__name__)

#: the steps the progress bar counts: laying out the pages, writing the file
STEPS = 2


def create_report_pdf_job(user: User, name: str, html: str, back: str | None) -> ReportPdfJob:
    job = ReportPdfJob(
        user_id=user.id,
        name=name,
        html=html,
        back=back,
        status="queued",
        total=STEPS,
        done=0,
        created_at=utcnow(),
    )
    db.session.add(job)
    db.session.flush()
    return job


def report_pdf_steps(job_id: int) -> Iterator[None]:
    """Lay the kept HTML out (yield), then write the PDF and keep it. A resumed run starts
    again from the HTML."""
    if not claim_job(ReportPdfJob, job_id):
        return
    job = db.session.get(ReportPdfJob, job_id)
    job.status, job.done, job.error = "running", 0, None
    job.started_at = job.started_at or utcnow()
    html = job.html or ""
    yield
    document = render_pdf(html)
    job = db.session.get(ReportPdfJob, job_id)
    job.pages, job.done, job.heartbeat_at = len(document.pages), 1, utcnow()
    yield
    pdf = document.write_pdf()
    job = db.session.get(ReportPdfJob, job_id)
    job.pdf, job.done = pdf, STEPS
    job.finish("done")
    yield


def report_pdf_stopped(job_id: int, exc: Exception) -> bool:
    """A failure stops the job with its reason; asking for the PDF again starts a new one."""
    log.error("report PDF job %s stopped", job_id, exc_info=exc)
    job = db.session.get(ReportPdfJob, job_id)
    job.error = f"{exc.__class__.__name__}: {exc}"[:1000]
    job.finish("failed")
    return True


REPORT_PDF = JobKind(
    task=names.BUILD_REPORT_PDF, steps=report_pdf_steps, stopped=report_pdf_stopped
)


def dispatch_report_pdf_job(job_id: int) -> None:
    runner = current_app.extensions.get("htsd_report_pdf_job_runner")  # tests put theirs here
    if runner is not None:
        runner(job_id)
        return
    start_job(REPORT_PDF, job_id, background=True)
