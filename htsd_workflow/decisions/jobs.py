"""Certificates for hundreds of cases, built in the background with a progress bar (the same
pattern as the bulk jobs: a job row, a plain ``build_certificates`` run by a Celery task, or
in a thread of the web process when no broker answers)."""

from __future__ import annotations

import logging

from flask import current_app
from sqlalchemy import select

from htsd_workflow.auth.models import User
from htsd_workflow.auth.scope import scope_clause
from htsd_workflow.cases.models import Case
from htsd_workflow.core.time import utcnow
from htsd_workflow.decisions import pdf as pdfs
from htsd_workflow.decisions.models import CertificateJob, Decision, DecisionEntry
from htsd_workflow.extensions import db
from htsd_workflow.notifications.queue import run_in_background

log = logging.getLogger(__name__)

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
        processed=0,
        created_at=utcnow(),
    )
    db.session.add(job)
    db.session.flush()
    return job


def build_certificates(job_id: int, *, chunk: int = CHUNK) -> CertificateJob | None:
    """Render the job's certificates, ``chunk`` at a time (committing the progress after each),
    then keep the one PDF. A failure stops the job with its reason."""
    from weasyprint import HTML
    from weasyprint.urls import URLFetcher

    class NoFetch(URLFetcher):
        def fetch(self, url, headers=None):
            raise ValueError(f"not fetched for a PDF: {url}")

    job = db.session.get(CertificateJob, job_id)
    if job is None or job.status == "done":
        return job
    user = db.session.get(User, job.user_id)
    decision = db.session.get(Decision, job.decision_id)
    entries = entries_for(decision, user)
    job.status, job.total, job.processed, job.error = "running", len(entries), 0, None
    db.session.commit()
    try:
        documents = []
        for start in range(0, len(entries), chunk):
            part = entries[start : start + chunk]
            html = pdfs.certificates_html(decision, part)
            documents.append(HTML(string=html, url_fetcher=NoFetch()).render())
            job = db.session.get(CertificateJob, job_id)
            job.processed = start + len(part)
            db.session.commit()
        pages = [page for document in documents for page in document.pages]
        body = documents[0].copy(pages).write_pdf() if documents else b""
    except Exception as exc:  # noqa: BLE001 - the job records why it stopped
        db.session.rollback()
        log.exception("certificate job %s stopped", job_id)
        job = db.session.get(CertificateJob, job_id)
        job.status, job.error, job.finished_at = "failed", str(exc)[:1000], utcnow()
        db.session.commit()
        return job
    job = db.session.get(CertificateJob, job_id)
    job.pdf, job.status, job.finished_at = body, "done", utcnow()
    db.session.commit()
    return job


def dispatch_certificate_job(job_id: int) -> None:
    runner = current_app.extensions.get("htsd_certificate_job_runner")  # tests put theirs here
    if runner is not None:
        runner(job_id)
        return
    run_in_background("worker.tasks.build_certificates_task", build_certificates, job_id)
