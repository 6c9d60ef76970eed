"""Bulk actions: one job per request, with a row per case once it has been handled."""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from htsd_workflow.extensions import db
from htsd_workflow.jobs.models import JobMixin

JOB_STATES = ("queued", "running", "done", "failed")


class BulkJob(JobMixin, db.Model):
    """A bulk action (approve, sign, return …) over many cases, run inline or in the
    background; its progress is what the progress bar shows. ``status`` is one of JOB_STATES;
    ``total`` and ``done`` count cases."""

    __tablename__ = "bulk_jobs"
    ACTIVE = ("queued", "running")

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    trigger: Mapped[str] = mapped_column(String(40))
    comment: Mapped[str | None] = mapped_column(Text)
    #: approve or sign the chosen cases under their pass mark too, for this reason
    override_reason: Mapped[str | None] = mapped_column(Text)
    #: the cases chosen when the person pressed the button (rows ticked or the whole filter)
    case_ids: Mapped[list] = mapped_column(JSON)
    #: how the cases were chosen, for the result page ("selected" or "filter")
    selection: Mapped[str] = mapped_column(String(10), default="selected")
    succeeded: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    is_background: Mapped[bool] = mapped_column(Boolean, default=False)
    #: why a job stopped (status "failed"); handled cases stay handled and it can resume
    error: Mapped[str | None] = mapped_column(Text)


class BulkJobItem(db.Model):
    """The outcome of a bulk job for one case: went through, or not and why."""

    __tablename__ = "bulk_job_items"
    __table_args__ = (Index("ix_bulk_job_items_job_ok", "job_id", "is_ok", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("bulk_jobs.id"))
    case_id: Mapped[int] = mapped_column(Integer)
    is_ok: Mapped[bool] = mapped_column(Boolean)
    #: the state the case went to (when it went through)
    state: Mapped[str | None] = mapped_column(String(40))
    #: the refusal's code and message (when it did not)
    code: Mapped[str | None] = mapped_column(String(40))
    message: Mapped[str | None] = mapped_column(Text)
