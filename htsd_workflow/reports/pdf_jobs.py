"""Large report PDFs built in the background with a progress bar (a job of the shared kind,
``htsd_workflow/jobs``): WeasyPrint takes seconds per dozen pages, too long for a request
that shows nothing meanwhile. The request renders the printable HTML (the reader's territory,
filters and language) and keeps it on the job; the steps lay it out, then write the PDF; the
boundary (``jobs.runner.run_job``) commits after each; the worker's task
``build_report_pdf_task`` runs it (a thread of the web process when no broker answers)."""

from __future__ import annotations

from collections.abc import Iterator

from htsd_workflow.auth.models import User
from htsd_workflow.core.time import utcnow
from htsd_workflow.extensions import db
from htsd_workflow.jobs import names
from htsd_workflow.jobs.models import claim_job, current_job
from htsd_workflow.jobs.runner import JobKind, stop_with_reason
from htsd_workflow.reports.exports import render_pdf
from htsd_workflow.reports.models import ReportPdfJob

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
    job = current_job(ReportPdfJob, job_id)
    job.status, job.done, job.error = "running", 0, None
    job.started_at = job.started_at or utcnow()
    html = job.html or ""
    yield
    document = render_pdf(html)
    job = current_job(ReportPdfJob, job_id)
    job.pages, job.done, job.heartbeat_at = len(document.pages), 1, utcnow()
    yield
    pdf = document.write_pdf()
    job = current_job(ReportPdfJob, job_id)
    job.pdf, job.done = pdf, STEPS
    job.finish("done")
    yield


#: a failure stops the job with its reason; asking for the PDF again starts a new one
REPORT_PDF = JobKind(
    task=names.BUILD_REPORT_PDF,
    steps=report_pdf_steps,
    stopped=stop_with_reason(ReportPdfJob, "report PDF job"),
)
