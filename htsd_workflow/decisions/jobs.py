"""Certificates for hundreds of cases, built in the background with a progress bar: a job of
the shared kind (``htsd_workflow/jobs``, docs/architecture.md "Background jobs"): the steps
render ``CHUNK`` certificates each; the boundary (``jobs.runner.run_job``) commits after each
step; the worker's task ``build_certificates_task`` runs it (a thread of the web process when no
broker answers)."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import select

from htsd_workflow.auth.models import User
from htsd_workflow.auth.scope import scope_clause
from htsd_workflow.cases.models import Case
from htsd_workflow.core.time import utcnow
from htsd_workflow.decisions import pdf as pdfs
from htsd_workflow.decisions.models import CertificateJob, Decision, DecisionEntry
from htsd_workflow.extensions import db
from htsd_workflow.jobs import names
from htsd_workflow.jobs.models import claim_job, current_job
from htsd_workflow.jobs.runner import JobKind, stop_with_reason

#: certificates rendered per step (the progress bar moves after each)
CHUNK = 50


def entries_for(decision: Decision, user: User) -> list[DecisionEntry]:
    """The decision's entries inside the user's territory (a commune prints its own)."""
    return db.session.scalars(
        select(DecisionEntry)
        .join(Case, Case.id == DecisionEntry.case_id)
        .where(DecisionEntry.decision_id == decision.id, scope_clause(user, Case))
        .order_by(DecisionEntry.position)
    ).all()


def create_certificate_job(decision: Decision, user: User, total: int) -> CertificateJob:
    job = CertificateJob(
        decision_id=decision.id,
        user_id=user.id,
        status="queued",
        total=total,
        done=0,
        created_at=utcnow(),
    )
    db.session.add(job)
    db.session.flush()
    return job


def certificate_steps(job_id: int, *, chunk: int = CHUNK) -> Iterator[None]:
    """Render the job's certificates, ``chunk`` at a time (yielding after each, so the
    boundary commits the progress), then keep the one PDF. A resumed run starts again."""
    from weasyprint import HTML
    from weasyprint.urls import URLFetcher

    class NoFetch(URLFetcher):
        def fetch(self, url, headers=None):
            raise ValueError(f"not fetched for a PDF: {url}")

    if not claim_job(CertificateJob, job_id):
        return
    job = current_job(CertificateJob, job_id)
    user = db.session.get(User, job.user_id)
    decision = db.session.get(Decision, job.decision_id)
    entries = entries_for(decision, user)
    job.status, job.total, job.done, job.error = "running", len(entries), 0, None
    job.started_at = job.started_at or utcnow()
    yield
    documents = []
    for start in range(0, len(entries), chunk):
        part = entries[start : start + chunk]
        html = pdfs.certificates_html(decision, part)
        documents.append(HTML(string=html, url_fetcher=NoFetch()).render())
        job = current_job(CertificateJob, job_id)
        job.done = start + len(part)
        job.heartbeat_at = utcnow()
        yield
    pages = [page for document in documents for page in document.pages]
    job = current_job(CertificateJob, job_id)
    job.pdf = documents[0].copy(pages).write_pdf() if documents else b""
    job.finish("done")
    yield


#: a failure stops the job with its reason; printing again starts a new one
CERTIFICATES = JobKind(
    task=names.BUILD_CERTIFICATES,
    steps=certificate_steps,
    stopped=stop_with_reason(CertificateJob, "certificate job"),
)
