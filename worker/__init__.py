"""The Celery application: `celery -A worker worker` and `celery -A worker beat`.

Each task runs inside the Flask application context. Broker: REDIS_URL in production; in the
embedded default a server-less SQLite broker under instance/, so `make run` runs a real worker.
"""

from __future__ import annotations

from celery import Celery, Task
from celery.signals import worker_process_init
from flask import Flask

from htsd_workflow import create_app
from htsd_workflow.core.logging import init_task_logging
from htsd_workflow.jobs import names


def celery_init_app(flask_app: Flask) -> Celery:
    """Bind a Celery app to the Flask app (the pattern of Flask's own Celery example)."""

    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            with flask_app.app_context():
                return self.run(*args, **kwargs)

    celery = Celery(flask_app.import_name, task_cls=FlaskTask, include=["worker.tasks"])
    celery.config_from_object(flask_app.config["CELERY"])
    celery.conf.beat_schedule = {
        "sweep-outbox": {
            "task": names.SWEEP_OUTBOX,
            "schedule": float(flask_app.config["OUTBOX_SWEEP_SECONDS"]),
        },
        "scan-deadlines": {
            "task": names.SCAN_DEADLINES,
            "schedule": float(flask_app.config["SLA_SCAN_SECONDS"]),
        },
        "drop-stale-imports": {
            "task": names.DROP_STALE_IMPORTS,
            "schedule": 3600.0,
        },
        "close-report-months": {
            "task": names.CLOSE_REPORT_MONTHS,
            "schedule": _crontab(hour=1, minute=15),
        },
        "daily-digest": {
            "task": names.DAILY_DIGEST,
            "schedule": _crontab(hour=7, minute=0, day_of_week="mon-fri"),
        },
    }
    init_task_logging()
    celery.set_default()
    flask_app.extensions["celery"] = celery
    return celery


def _crontab(**fields):
    """A crontab schedule in local time (the Celery app's time zone is Asia/Ho_Chi_Minh)."""
    from celery.schedules import crontab

    return crontab(**fields)


@worker_process_init.connect
def _own_connections(**_kwargs) -> None:
    """A forked worker process opens its own database connections: the pool inherited from
    the parent is dropped without closing the parent's sockets (SQLAlchemy's advice)."""
    from htsd_workflow.extensions import db

    with flask_app.app_context():
        db.engine.dispose(close=False)


flask_app = create_app()
app = celery_init_app(flask_app)
