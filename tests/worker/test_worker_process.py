"""A real `celery worker` process on a real Redis broker, with a real SMTP server.

Each test runs its own throwaway redis-server on a free port (it is stopped and restarted
here), never the machine's shared one, and the worker uses this run's PostgreSQL database.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date, datetime
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import create_engine, func, select, text

from htsd_workflow import create_app
from htsd_workflow.cases.operations import fire_trigger
from htsd_workflow.extensions import db
from htsd_workflow.notifications.dispatch import reset_broker_backoff
from htsd_workflow.notifications.models import Notification, OutboxMessage
from tests.clock import child_env, child_pythonpath
from tests.factories import COMMUNE, Factory
from tests.services import ThrowawayRedis, free_port

pytestmark = pytest.mark.postgres_only
ROOT = Path(__file__).resolve().parents[2]


class Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        self.messages.append(envelope.content.decode("utf-8", "replace"))
        return "250 OK"


@pytest.fixture
def smtp():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, inbox
    controller.stop()


@pytest.fixture
def redis_server():
    server = ThrowawayRedis().start()
    yield server
    server.stop()


def start_worker(database_url, redis_url, smtp_port, tmp_path, *, beat=False, extra_env=None):
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(smtp_port),
        "HTSD_INSTANCE_PATH": str(tmp_path / "worker-instance"),
        "CELERY_VISIBILITY_TIMEOUT": "4",
        "OUTBOX_SWEEP_SECONDS": "2",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": child_pythonpath(ROOT),
        **child_env(),
        **(extra_env or {}),
    }
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "worker",
        "worker",
        "--pool",
        "solo",
        "--loglevel",
        "WARNING",
        "--without-gossip",
        "--without-mingle",
    ]
    if beat:
        command += ["-B", "--schedule", str(tmp_path / "beat-schedule")]
    return subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "worker.log", "ab"),
    )


def stop(process):
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()


def wait_for(predicate, timeout=40.0, every=0.3):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    return predicate()


@pytest.fixture
def worker_app(ctx, redis_server, tmp_path):
    """An app on this run's PostgreSQL database whose commits tell the worker on our Redis."""
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": ctx.config["SQLALCHEMY_DATABASE_URI"],
            "INSTANCE_PATH": str(tmp_path / "app-instance"),
            "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
            "NOTIFY_WORKER": True,
            "CELERY": {**ctx.config["CELERY"], "broker_url": redis_server.url},
        }
    )
    reset_broker_backoff()
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def count_notifications(app, **where):
    with app.app_context():
        statement = select(func.count()).select_from(Notification)
        for key, value in where.items():
            statement = statement.where(getattr(Notification, key) == value)
        value = db.session.scalar(statement)
        db.session.remove()
        return value


def test_a_transition_reaches_the_inbox_and_the_smtp_server(
    worker_app, redis_server, smtp, tmp_path
):
    controller, inbox = smtp
    make = Factory()
    case, applicant = make.draft()
    applicant.email = "chuho@example.vn"
    db.session.commit()
    worker = start_worker(
        worker_app.config["SQLALCHEMY_DATABASE_URI"], redis_server.url, controller.port, tmp_path
    )
    try:
        fire_trigger(case.id, "submit", applicant)
        db.session.commit()
        assert wait_for(lambda: count_notifications(worker_app, user_id=applicant.id) == 1)
        assert wait_for(lambda: inbox.messages)
        assert "chuho@example.vn" in inbox.messages[0]
        assert "Hồ sơ đã được gửi" in inbox.messages[0] or "=?utf-8?" in inbox.messages[0]
    finally:
        stop(worker)


def test_redis_down_during_a_transition_the_change_commits_and_the_message_comes_later(
    worker_app, redis_server, smtp, tmp_path
):
    controller, _ = smtp
    make = Factory()
    case, applicant = make.draft()
    worker = start_worker(
        worker_app.config["SQLALCHEMY_DATABASE_URI"],
        redis_server.url,
        controller.port,
        tmp_path,
        beat=True,
    )
    try:
        redis_server.stop()
        started = time.monotonic()
        fire_trigger(case.id, "submit", applicant)
        db.session.commit()
        assert time.monotonic() - started < 5  # the broker being down costs no user a wait
        assert count_notifications(worker_app, user_id=applicant.id) == 0
        redis_server.start()
        # the worker reconnects and its periodic sweep delivers what was left behind
        assert wait_for(
            lambda: count_notifications(worker_app, user_id=applicant.id) == 1, timeout=60
        )
    finally:
        stop(worker)


