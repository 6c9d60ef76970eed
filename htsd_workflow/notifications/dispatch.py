"""Hand work to the Celery worker by task name, without importing the worker package.

When the broker cannot be reached the change has already committed with its outbox rows, so
nothing is lost: the worker's periodic sweep delivers them when the broker is back.

Commits that wrote outbox rows tell the worker to deliver them (``dispatch_outbox``), at most
once per ``WORKER_NOTICE_SECONDS`` per process: the first commit of a quiet moment sends the
notice at once; commits within the window after it only make sure one more notice follows at
the window's end (a timer thread), which the last commit of a burst is still told by. One
``dispatch_outbox`` delivers every pending row, so one notice covers the whole burst; a Celery
``send_task`` costs about as much client CPU as the transition itself.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

from celery import Celery
from flask import Flask, current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session

from htsd_workflow.jobs import names

log = logging.getLogger("htsd.queue")

DISPATCH_OUTBOX = names.DISPATCH_OUTBOX


def _producer() -> Celery:
    producer = current_app.extensions.get("htsd_celery_producer")
    if producer is None:
        producer = Celery("htsd-producer")
        producer.conf.update(current_app.config["CELERY"])
        producer.conf.broker_connection_timeout = 2
        producer.conf.broker_connection_max_retries = 0
        # one result backend for every thread: Celery makes one per thread otherwise (each
        # scans the installed packages' entry points, ≈ 4 ms of CPU), and the trailing notice
        # runs in a new thread every window; the producer only sends, results are ignored
        producer._backend_cache = producer.backend
        current_app.extensions["htsd_celery_producer"] = producer
    return producer


#: after a failed send, do not make requests wait on a dead broker again for this long
BROKER_BACKOFF_SECONDS = 30.0
_broker_down_until = 0.0


def enqueue(task_name: str, *args) -> bool:
    """Send a task; return False (and log) when the broker is down instead of failing."""
    global _broker_down_until
    if not current_app.config.get("NOTIFY_WORKER", True):
        return False
    if time.monotonic() < _broker_down_until:
        return False
    try:
        _producer().send_task(task_name, args=args, retry=False, ignore_result=True)
        return True
    except Exception as exc:  # noqa: BLE001 - the sweep will pick the work up later
        _broker_down_until = time.monotonic() + BROKER_BACKOFF_SECONDS
        log.warning("broker unavailable, %s left for the sweep: %s", task_name, exc)
        return False


def run_in_background(task_name: str, function: Callable, *args) -> None:
    """Hand committed work to the worker (task ``task_name``); with no broker reachable, run
    ``function(*args)`` in a thread of this process instead, so it still gets done."""
    if enqueue(task_name, *args):
        return
    from htsd_workflow.extensions import db

    app = current_app._get_current_object()

    def run() -> None:
        with app.app_context():
            try:
                function(*args)
            finally:
                db.session.remove()

    threading.Thread(target=run, name=f"{task_name}-{args}", daemon=True).start()


def reset_broker_backoff() -> None:
    global _broker_down_until
    _broker_down_until = 0.0


class OutboxNotice:
    """The ``dispatch_outbox`` notices of one app in one process: at most one per ``window``
    seconds, the last commit of a burst always followed by one."""

    def __init__(self, app: Flask, window: float):
        self.app = app
        self.window = window
        self.pid = os.getpid()
        self._lock = threading.Lock()
        #: before this moment (monotonic) a commit does not send a notice itself
        self._quiet_until = 0.0
        #: the timer that sends the trailing notice, while one is due
        self._trailing: threading.Timer | None = None

    def committed(self) -> None:
        """Called after a commit that wrote outbox rows (in the committing thread)."""
        now = time.monotonic()
        with self._lock:
            if self._trailing is not None:
                return  # a notice follows at the window's end, after this commit
            if now < self._quiet_until and self._start_trailing(self._quiet_until - now):
                return
            self._quiet_until = now + self.window
        enqueue(DISPATCH_OUTBOX)

    def _start_trailing(self, delay: float) -> bool:
        timer = threading.Timer(delay, self._send_trailing)
        timer.name = "htsd-outbox-notice"
        timer.daemon = False  # a process that exits still sends it first
        try:
            timer.start()
        except RuntimeError:  # no new threads (the interpreter is shutting down): send now
            return False
        self._trailing = timer
        return True

    def _send_trailing(self) -> None:
        with self._lock:
            # commits from now on start a new timer: this notice may be read before their rows
            self._trailing = None
            self._quiet_until = time.monotonic() + self.window
        with self.app.app_context():
            enqueue(DISPATCH_OUTBOX)


_notices_lock = threading.Lock()


def _reset_after_fork() -> None:
    # a thread of the parent may have held the lock while it forked
    global _notices_lock
    _notices_lock = threading.Lock()


if hasattr(os, "register_at_fork"):  # POSIX; elsewhere nothing forks the app
    os.register_at_fork(after_in_child=_reset_after_fork)


def outbox_notice(app: Flask) -> OutboxNotice:
    """This process's notices for ``app``: made anew in a forked child (gunicorn and Celery
    workers fork after the app is built), whose copy of the parent's timer never runs."""
    notice = app.extensions.get("htsd_outbox_notice")
    if notice is None or notice.pid != os.getpid():
        with _notices_lock:
            notice = app.extensions.get("htsd_outbox_notice")
            if notice is None or notice.pid != os.getpid():
                window = float(app.config.get("WORKER_NOTICE_SECONDS", 0.2))
                notice = OutboxNotice(app, window)
                app.extensions["htsd_outbox_notice"] = notice
    return notice


@event.listens_for(Session, "after_commit")
def _tell_the_worker(session) -> None:
    """After a commit that wrote outbox rows, ask the worker to deliver them now."""
    if (
        session.info.pop("outbox_written", False)
        and has_app_context()
        and current_app.config.get("NOTIFY_WORKER", True)
    ):
        outbox_notice(current_app._get_current_object()).committed()


@event.listens_for(Session, "after_rollback")
def _forget_outbox(session) -> None:
    # rolled back: the rows are gone, and nothing is sent for them (a savepoint's rollback
    # leaves the rows written before it)
    if session.in_nested_transaction():
        return
    session.info.pop("outbox_written", None)
