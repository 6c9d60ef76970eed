"""Structured logs: one JSON line per request (and per task) with ids and timing."""

from __future__ import annotations

import json
import logging
import sys
import time
import uuid

from flask import Flask, g, request
from flask_login import current_user

logger = logging.getLogger("htsd.requests")


class JsonFormatter(logging.Formatter):
    """Render a record as one JSON object; extra fields ride in ``record.fields``."""

    def format(self, record: logging.LogRecord) -> str:
        data = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            data["error"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False, default=str)


def configure_logging(level: str = "INFO") -> None:
    """Send the app's loggers (htsd.*) to stderr as JSON lines."""
    root = logging.getLogger("htsd")
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False


def init_request_logging(app: Flask) -> None:
    """Give every request an id (X-Request-ID in and out) and log it when it ends."""

    @app.before_request
    def start_timer():
        g.request_started = time.perf_counter()
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if 0 < len(incoming) <= 64 else uuid.uuid4().hex

    @app.after_request
    def log_request(response):
        started = g.get("request_started")
        if started is None:
            return response
        user_id = current_user.get_id() if current_user and current_user.is_authenticated else None
        logger.info(
            "request",
            extra={
                "fields": {
                    "request_id": g.request_id,
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "ms": round((time.perf_counter() - started) * 1000, 1),
                    "user": user_id.split(":")[0] if user_id else None,
                    "ip": request.remote_addr,
                }
            },
        )
        response.headers["X-Request-ID"] = g.request_id
        return response


task_logger = logging.getLogger("htsd.tasks")
_task_started: dict[str, float] = {}
_task_errors: dict[str, str] = {}


def _task_prerun(task_id=None, **_kwargs) -> None:
    _task_started[task_id] = time.perf_counter()


def _task_failure(task_id=None, exception=None, **_kwargs) -> None:
    _task_errors[task_id] = f"{exception.__class__.__name__}: {exception}"[:500]


def _task_postrun(task_id=None, task=None, state=None, **_kwargs) -> None:
    started = _task_started.pop(task_id, None)
    outcome = (state or "unknown").lower()
    fields = {
        "task_id": task_id,
        "task": getattr(task, "name", None),
        "outcome": outcome,
        "ms": round((time.perf_counter() - started) * 1000, 1) if started else None,
        "retries": getattr(getattr(task, "request", None), "retries", 0) or 0,
    }
    error = _task_errors.pop(task_id, None)
    if error:
        fields["error"] = error
    level = {"failure": logging.ERROR, "retry": logging.WARNING}.get(outcome, logging.INFO)
    task_logger.log(level, "task", extra={"fields": fields})


def init_task_logging() -> None:
    """One JSON line per task run (as per request): task id, name, outcome
    (success, failure, retry), milliseconds, retries so far, and the error if any."""
    from celery.signals import task_failure, task_postrun, task_prerun

    task_prerun.connect(_task_prerun, weak=False, dispatch_uid="htsd-task-prerun")
    task_failure.connect(_task_failure, weak=False, dispatch_uid="htsd-task-failure")
    task_postrun.connect(_task_postrun, weak=False, dispatch_uid="htsd-task-postrun")