def test_a_worker_killed_mid_task_leads_to_redelivery_and_one_message(
    worker_app, redis_server, smtp, tmp_path
):
    controller, _ = smtp
    make = Factory()
    case, applicant = make.draft()
    reviewer = make.reviewer("commune_reviewer", COMMUNE)
    db.session.commit()
    url = worker_app.config["SQLALCHEMY_DATABASE_URI"]
    blocker = create_engine(url).connect()
    blocker_tx = blocker.begin()
    # hold the inbox table so the worker's dispatch blocks after taking the task
    blocker.execute(text("LOCK TABLE notifications IN EXCLUSIVE MODE"))
    first = start_worker(url, redis_server.url, controller.port, tmp_path)
    try:
        fire_trigger(case.id, "submit", applicant)
        db.session.commit()

        def dispatch_waiting():
            rows = blocker.execute(
                text(
                    "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                    "WHERE c.relname = 'notifications' AND NOT l.granted"
                )
            ).scalar()
            return rows > 0

        assert wait_for(dispatch_waiting), "the worker never took the task"
        first.send_signal(signal.SIGKILL)  # dies holding the task, before acknowledging it
        first.wait(10)
    finally:
        blocker_tx.rollback()
        blocker.close()
    # the broker hands the unacknowledged task out again once its visibility timeout (4 s
    # here) has passed; a worker starting after that restores it at once
    time.sleep(5)
    second = start_worker(url, redis_server.url, controller.port, tmp_path)
    try:
        assert wait_for(
            lambda: count_notifications(worker_app, user_id=reviewer.id) == 1, timeout=60
        )
        time.sleep(3)
        assert count_notifications(worker_app, user_id=applicant.id) == 1
        assert count_notifications(worker_app, user_id=reviewer.id) == 1
        with worker_app.app_context():
            assert (
                db.session.scalar(select(func.count()).where(OutboxMessage.dispatched_at.is_(None)))
                == 0
            )
    finally:
        stop(second)


def test_a_burst_of_transitions_sends_few_notices_and_every_message_arrives(
    worker_app, redis_server, smtp, tmp_path, monkeypatch
):
    """Commits close together share the worker notices (the first at once, then at most one
    per window, the last after the last commit); the worker delivers every message of the
    burst with no sweep running (no beat)."""
    from htsd_workflow.notifications.dispatch import DISPATCH_OUTBOX, _producer

    controller, _ = smtp
    window = 2.0
    monkeypatch.setitem(worker_app.config, "WORKER_NOTICE_SECONDS", window)
    make = Factory()
    drafts = [make.draft() for _ in range(6)]
    db.session.commit()
    producer = _producer()
    sent = []
    send_task = producer.send_task

    def counting_send_task(name, *args, **kwargs):
        sent.append(name)
        return send_task(name, *args, **kwargs)

    monkeypatch.setattr(producer, "send_task", counting_send_task)
    worker = start_worker(
        worker_app.config["SQLALCHEMY_DATABASE_URI"], redis_server.url, controller.port, tmp_path
    )
    try:
        time.sleep(2 * window + 0.5)  # the set-up's notices have gone: a quiet moment
        sent.clear()
        started = time.monotonic()
        for number, (case, applicant) in enumerate(drafts):
            fire_trigger(case.id, "submit", applicant)
            db.session.commit()
            if number == 0:
                assert sent == [DISPATCH_OUTBOX]  # the first commit is told at once
        took = time.monotonic() - started
        for _, applicant in drafts:
            assert wait_for(lambda a=applicant: count_notifications(worker_app, user_id=a.id) == 1)
        time.sleep(window + 0.5)
        assert set(sent) == {DISPATCH_OUTBOX}
        # six commits: one notice at once, at most one per window after it, one after the last
        assert 2 <= len(sent) <= 2 + int(took / window), (len(sent), took)
    finally:
        stop(worker)


def test_the_worker_closes_the_report_months_every_night(worker_app, redis_server, smtp, tmp_path):
    """The nightly task, sent to a real worker, counts the months that are over; beat sends it
    at 01:15 (Kon Tum time) every day."""
    from celery.schedules import crontab

    import worker
    from htsd_workflow.notifications.dispatch import _producer
    from htsd_workflow.reports.models import ClosedMonth
    from tests.reports.test_reports import visit

    controller, _ = smtp
    case, _ = Factory().case_in("draft")
    visit(
        case,
        entered_at=datetime(2026, 3, 1, 2),
        left_at=datetime(2026, 3, 5, 2),
        outcome="approve",
        working_days=3,
    )
    db.session.commit()
    process = start_worker(
        worker_app.config["SQLALCHEMY_DATABASE_URI"], redis_server.url, controller.port, tmp_path
    )
    try:
        _producer().send_task("worker.tasks.close_report_months")

        def closed_months():
            with worker_app.app_context():
                months = db.session.scalars(select(ClosedMonth.month)).all()
                db.session.remove()
                return months

        months = wait_for(closed_months)
        # every month from the visit's to the last one over
        assert months[0] == date(2026, 3, 1) and len(months) >= 8
    finally:
        stop(process)
    entry = worker.app.conf.beat_schedule["close-report-months"]
    assert entry["task"] == "worker.tasks.close_report_months"
    assert entry["schedule"] == crontab(hour=1, minute=15)
