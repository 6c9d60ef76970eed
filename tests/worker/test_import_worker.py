"""A large import through the pages, checked and imported by a real `celery worker` process
on a real Redis broker, with the worker's one JSON log line per task."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import func, select

from htsd_workflow.extensions import db
from htsd_workflow.subjects.models import Subject
from tests.clients import Browser
from tests.factories import COMMUNE, Factory
from tests.imports.test_imports import HOUSEHOLD_HEADERS, xlsx
from tests.worker.test_worker_process import start_worker, stop, wait_for

pytestmark = pytest.mark.postgres_only
ROWS = 3000


def status(browser, job_id):
    return browser.get(f"/imports/jobs/{job_id}/status").get_json()


def test_a_large_household_file_is_checked_and_imported_by_the_worker(
    worker_app, redis_server, smtp, tmp_path
):
    controller, _ = smtp
    worker_app.config["IMPORT_BACKGROUND_BYTES"] = 10_000
    officer = Factory().user("commune_reviewer", COMMUNE)
    rows = [[f"H{i:05d}", f"Hộ Nguyễn Văn {i}", COMMUNE, None, None, None] for i in range(ROWS)]
    worker = start_worker(
        worker_app.config["SQLALCHEMY_DATABASE_URI"],
        redis_server.url,
        controller.port,
        tmp_path,
        extra_env={"IMPORT_FOLDER": worker_app.config["IMPORT_FOLDER"], "LOG_LEVEL": "INFO"},
    )
    try:
        browser = Browser(worker_app.test_client()).login(officer)
        response = browser.post(
            "/imports/households",
            data={"file": (xlsx(HOUSEHOLD_HEADERS, rows), "ho.xlsx")},
            content_type="multipart/form-data",
        )
        assert response.status_code == 302
        job_id = int(response.headers["Location"].rsplit("/", 1)[1])
        first = status(browser, job_id)
        assert first["finished"] is False  # in the worker's hands
        # the worker first estimates the length of the bar from the sheet's size
        assert wait_for(lambda: status(browser, job_id)["total"] == ROWS)
        checked = wait_for(lambda: status(browser, job_id)["finished"] and status(browser, job_id))
        assert checked["status"] == "checked" and checked["done"] == ROWS
        assert browser.post(f"/imports/jobs/{job_id}/confirm").status_code == 302
        started = time.monotonic()
        done = wait_for(
            lambda: status(browser, job_id)["finished"] and status(browser, job_id), timeout=90
        )
        assert done["status"] == "done", done
        db.session.expire_all()
        count = db.session.scalar(select(func.count()).where(Subject.kind == "family"))
        assert count == ROWS
        assert "Đã nhập xong: 3000 mới" in browser.get(f"/imports/jobs/{job_id}").get_data(
            as_text=True
        )
        assert time.monotonic() - started < 90
    finally:
        stop(worker)
    # one JSON line per task, with its id, name, outcome and duration
    lines = [
        json.loads(line)
        for line in (tmp_path / "worker.log").read_text().splitlines()
        if line.startswith("{")
    ]
    tasks = {line["task"]: line for line in lines if line.get("message") == "task"}
    for name in ("worker.tasks.check_import_task", "worker.tasks.run_import_task"):
        assert tasks[name]["outcome"] == "success" and tasks[name]["ms"] > 0
        assert len(tasks[name]["task_id"]) >= 32
