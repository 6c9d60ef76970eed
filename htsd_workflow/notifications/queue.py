"""Hand work to the Celery worker by task name, without importing the worker package.

When the broker cannot be reached the change has already committed with its outbox rows, so
nothing is lost: the worker's periodic sweep delivers them when the broker is back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from celery import Celery
from flask import current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger("htsd.queue")


def _producer() -> Celery:
    producer = current_app.extensions.get("htsd_celery_producer")
    if producer is None:
        producer = Celery("htsd-producer")
        producer.conf.update(current_app.config["CELERY"])
        producer.conf.broker_connection_timeout = 2
        producer.conf.broker_connection_max_retries = 0
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
        _producer().send_task(task_name, args=args, retry=False)
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


@event.listens_for(Session, "after_commit")
def _tell_the_worker(session) -> None:
    """After a commit that wrote outbox rows, ask the worker to deliver them now."""
    if session.info.pop("outbox_written", False) and has_app_context():
        enqueue("worker.tasks.dispatch_outbox")


@event.listens_for(Session, "after_rollback")
def _forget_outbox(session) -> None:
    # rolled back: the rows are gone, and nothing is sent for them
    session.info.pop("outbox_written", None)
