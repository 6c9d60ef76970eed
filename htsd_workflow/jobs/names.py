"""The Celery task names, in one place: the worker registers its tasks under them
(``worker.tasks``), the beat schedule and the web processes send them by name (without importing
the worker package). ``tests/worker/test_task_names.py`` checks them against the worker."""

from __future__ import annotations

DISPATCH_OUTBOX = "worker.tasks.dispatch_outbox"
SEND_EMAIL = "worker.tasks.send_email"
SWEEP_OUTBOX = "worker.tasks.sweep_outbox"
SCAN_DEADLINES = "worker.tasks.scan_deadlines"
DAILY_DIGEST = "worker.tasks.daily_digest"
RUN_BULK_JOB = "worker.tasks.run_bulk_job_task"
CHECK_IMPORT = "worker.tasks.check_import_task"
RUN_IMPORT = "worker.tasks.run_import_task"
CLOSE_REPORT_MONTHS = "worker.tasks.close_report_months"
DROP_STALE_IMPORTS = "worker.tasks.drop_stale_imports"
BUILD_CERTIFICATES = "worker.tasks.build_certificates_task"
BUILD_REPORT_PDF = "worker.tasks.build_report_pdf_task"

#: every task the worker must register
ALL = (
    DISPATCH_OUTBOX,
    SEND_EMAIL,
    SWEEP_OUTBOX,
    SCAN_DEADLINES,
    DAILY_DIGEST,
    RUN_BULK_JOB,
    CHECK_IMPORT,
    RUN_IMPORT,
    CLOSE_REPORT_MONTHS,
    DROP_STALE_IMPORTS,
    BUILD_CERTIFICATES,
    BUILD_REPORT_PDF,
)
