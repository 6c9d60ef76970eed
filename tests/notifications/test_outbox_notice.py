"""Telling the worker about new outbox rows: one notice per burst of commits, the last commit of
the burst still told promptly, every process (and forked child) on its own timer."""

from __future__ import annotations

import os
import threading
import time

import pytest
from sqlalchemy import func, select

from htsd_workflow.cases.operations import fire_trigger
from htsd_workflow.extensions import db
from htsd_workflow.notifications import dispatch
from htsd_workflow.notifications.models import OutboxMessage
from tests.factories import COMMUNE

WINDOW = 0.5


class RecordingProducer:
    """Stands in for the Celery producer: records each task sent and how many outbox rows
    were committed and undelivered at that moment (what a dispatch started then would find)."""

    def __init__(self, app):
        self.app = app
        self.sent: list[tuple[str, float, int]] = []
        self.lock = threading.Lock()
        self.fail = False
        #: off where a forked child must not use the parent's pooled connections
        self.count_pending = True

    def send_task(self, name, args=(), retry=False, **options):
        if self.fail:
            raise ConnectionError("broker down")
        pending = -1
        if self.count_pending:
            with self.app.app_context(), db.engine.connect() as connection:
                pending = connection.scalar(
                    select(func.count())
                    .select_from(OutboxMessage)
                    .where(OutboxMessage.dispatched_at.is_(None))
                )
        with self.lock:
            self.sent.append((name, time.monotonic(), pending))

    def notices(self):
        with self.lock:
            return [s for s in self.sent if s[0] == dispatch.DISPATCH_OUTBOX]


@pytest.fixture
def producer(ctx, monkeypatch):
    recording = RecordingProducer(ctx)
    monkeypatch.setitem(ctx.config, "NOTIFY_WORKER", True)
    monkeypatch.setitem(ctx.config, "WORKER_NOTICE_SECONDS", WINDOW)
    monkeypatch.setitem(ctx.extensions, "htsd_celery_producer", recording)
    monkeypatch.setitem(ctx.extensions, "htsd_outbox_notice", None)
    dispatch.reset_broker_backoff()
    yield recording
    # let a trailing notice of this test go before the next test's producer is set
    time.sleep(ctx.config["WORKER_NOTICE_SECONDS"] + 0.2)
    dispatch.reset_broker_backoff()


def quiet(ctx, producer):
    """Let the set-up's own notices go, then start from a process that has told nobody yet."""
    time.sleep(ctx.config["WORKER_NOTICE_SECONDS"] + 0.2)
    ctx.extensions["htsd_outbox_notice"] = None
    producer.sent.clear()


