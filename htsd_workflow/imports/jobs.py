"""Imports from the pages: an uploaded file is kept, checked, shown row by row, and imported
only when its owner confirms a clean check; large files run as background tasks.

``CHECK_IMPORT`` and ``RUN_IMPORT`` are the jobs the worker's tasks and the pages run through
the boundary (``jobs.runner.run_job``), which commits after each of their steps; nothing here
commits (the progress bar's rows are written by ``jobs.runner.beat`` on a connection of its
own). The others flush and leave the commit to the request.
"""

from __future__ import annotations

import codecs
import logging
import secrets
import time
from collections.abc import Iterator
from contextlib import nullcontext
from datetime import timedelta
from pathlib import Path
from typing import IO

from flask import current_app, has_request_context
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from htsd_workflow.audit.operations import record_audit
from htsd_workflow.auth.models import User
from htsd_workflow.core.errors import Conflict, DomainError, InvalidInput, NotFound
from htsd_workflow.core.time import utcnow
from htsd_workflow.evidence.files import clean_filename
from htsd_workflow.extensions import db
from htsd_workflow.imports.assessments import import_assessments, validate_assessments
from htsd_workflow.imports.models import ImportJob
from htsd_workflow.imports.operations import get_spec, run_import, validate_import
from htsd_workflow.imports.reader import XLSX_MAGIC, estimate_rows, unpacked_size
from htsd_workflow.imports.specs import ASSESSMENT_SPEC
from htsd_workflow.jobs import names
from htsd_workflow.jobs.models import claim_job, own_job
from htsd_workflow.jobs.runner import JobKind, beat, start_job

log = logging.getLogger(__name__)

CHUNK = 64 * 1024
#: seconds between progress writes
PROGRESS_EVERY = 0.5
OLE2_MAGIC = b"\xd0\xcf\x11\xe0"


def import_folder() -> Path:
    """Where uploaded files wait for their owner's confirmation (outside the web root)."""
    return Path(current_app.config["IMPORT_FOLDER"])


def _file_type(head: bytes) -> str:
    """ "xlsx" or "csv" by content; refuse anything else with what to do instead."""
    if head.startswith(XLSX_MAGIC):
        return "xlsx"
    if head.startswith(OLE2_MAGIC):
        raise InvalidInput(
            _l("Tệp Excel 97–2003 (.xls) chưa đọc được."),
            details={"file": _l("Mở tệp bằng Excel, chọn Lưu thành… Excel Workbook (.xlsx)")},
        )
    if b"\x00" not in head or head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "csv"
    raise InvalidInput(
        _l("Tệp không phải bảng tính CSV hoặc Excel."),
        details={"file": _l("Chỉ nhận tệp .xlsx hoặc .csv")},
    )


