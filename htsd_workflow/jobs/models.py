"""What every background job has (``JobMixin``), the one rule by which a run takes a job
(``claim_job``), and the one shape of its progress (``progress_of``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import ClassVar

from flask_babel import lazy_gettext as _l
from sqlalchemy import DateTime, Integer, String, or_, update
from sqlalchemy.orm import Mapped, mapped_column

from htsd_workflow.core.errors import NotFound
from htsd_workflow.core.time import utcnow
from htsd_workflow.extensions import db

#: a run that has not shown a sign of life for this long is taken to be dead (its worker was
#: killed; its transaction rolled back), so a redelivered task may take the job over
STALE_AFTER = timedelta(minutes=3)


class JobMixin:
    """The columns of a job: its status, how much there is to do and how much is done, and
    the last sign of life of the run working on it.

    A model sets ``ACTIVE``: the statuses in which a run works on the job (it may be claimed
    in them); any other status is finished.
    """

    ACTIVE: ClassVar[tuple[str, ...]] = ()

    status: Mapped[str] = mapped_column(String(10))
    #: the units of work (cases, rows); None while still unknown
    total: Mapped[int | None] = mapped_column(Integer)
    #: the units done so far
    done: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime)
    #: last sign of life of the run (a redelivered task takes over only a silent one)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)

    @property
    def is_busy(self) -> bool:
        return self.status in self.ACTIVE

    @property
    def is_finished(self) -> bool:
        return not self.is_busy

    def finish(self, status: str) -> None:
        """End the run in ``status``: a later run (a resume) may claim the job at once."""
        self.status = status
        self.finished_at = utcnow()
        self.heartbeat_at = None


class JobGone(Exception):
    """The job's row was deleted while a run worked on it: the run ends, nothing to record."""


def current_job(model: type[JobMixin], job_id: int) -> JobMixin:
    """The job a run works on, as it is now (a step reads it again after its work)."""
    job = db.session.get(model, job_id)
    if job is None:
        raise JobGone(f"{model.__name__} {job_id}")
    return job


def own_job(model: type[JobMixin], job_id: int, user) -> JobMixin:
    """The job ``job_id`` when ``user`` started it; anyone else's is "not found" (404)."""
    job = db.session.get(model, job_id)
    if job is None or job.user_id != user.id:
        raise NotFound(_l("Không tìm thấy việc này: chỉ người đã bắt đầu việc mới xem được."))
    return job


def claim_job(model: type[JobMixin], job_id: int, statuses: tuple[str, ...] | None = None) -> bool:
    """Take the job for this run: only when it is in one of ``statuses`` (its ``ACTIVE`` ones
    by default) and no other run has shown a sign of life within ``STALE_AFTER`` (a task
    redelivered by the broker while the first is still at work finds it alive and stops; one
    whose worker died takes it over). The caller commits before the work starts."""
    now = utcnow()
    claimed = db.session.execute(
        update(model)
        .where(
            model.id == job_id,
            model.status.in_(statuses or model.ACTIVE),
            or_(model.heartbeat_at.is_(None), model.heartbeat_at < now - STALE_AFTER),
        )
        .values(heartbeat_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    return claimed == 1


def progress_of(job: JobMixin, *, label: str | None = None, **extra) -> dict:
    """The progress bar's data, the same for every job (``templates/_progress.html`` reads it
    in the page, ``static/app.js`` polls it): status, done, total (0 while unknown), finished,
    the label of what is being done, and what the job adds of its own."""
    return {
        "status": job.status,
        "done": job.done or 0,
        "total": job.total or 0,
        "finished": job.is_finished,
        "label": label,
        **extra,
    }
