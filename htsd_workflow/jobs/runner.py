"""The boundary of background work: with the request (``api.framework``, the page views) and
the command line (``cli``), the only place that commits.

Operations never commit. Work done in steps (a job's chunks, the escalation scan's batches) is
an operation written as a generator that yields after each step; the boundary commits after
each one, so progress shows and a stop loses at most one step:

- ``run_job(kind, job_id)`` runs a job (``JobKind``): commit after each step; on an error roll
  back, let the job record why it stopped, commit that;
- ``start_job(kind, job_id, background=...)`` runs it now, or hands it to the worker (a thread
  of this process when no broker answers);
- ``commit_each(steps)`` commits after each item of any such generator (the scan);
- ``beat(model, job_id, ...)`` writes a job's progress and heartbeat on a connection of its
  own, so the page sees it while the job's transaction is still open.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

from flask import current_app
from sqlalchemy import update

from htsd_workflow.core.time import utcnow
from htsd_workflow.extensions import db
from htsd_workflow.jobs.models import JobGone
from htsd_workflow.notifications.dispatch import run_in_background

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class JobKind:
    """A kind of background job."""

    #: the worker's task that runs it (``jobs.names``)
    task: str
    #: the operation: ``steps(job_id, **options)`` claims the job (``models.claim_job``),
    #: yields once claimed and after each step of work; returns at once if it could not claim
    steps: Callable[..., Iterable]
    #: ``stopped(job_id, exc)``, called after the rollback when a step raised: records on the
    #: job why it stopped and returns True, or returns False for an error it does not know
    #: (which is raised again: the task fails and the broker may redeliver it)
    stopped: Callable[[int, Exception], bool]


def run_job(kind: JobKind, job_id: int, **options) -> None:
    """Run (or resume) a job to its end, committing after each step."""
    try:
        for _ in kind.steps(job_id, **options):
            db.session.commit()
    except JobGone:
        db.session.rollback()
        log.warning("job %s %s was deleted while it ran: stopped", kind.task, job_id)
    except Exception as exc:
        db.session.rollback()
        if not kind.stopped(job_id, exc):
            raise
        log.warning("job %s %s stopped: %r", kind.task, job_id, exc)
        db.session.commit()


def stop_with_reason(model: type, what: str) -> Callable[[int, Exception], bool]:
    """The ``stopped`` of a job whose every failure ends it as "failed" with its reason on
    ``job.error`` (the work done stays done; asking again starts or resumes a run)."""

    def stopped(job_id: int, exc: Exception) -> bool:
        log.error("%s %s stopped", what, job_id, exc_info=exc)
        job = db.session.get(model, job_id)
        if job is None:  # deleted meanwhile: nothing to record it on
            return True
        job.error = f"{exc.__class__.__name__}: {exc}"[:1000]
        job.finish("failed")
        return True

    return stopped


def dispatch(kind: JobKind, job_id: int) -> None:
    """Start a committed job in the background: a Celery task, or (no broker) a thread here.
    A test may put its own starter in ``app.extensions["htsd_job_runners"][kind.task]``."""
    runner = current_app.extensions.get("htsd_job_runners", {}).get(kind.task)
    if runner is not None:
        runner(job_id)
        return
    start_job(kind, job_id, background=True)


def start_job(kind: JobKind, job_id: int, *, background: bool) -> None:
    """After the job's creation commits: run it now, or in the background."""
    if background:
        run_in_background(kind.task, partial(run_job, kind), job_id)
    else:
        run_job(kind, job_id)


def commit_each(steps: Iterable[T]) -> Iterator[T]:
    """The items of ``steps``, each committed before it is handed on."""
    for item in steps:
        db.session.commit()
        yield item


def beat(model, job_id: int, **values) -> None:
    """Record a job's progress (``values``) and a sign of life from a connection of its own,
    committed at once, outside the session's transaction."""
    with db.engine.begin() as connection:
        connection.execute(
            update(model).where(model.id == job_id).values(heartbeat_at=utcnow(), **values)
        )
