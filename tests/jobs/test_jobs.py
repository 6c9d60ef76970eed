"""Background jobs (``htsd_workflow.jobs``): one claim rule, one progress format, one boundary
that commits, and task names the worker registers."""

from __future__ import annotations

import ast
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from htsd_workflow.cases.models import Case
from htsd_workflow.core.time import utcnow
from htsd_workflow.extensions import db
from htsd_workflow.imports.models import ImportJob
from htsd_workflow.jobs import names
from htsd_workflow.jobs.models import STALE_AFTER, progress_of
from htsd_workflow.jobs.runner import JobKind, run_job, stop_with_reason
from htsd_workflow.queues import operations as bulk
from htsd_workflow.queues.models import BulkJob
from htsd_workflow.sla.operations import scan_sla
from tests.factories import COMMUNE

ROOT = Path(__file__).resolve().parents[2]


def bulk_job(make, cases: int = 3) -> tuple[int, list[int]]:
    ids = [make.case_in("commune_review")[0].id for _ in range(cases)]
    reviewer = make.reviewer("commune_reviewer", COMMUNE)
    job = bulk.create_bulk_job(reviewer, "approve", ids, None, selection="selected")
    db.session.commit()
    return job.id, ids


def states(ids: list[int]) -> set[str]:
    db.session.expire_all()
    return set(db.session.scalars(select(Case.state).where(Case.id.in_(ids))))


def test_a_bulk_job_another_run_is_alive_in_is_left_alone_and_a_silent_one_taken_over(ctx, make):
    job_id, ids = bulk_job(make)
    job = db.session.get(BulkJob, job_id)
    job.status, job.heartbeat_at = "running", utcnow()  # a run at work elsewhere
    db.session.commit()
    run_job(bulk.BULK_JOB, job_id)  # a redelivered task
    assert states(ids) == {"commune_review"}
    assert db.session.get(BulkJob, job_id).status == "running"
    job = db.session.get(BulkJob, job_id)
    job.heartbeat_at = utcnow() - STALE_AFTER - timedelta(seconds=1)  # its worker died
    db.session.commit()
    run_job(bulk.BULK_JOB, job_id)
    assert states(ids) == {"district_verification"}
    job = db.session.get(BulkJob, job_id)
    assert (job.status, job.done, job.succeeded, job.heartbeat_at) == ("done", 3, 3, None)


def test_a_bulk_job_stopped_by_an_error_says_why_and_resumes_at_once(ctx, make, monkeypatch):
    job_id, ids = bulk_job(make, cases=4)
    real = bulk.fire_bulk
    calls = []

    def fails_the_second_chunk(*args, **kwargs):
        calls.append(args[0])
        if len(calls) == 2:
            raise RuntimeError("database went away")
        return real(*args, **kwargs)

    monkeypatch.setattr(bulk, "fire_bulk", fails_the_second_chunk)
    run_job(bulk.BULK_JOB, job_id, chunk=2)
    job = db.session.get(BulkJob, job_id)
    assert (job.status, job.done) == ("failed", 2)
    assert job.error == "RuntimeError: database went away"
    assert states(ids[:2]) == {"district_verification"} and states(ids[2:]) == {"commune_review"}
    job.status = "queued"  # the page's "carry on"
    db.session.commit()
    run_job(bulk.BULK_JOB, job_id, chunk=2)
    job = db.session.get(BulkJob, job_id)
    assert (job.status, job.done, job.succeeded, job.error) == ("done", 4, 4, None)
    assert states(ids) == {"district_verification"}


def test_job_steps_and_the_scan_commit_nothing_themselves(ctx, make):
    job_id, ids = bulk_job(make)
    for _ in bulk.bulk_job_steps(job_id):  # the operation alone, without the boundary
        pass
    db.session.rollback()
    assert db.session.get(BulkJob, job_id).status == "queued" and states(ids) == {"commune_review"}
    due = db.session.get(Case, ids[0]).due_at
    assert scan_sla(due + timedelta(days=40), batch_size=1).total == 3
    db.session.rollback()
    assert db.session.scalar(select(func.count()).where(Case.escalation_rung > 0)) == 0


def test_bulk_and_import_jobs_report_progress_in_one_shape(ctx, make):
    job_id, _ = bulk_job(make)
    user = make.user("commune_reviewer", COMMUNE)
    import_job = ImportJob(
        user_id=user.id, kind="households", filename="a.csv", status="checking", done=0
    )
    db.session.add(import_job)
    db.session.flush()
    shapes = [
        progress_of(db.session.get(BulkJob, job_id)),
        progress_of(import_job, label="Đang kiểm tra"),
    ]
    for shape in shapes:
        assert set(shape) == {"status", "done", "total", "finished", "label"}
    assert shapes[0]["total"] == 3 and shapes[1]["total"] == 0  # not counted yet
    assert not shapes[0]["finished"] and not shapes[1]["finished"]


def test_every_task_name_is_a_task_the_worker_registers(ctx):
    import worker
    import worker.tasks  # noqa: F401 - registers the tasks, as the worker's include does

    registered = {n for n in worker.app.tasks if not n.startswith("celery.")}
    assert registered == set(names.ALL)
    for entry in worker.app.conf.beat_schedule.values():
        assert entry["task"] in names.ALL


def string_constants(path: Path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node


@pytest.mark.parametrize("folder", ["htsd_workflow", "worker"])
def test_task_names_are_written_only_in_jobs_names(folder):
    """Code sends and schedules tasks by the names in ``jobs.names``, never by a literal."""
    names_file = ROOT / "htsd_workflow" / "jobs" / "names.py"
    found = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for path in sorted((ROOT / folder).rglob("*.py"))
        if path != names_file
        for node in string_constants(path)
        if node.value in names.ALL
    ]
    assert found == []


def test_a_job_deleted_while_it_runs_ends_its_run_quietly(ctx, make):
    """A run whose job row disappears between two steps (a clean-up, or a test's wipe under
    a background thread) stops there, writes nothing and raises nothing."""
    from htsd_workflow.reports import pdf_jobs

    reader = make.user("manager")
    job = pdf_jobs.create_report_pdf_job(reader, "bao-cao", "<p>Báo cáo</p>", None)
    db.session.commit()
    job_id = job.id
    steps = pdf_jobs.report_pdf_steps(job_id)
    next(steps)  # claimed, marked running
    db.session.commit()
    db.session.delete(db.session.get(pdf_jobs.ReportPdfJob, job_id))
    db.session.commit()

    def the_rest(job_id):
        yield from steps

    gone = JobKind(task="test", steps=the_rest, stopped=stop_with_reason(BulkJob, "test job"))
    run_job(gone, job_id)  # no AttributeError on a None job
    assert db.session.get(pdf_jobs.ReportPdfJob, job_id) is None
    # and a failure recorded on a job that is gone is nothing to record
    assert stop_with_reason(BulkJob, "bulk job")(10**6, RuntimeError("x")) is True