def create_import_job(user: User, kind: str, stream: IO[bytes], filename: str | None) -> ImportJob:
    """Keep an uploaded file (checked by size and content) and record it, ready to check."""
    get_spec(kind)
    limit = current_app.config["IMPORT_MAX_BYTES"]
    head = stream.read(2048)
    if not head:
        raise InvalidInput(
            _l("Chưa chọn tệp hoặc tệp trống."), details={"file": _l("Chọn tệp .xlsx/.csv")}
        )
    extension = _file_type(head)
    folder = import_folder()
    folder.mkdir(parents=True, exist_ok=True)
    stored_name = f"{secrets.token_hex(16)}.{extension}"
    path = folder / stored_name
    size = 0
    try:
        with open(path, "xb") as out:
            chunk = head
            while chunk:
                size += len(chunk)
                if size > limit:
                    raise InvalidInput(
                        _l("Tệp lớn hơn %(mb)s MB.", mb=limit // (1024 * 1024)),
                        details={"file": _l("Chia tệp thành nhiều tệp nhỏ hơn")},
                    )
                out.write(chunk)
                chunk = stream.read(CHUNK)
        # what the file holds decides, not its size on disk: a small XLSX may unpack to a
        # great deal (refused over the limits, else checked and imported by the worker)
        with open(path, "rb") as stored:
            content_size = unpacked_size(stored)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    job = ImportJob(
        user_id=user.id,
        kind=kind,
        filename=clean_filename(filename, extension)[:200],
        stored_name=stored_name,
        size_bytes=size,
        status="checking",
        phase="checking",
        is_background=content_size > current_app.config["IMPORT_BACKGROUND_BYTES"],
        done=0,
        error_count=0,
        created=0,
        updated=0,
        unchanged=0,
        created_at=utcnow(),
    )
    db.session.add(job)
    db.session.flush()
    return job


def import_job_for(user: User, job_id: int) -> ImportJob:
    """The user's own job; anyone else's is "not found"."""
    return own_job(ImportJob, job_id, user)


def _progress(job_id: int, *, while_writing: bool):
    """A progress callback that records (phase, rows) on the job from its own connection, so
    the page sees it while the import's transaction is still open."""
    last = 0.0
    # SQLite has one writer at a time: while the import writes, its progress cannot be saved
    can_write = db.engine.dialect.name != "sqlite"

    def progress(phase: str, rows: int) -> None:
        nonlocal last
        if phase == "writing" and not (while_writing and can_write):
            return
        now = time.monotonic()
        if now - last < PROGRESS_EVERY:
            return
        last = now
        beat(ImportJob, job_id, phase=phase, done=rows)

    return progress


def _stored_path(job: ImportJob) -> Path:
    if not job.stored_name:
        raise Conflict(_l("Tệp của lần nhập này không còn; hãy tải tệp lên lại."))
    return import_folder() / job.stored_name


def _drop_file(job: ImportJob) -> None:
    if job.stored_name:
        (import_folder() / job.stored_name).unlink(missing_ok=True)
        job.stored_name = None


def _save_report(job: ImportJob, report) -> None:
    job.total = report.rows
    job.done = report.rows
    job.error_count = report.error_count
    job.errors = report.as_dict()["errors"]


def check_import_steps(job_id: int) -> Iterator[None]:
    """Check the job's file row by row and keep the report; write no data. Yields once
    claimed, once the large file's rows are estimated, and at the end (the boundary,
    ``jobs.runner.run_job``, commits there)."""
    if not claim_job(ImportJob, job_id, ("checking",)):
        return
    job = db.session.get(ImportJob, job_id)
    job.started_at = utcnow()
    yield
    job = db.session.get(ImportJob, job_id)
    user = db.session.get(User, job.user_id)
    if job.is_background and job.total is None and job.stored_name:
        # the progress bar's length until the check has counted the rows
        job.total = estimate_rows(import_folder(), job.stored_name)
        yield
    with open(_stored_path(job), "rb") as raw, _language_of(user):
        progress = _progress(job_id, while_writing=False)
        if job.kind == ASSESSMENT_SPEC.kind:
            report = validate_assessments(raw, user, progress)
        else:
            report = validate_import(job.kind, raw, user, progress)
    job = db.session.get(ImportJob, job_id)
    _save_report(job, report)
    job.message = None
    job.finish("checked")
    yield


def check_import_stopped(job_id: int, exc: Exception) -> bool:
    """A file that cannot be read (or found) is checked with the reason as its message."""
    if not isinstance(exc, InvalidInput | Conflict | OSError):
        return False
    job = db.session.get(ImportJob, job_id)
    user = db.session.get(User, job.user_id)
    with _language_of(user):
        message = (
            _with_details(exc)
            if isinstance(exc, DomainError)
            else _(
                "Không mở được tệp đã tải lên trên máy xử lý: thư mục IMPORT_FOLDER phải "
                "dùng chung giữa máy chủ web và máy xử lý nền (%(error)s).",
                error=exc.__class__.__name__,
            )
        )
    job.message = message
    job.error_count = 0
    job.finish("checked")
    return True


def _language_of(user: User):
    """The language a job's report is kept in: the page's inside a request, else (in the
    worker) the importer's own saved one."""
    return nullcontext() if has_request_context() else force_locale(user.locale or "vi")


def _with_details(exc) -> str:
    hints = [str(v) for v in (exc.details or {}).values() if isinstance(v, str)]
    return " ".join([exc.message, *hints])


def confirm_import_job(job: ImportJob, user: User) -> ImportJob:
    """Start importing a cleanly checked file, or again after a run that failed (its owner
    only)."""
    if job.user_id != user.id:
        raise NotFound(_l("Không tìm thấy lần nhập này."))
    if not (job.is_clean or (job.status == "failed" and job.stored_name)):
        raise Conflict(
            _l("Chỉ nhập được tệp đã kiểm tra không có lỗi."),
            details={"file": _l("Sửa các lỗi trong tệp rồi tải lên lại")},
        )
    job.status = "importing"
    job.phase = "checking"
    job.done = 0
    job.heartbeat_at = None
    db.session.flush()
    return job


def cancel_import_job(job: ImportJob, user: User) -> None:
    """Drop an uploaded file that will not be imported."""
    if job.user_id != user.id:
        raise NotFound(_l("Không tìm thấy lần nhập này."))
    if job.is_busy:
        raise Conflict(_l("Lần nhập đang chạy; hãy đợi nó xong."))
    if job.status in ("done", "cancelled"):
        return
    _drop_file(job)
    job.finish("cancelled")
    db.session.flush()


def run_import_steps(job_id: int) -> Iterator[None]:
    """Import a confirmed file in one transaction: every row, or — if anything goes wrong —
    none (the data stays as it was and the job says why: ``run_import_stopped``). Yields once
    claimed and once the whole file is written."""
    if not claim_job(ImportJob, job_id, ("importing",)):
        return
    job = db.session.get(ImportJob, job_id)
    job.started_at = utcnow()
    yield
    job = db.session.get(ImportJob, job_id)
    user = db.session.get(User, job.user_id)
    kind, filename = job.kind, job.filename
    with open(_stored_path(job), "rb") as raw, _language_of(user):
        progress = _progress(job_id, while_writing=True)
        if kind == ASSESSMENT_SPEC.kind:
            result = import_assessments(raw, user, progress, filename=filename)
        else:
            result = run_import(kind, raw, user, progress)
    job = db.session.get(ImportJob, job_id)
    job.created, job.updated, job.unchanged = result.created, result.updated, result.unchanged
    job.done = job.total = result.created + result.updated + result.unchanged
    job.phase = "writing"
    job.finish("done")
    record_audit(
        "import",
        actor=user,
        target=f"import:{job_id}",
        details={
            "kind": kind,
            "file": filename,
            "created": result.created,
            "updated": result.updated,
            "unchanged": result.unchanged,
        },
    )
    _drop_file(job)
    yield


def run_import_stopped(job_id: int, exc: Exception) -> bool:
    """After the rollback of a run that raised: nothing was written."""
    job = db.session.get(ImportJob, job_id)
    if isinstance(exc, InvalidInput):
        # the data changed since the check (a code taken meanwhile, a commune moved): show
        # the new report
        report = exc.details if "errors" in (exc.details or {}) else None
        if report is not None:
            job.total = report["rows"]
            job.error_count = report["error_count"]
            job.errors = report["errors"]
        else:
            with _language_of(db.session.get(User, job.user_id)):
                job.message = _with_details(exc)
        job.finish("checked")
        return True
    log.error("import job %s stopped", job_id, exc_info=exc)
    job.message = f"{exc.__class__.__name__}: {exc}"[:1000]
    job.finish("failed")
    return True


CHECK_IMPORT = JobKind(
    task=names.CHECK_IMPORT, steps=check_import_steps, stopped=check_import_stopped
)
RUN_IMPORT = JobKind(task=names.RUN_IMPORT, steps=run_import_steps, stopped=run_import_stopped)


def start_check(job: ImportJob) -> None:
    """After the upload commits: check now (small file) or in the background (large)."""
    start_job(CHECK_IMPORT, job.id, background=job.is_background)


def start_run(job: ImportJob) -> None:
    """After the confirmation commits: import now (small file) or in the background."""
    start_job(RUN_IMPORT, job.id, background=job.is_background)


def drop_stale_import_files(now=None) -> int:
    """Delete uploaded files that nobody imported or cancelled within ``IMPORT_KEEP_HOURS``
    (personal data does not lie about); their jobs become "cancelled". Returns how many."""
    cutoff = (now or utcnow()) - timedelta(hours=current_app.config["IMPORT_KEEP_HOURS"])
    jobs = db.session.scalars(
        select(ImportJob).where(
            ImportJob.stored_name.is_not(None),
            ImportJob.created_at < cutoff,
            ImportJob.status.in_(("checked", "failed")),
        )
    ).all()
    for job in jobs:
        _drop_file(job)
        job.finish("cancelled")
    db.session.flush()
    return len(jobs)