def wait_until(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not predicate():
        time.sleep(0.01)
    return predicate()


def test_a_burst_of_commits_sends_one_notice_and_one_after_its_last_commit(
    ctx, make, producer, monkeypatch
):
    window = 2.0  # longer than the burst takes, even on a busy machine
    monkeypatch.setitem(ctx.config, "WORKER_NOTICE_SECONDS", window)
    reviewer = make.reviewer("commune_reviewer", COMMUNE)
    cases = [make.case_in("commune_review")[0] for _ in range(6)]
    quiet(ctx, producer)  # the set-up's own commits wrote outbox rows too

    started = time.monotonic()
    for case in cases:
        fire_trigger(case.id, "approve", reviewer)
        db.session.commit()
    last_commit = time.monotonic()
    assert last_commit - started < window, "the burst took longer than the window"
    # the first commit was told at once; the others wait for the window's end
    assert len(producer.notices()) == 1

    assert wait_until(lambda: len(producer.notices()) == 2, timeout=window + 2)
    time.sleep(window + 0.2)
    notices = producer.notices()
    assert len(notices) == 2  # six commits, two notices, none after the burst
    _, sent_at, pending = notices[-1]
    # sent after the last commit, within the window, with every row of the burst in the outbox
    assert last_commit <= sent_at <= started + window + 0.5
    pending_now = db.session.scalar(
        select(func.count()).select_from(OutboxMessage).where(OutboxMessage.dispatched_at.is_(None))
    )
    assert pending == pending_now >= len(cases)


def test_commits_apart_are_each_told_at_once(ctx, make, producer):
    reviewer = make.reviewer("commune_reviewer", COMMUNE)
    first = make.case_in("commune_review")[0]
    second = make.case_in("commune_review")[0]
    quiet(ctx, producer)
    fire_trigger(first.id, "approve", reviewer)
    db.session.commit()
    assert len(producer.notices()) == 1
    time.sleep(WINDOW + 0.1)
    fire_trigger(second.id, "approve", reviewer)
    db.session.commit()
    assert len(producer.notices()) == 2  # no waiting for a timer after a quiet moment


def test_a_rolled_back_change_sends_nothing(ctx, make, producer):
    reviewer = make.reviewer("commune_reviewer", COMMUNE)
    case = make.case_in("commune_review")[0]
    quiet(ctx, producer)
    fire_trigger(case.id, "approve", reviewer)
    db.session.rollback()
    db.session.commit()
    time.sleep(WINDOW + 0.1)
    assert producer.notices() == []


def test_a_window_of_zero_tells_every_commit(ctx, make, producer, monkeypatch):
    monkeypatch.setitem(ctx.config, "WORKER_NOTICE_SECONDS", 0)
    reviewer = make.reviewer("commune_reviewer", COMMUNE)
    cases = [make.case_in("commune_review")[0] for _ in range(3)]
    producer.sent.clear()
    for case in cases:
        fire_trigger(case.id, "approve", reviewer)
        db.session.commit()
    assert len(producer.notices()) == 3


def test_threads_committing_together_share_the_notices(ctx, producer):
    notice = dispatch.outbox_notice(ctx)
    start = threading.Barrier(8)

    def commits():
        start.wait()
        for _ in range(50):
            with ctx.app_context():
                notice.committed()

    threads = [threading.Thread(target=commits) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(producer.notices()) == 1
    assert wait_until(lambda: len(producer.notices()) == 2)
    time.sleep(WINDOW + 0.1)
    assert len(producer.notices()) == 2


def test_a_broker_down_backs_off_and_the_trailing_notice_does_not_wait_on_it(ctx, producer):
    producer.fail = True
    notice = dispatch.outbox_notice(ctx)
    notice.committed()  # fails: the broker is marked down
    notice.committed()  # within the window: a trailing notice, which finds the broker down
    time.sleep(WINDOW + 0.2)
    assert producer.notices() == []
    producer.fail = False
    assert not dispatch.enqueue(dispatch.DISPATCH_OUTBOX)  # still backing off
    dispatch.reset_broker_backoff()
    assert dispatch.enqueue(dispatch.DISPATCH_OUTBOX)


def test_run_in_background_still_sends_its_own_task_at_once(ctx, producer):
    dispatch.outbox_notice(ctx).committed()  # a notice window is open
    dispatch.run_in_background("worker.tasks.run_bulk_job_task", lambda job: None, 7)
    assert [s[0] for s in producer.sent] == [
        dispatch.DISPATCH_OUTBOX,
        "worker.tasks.run_bulk_job_task",
    ]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_gets_its_own_notices(ctx, producer):
    producer.count_pending = False
    parent_notice = dispatch.outbox_notice(ctx)
    parent_notice.committed()
    parent_notice.committed()  # the parent now waits on its trailing timer
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: the parent's timer thread does not exist here
        try:
            child_notice = dispatch.outbox_notice(ctx)
            before = len(producer.notices())
            child_notice.committed()  # told at once, not left to a timer that never runs
            told = len(producer.notices()) - before
            ok = child_notice is not parent_notice and child_notice.pid == os.getpid()
            os.write(write, f"{int(ok)} {told}".encode())
        finally:
            os._exit(0)
    os.close(write)
    answer = os.read(read, 100).decode()
    os.close(read)
    os.waitpid(pid, 0)
    assert answer == "1 1"
    assert dispatch.outbox_notice(ctx) is parent_notice
    assert wait_until(lambda: len(producer.notices()) == 2)  # the parent's trailing notice


def test_without_new_threads_a_commit_inside_the_window_is_told_at_once(ctx, producer, monkeypatch):
    notice = dispatch.outbox_notice(ctx)
    notice.committed()

    def refuse(self):
        raise RuntimeError("can't create new thread at interpreter shutdown")

    monkeypatch.setattr(threading.Timer, "start", refuse)
    notice.committed()  # no timer can carry the notice: it goes now
    assert len(producer.notices()) == 2


def test_the_producer_makes_one_result_backend_for_every_thread(ctx, monkeypatch):
    """Celery makes a result backend per thread (scanning the installed packages, ≈ 4 ms);
    the trailing notice runs in a new thread each window, so the producer shares one."""
    monkeypatch.setitem(ctx.extensions, "htsd_celery_producer", None)
    producer = dispatch._producer()
    seen = []
    thread = threading.Thread(target=lambda: seen.append(producer.backend))
    thread.start()
    thread.join()
    assert seen == [producer.backend]
