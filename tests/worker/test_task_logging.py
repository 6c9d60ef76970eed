"""One JSON line per Celery task run, like the request log: id, name, outcome, duration."""

from __future__ import annotations

import io
import json
import logging

import pytest
from celery import Celery

from htsd_workflow.core.logging import JsonFormatter, init_task_logging


@pytest.fixture
def task_log():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("htsd.tasks")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    init_task_logging()
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logger.removeHandler(handler)
    logger.setLevel(old_level)


def test_every_task_run_logs_one_json_line_with_its_outcome(task_log):
    app = Celery("logging-test", set_as_current=False)

    @app.task(name="tests.add", shared=False)  # not on the worker's app too
    def add(a, b):
        return a + b

    @app.task(name="tests.broken", shared=False)
    def broken():
        raise ValueError("no such household")

    assert add.apply(args=(2, 3), task_id="a" * 32).get() == 5
    broken.apply(task_id="b" * 32)
    first, second = task_log()
    assert first["message"] == "task" and first["logger"] == "htsd.tasks"
    assert (first["task_id"], first["task"], first["outcome"]) == ("a" * 32, "tests.add", "success")
    assert first["level"] == "INFO" and first["ms"] >= 0 and first["retries"] == 0
    assert (second["task"], second["outcome"], second["level"]) == (
        "tests.broken",
        "failure",
        "ERROR",
    )
    assert second["error"] == "ValueError: no such household"
    assert set(first) >= {"time", "task_id", "task", "outcome", "ms"}


def test_running_the_migrations_in_process_keeps_the_app_loggers(tmp_path):
    """Alembic's env.py configures logging from alembic.ini; it must not switch off the JSON
    request and task logs of a process that migrates before it serves (as `deploy init` does)."""
    from flask_migrate import upgrade

    from tests.conftest import _make_app

    app = _make_app(f"sqlite:///{tmp_path / 'migrated.sqlite'}", tmp_path)
    with app.app_context():
        upgrade()
    for name in ("htsd.requests", "htsd.tasks"):
        assert not logging.getLogger(name).disabled, name
