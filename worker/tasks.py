"""Thin task wrappers, registered under the names of ``htsd_workflow.jobs.names``: each calls
an operation and commits (operations never commit). Work done in steps commits after each step:
jobs through ``jobs.runner.run_job``, the scan through ``jobs.runner.commit_each``; an e-mail is
committed before and after its hand-over (``notifications.sending``). The work is in the
operations."""

from __future__ import annotations

import logging
from datetime import datetime

from celery import shared_task
from sqlalchemy.exc import OperationalError

from htsd_workflow.decisions.jobs import CERTIFICATES
from htsd_workflow.extensions import db
from htsd_workflow.imports.jobs import CHECK_IMPORT, RUN_IMPORT, drop_stale_import_files
from htsd_workflow.jobs import names
from htsd_workflow.jobs.runner import commit_each, run_job
from htsd_workflow.notifications.operations import (
    DeliveryFailed,
    dispatch_pending,
    pending_delivery_ids,
    send_digests,
)
from htsd_workflow.notifications.sending import send_delivery
from htsd_workflow.queues.operations import BULK_JOB
from htsd_workflow.reports.months import close_months
from htsd_workflow.reports.pdf_jobs import REPORT_PDF
from htsd_workflow.sla.operations import ScanResult, scan_batches

log = logging.getLogger("htsd.tasks")
#: outbox rows handled per task, so a task stays short (a redelivery repeats little)
DISPATCH_CHUNK = 200


@shared_task(
    name=names.DISPATCH_OUTBOX, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5
)
def dispatch_outbox() -> int:
    """Create the in-app messages and e-mails of pending outbox rows, then send the e-mails."""
    total = 0
    for _ in range(10):  # at most ten chunks, so the task stays short
        result = dispatch_pending(limit=DISPATCH_CHUNK)
        db.session.commit()
        for delivery_id in result.email_ids:
            send_email.delay(delivery_id)
        total += result.messages
        if result.messages < DISPATCH_CHUNK:
            return total
    dispatch_outbox.delay()  # more is waiting: carry on in a new task
    return total


@shared_task(
    name=names.SEND_EMAIL,
    autoretry_for=(DeliveryFailed, OperationalError),
    retry_backoff=30,
    retry_backoff_max=3600,
    max_retries=6,
)
def send_email(delivery_id: int) -> str:
    return send_delivery(delivery_id)


@shared_task(name=names.SWEEP_OUTBOX)
def sweep_outbox() -> None:
    """Deliver anything left behind (broker down, worker restarted)."""
    dispatch_outbox.delay()
    for delivery_id in pending_delivery_ids():
        send_email.delay(delivery_id)


@shared_task(
    name=names.SCAN_DEADLINES, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3
)
def scan_deadlines(at: str | None = None) -> int:
    """The escalation scan, committed batch by batch."""
    result = ScanResult.of(commit_each(scan_batches(datetime.fromisoformat(at) if at else None)))
    if result.total:
        dispatch_outbox.delay()
    return result.total


@shared_task(name=names.DAILY_DIGEST)
def daily_digest() -> int:
    count = send_digests()
    db.session.commit()
    sweep_outbox.delay()
    return count


@shared_task(
    name=names.RUN_BULK_JOB, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5
)
def run_bulk_job_task(job_id: int) -> None:
    run_job(BULK_JOB, job_id)


@shared_task(
    name=names.BUILD_CERTIFICATES,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=3,
)
def build_certificates_task(job_id: int) -> None:
    run_job(CERTIFICATES, job_id)


@shared_task(
    name=names.BUILD_REPORT_PDF,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=3,
)
def build_report_pdf_task(job_id: int) -> None:
    run_job(REPORT_PDF, job_id)


@shared_task(
    name=names.CHECK_IMPORT, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3
)
def check_import_task(job_id: int) -> None:
    run_job(CHECK_IMPORT, job_id)


@shared_task(
    name=names.RUN_IMPORT, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3
)
def run_import_task(job_id: int) -> None:
    run_job(RUN_IMPORT, job_id)


@shared_task(
    name=names.CLOSE_REPORT_MONTHS,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=3,
)
def close_report_months() -> int:
    """The bottleneck report's figures of the months that are over (``reports.months``)."""
    result = close_months()
    db.session.commit()
    return len(result.closed) + len(result.recounted)


@shared_task(name=names.DROP_STALE_IMPORTS)
def drop_stale_imports() -> int:
    count = drop_stale_import_files()
    db.session.commit()
    return count
