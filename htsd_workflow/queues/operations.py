"""Bulk actions as jobs: created by the queue page, run inline for a few cases or in the
background for many, resumable after a stop.

``bulk_job_steps`` does the work and never commits; ``BULK_JOB`` is the job the worker's task
and the queue page run through the boundary (``jobs.runner.run_job``), which commits per chunk.
"""

from __future__ import annotations

from collections.abc import Iterator

from flask import current_app
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import insert, select

from htsd_workflow.auth.models import User
from htsd_workflow.auth.roles import REVIEWER_ROLES
from htsd_workflow.cases.engine import get_registry
from htsd_workflow.cases.operations import clean_comment, fire_bulk
from htsd_workflow.core.errors import InvalidInput
from htsd_workflow.core.time import utcnow
from htsd_workflow.extensions import db
from htsd_workflow.jobs import names
from htsd_workflow.jobs.models import claim_job, current_job
from htsd_workflow.jobs.runner import JobKind, stop_with_reason
from htsd_workflow.queues.models import BulkJob, BulkJobItem

#: the actions offered for many cases at once
BULK_TRIGGERS = ("approve", "sign", "return_to_applicant")
#: cases handled per transaction: progress moves (and a stop loses) at most this many
JOB_CHUNK = 100


def bulk_triggers_for(user: User) -> list[str]:
    """The bulk actions the user's role may fire at the stages of their queue."""
    if user.role not in REVIEWER_ROLES:
        return []
    found = []
    for definition in get_registry().every_definition():
        for transition in definition.transitions:
            if (
                transition.trigger in BULK_TRIGGERS
                and user.role in transition.roles
                and any(
                    definition.states[s].is_review and user.role in definition.states[s].roles
                    for s in transition.sources
                )
                and transition.trigger not in found
            ):
                found.append(transition.trigger)
    return [t for t in BULK_TRIGGERS if t in found]


def needs_comment(trigger: str) -> bool:
    return any(
        t.comment_required
        for d in get_registry().every_definition()
        for t in d.transitions
        if t.trigger == trigger
    )


def create_bulk_job(
    user: User,
    trigger: str,
    case_ids: list[int],
    comment: str | None,
    *,
    selection: str,
    override_reason: str | None = None,
) -> BulkJob:
    """Record a bulk action to run; refuse an action the role has not or a missing comment.

    With ``override_reason`` an approval or signature moves cases under their pass mark too;
    without it they are left, each with the reason."""
    if trigger not in bulk_triggers_for(user):
        raise InvalidInput(
            _l("Thao tác hàng loạt không hợp lệ với vai trò của bạn."),
            details={"trigger": _l("Chọn một thao tác trong danh sách")},
        )
    comment = clean_comment(comment)
    if needs_comment(trigger) and not comment:
        raise InvalidInput(
            _l("Cần ghi ý kiến (những gì cần bổ sung) khi trả lại hồ sơ."),
            details={"comment": _l("Bắt buộc")},
        )
    ids = list(dict.fromkeys(int(i) for i in case_ids))
    if not ids:
        raise InvalidInput(
            _l("Chưa chọn hồ sơ nào."), details={"case_id": _l("Đánh dấu ít nhất một hồ sơ")}
        )
    job = BulkJob(
        user_id=user.id,
        trigger=trigger,
        comment=comment,
        override_reason=clean_comment(override_reason, "override_reason"),
        case_ids=ids,
        selection=selection,
        status="queued",
        total=len(ids),
        done=0,
        succeeded=0,
        failed=0,
        is_background=len(ids) > current_app.config["BULK_BACKGROUND_THRESHOLD"],
        created_at=utcnow(),
    )
    db.session.add(job)
    db.session.flush()
    return job


def bulk_job_steps(job_id: int, *, chunk: int = JOB_CHUNK) -> Iterator[None]:
    """Run (or resume) a bulk job, yielding once claimed and after each chunk of cases (the
    boundary, ``jobs.runner.run_job``, commits there so the progress bar moves).

    Cases already handled are skipped, so running it twice (a retried task, a restart) does
    nothing twice; a run finds the job taken while another run is alive (``claim_job``).
    """
    if not claim_job(BulkJob, job_id):
        return
    job = current_job(BulkJob, job_id)
    user = db.session.get(User, job.user_id)
    handled = set(
        db.session.scalars(select(BulkJobItem.case_id).where(BulkJobItem.job_id == job.id))
    )
    todo = [i for i in job.case_ids if i not in handled]
    job.status = "running"
    job.error = None
    job.started_at = job.started_at or utcnow()
    job.done = len(handled)
    yield
    for start in range(0, len(todo), chunk):
        ids = todo[start : start + chunk]
        # the reasons are kept as text, in the language of the person who reads the job
        with force_locale(user.locale or "vi"):
            result = fire_bulk(
                ids,
                job.trigger,
                user,
                comment=job.comment,
                override_reason=job.override_reason,
            )
        rows = [
            {"job_id": job_id, "case_id": r["id"], "is_ok": True, "state": r["state"]}
            for r in result.succeeded
        ] + [
            {
                "job_id": job_id,
                "case_id": r["id"],
                "is_ok": False,
                "code": r.get("code"),
                "message": r.get("message"),
            }
            for r in result.failed
        ]
        db.session.execute(insert(BulkJobItem), rows)
        job = current_job(BulkJob, job_id)
        job.done += len(ids)
        job.succeeded += len(result.succeeded)
        job.failed += len(result.failed)
        job.heartbeat_at = utcnow()
        yield
    job = current_job(BulkJob, job_id)
    job.finish("done")
    yield


#: an unexpected error stops the job as "failed" with its message; the cases handled stay
#: handled and it may resume
BULK_JOB = JobKind(
    task=names.RUN_BULK_JOB,
    steps=bulk_job_steps,
    stopped=stop_with_reason(BulkJob, "bulk job"),
)
