"""Redis stops while people work: the web keeps going, and the notifications follow later.

A real gunicorn serves the app on this run's PostgreSQL database with a throwaway redis-server
(free port) as its Celery broker and rate-limit storage; a real Celery worker (with beat, for the
outbox sweep) listens on the same Redis. Redis is stopped while people sign in, open pages and
act on cases, then started again. The machine's shared Redis is never touched.

The worker side alone (a transition fired in-process while the broker is down) is in
tests/worker/test_worker_process.py; this test drives everything through HTTP.
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from htsd_workflow.cases.models import Case, CaseEvent
from htsd_workflow.extensions import db
from htsd_workflow.notifications.models import Notification, OutboxMessage
from tests.factories import COMMUNE, PASSWORD
from tests.live_server import AppServer, WebUser, case_version, form_fields, offers
from tests.services import ThrowawayRedis, free_port
from tests.worker.test_worker_process import start_worker, stop, wait_for

pytestmark = pytest.mark.postgres_only

#: no request may wait on the dead broker longer than this (the producer's connect timeout is
#: 2 s, then it backs off); a user would call anything slower broken
SLOW = 8.0


def count(model, **where) -> int:
    db.session.rollback()  # see the server's commits
    statement = select(func.count()).select_from(model)
    for key, value in where.items():
        statement = statement.where(getattr(model, key) == value)
    return db.session.scalar(statement)


def timed(call):
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


@pytest.fixture
def redis_server():
    server = ThrowawayRedis().start()
    yield server
    server.stop()


def test_redis_stops_while_people_work_and_nothing_is_lost(ctx, make, redis_server, tmp_path):
    first, first_applicant = make.case_in("commune_review")
    second, second_applicant = make.case_in("commune_review")
    reviewer = make.reviewer("commune_reviewer", COMMUNE)
    late_reviewer = make.user("commune_reviewer", COMMUNE)
    database_url = ctx.config["SQLALCHEMY_DATABASE_URI"]
    server = AppServer(database_url, tmp_path / "web", redis_url=redis_server.url).start()
    worker = start_worker(database_url, redis_server.url, free_port(), tmp_path, beat=True)
    try:
        # the worker's sweep first delivers what the set-up left in the outbox
        assert wait_for(lambda: count(OutboxMessage, dispatched_at=None) == 0, timeout=60)
        first_seen = count(Notification, user_id=first_applicant.id)
        second_seen = count(Notification, user_id=second_applicant.id)

        # before the outage: a sign-in, a transition, and its notification through the worker
        officer = WebUser(server.url)
        assert officer.login(reviewer.username, PASSWORD).status_code == 302
        page = officer.get(f"/cases/{first.id}").text
        done = officer.post(
            f"/cases/{first.id}/actions",
            {
                "trigger": "return_to_applicant",
                "comment": "Bổ sung ảnh",
                "version": case_version(page),
            },
            token_from=page,
        )
        assert done.status_code == 302, done.text[:500]
        assert wait_for(
            lambda: count(Notification, user_id=first_applicant.id) == first_seen + 1, timeout=60
        )

        redis_server.stop()
        outage_started = time.monotonic()

        # sign-in keeps working (limits fall back to memory), and so do the pages
        latecomer = WebUser(server.url)
        signed_in, took = timed(lambda: latecomer.login(late_reviewer.username, PASSWORD))
        assert signed_in.status_code == 302 and took < SLOW, (signed_in.status_code, took)
        wrong, took = timed(lambda: WebUser(server.url).login(late_reviewer.username, "sai-roi-1"))
        assert wrong.status_code == 401 and took < SLOW
        for path in ("/queue", "/search", f"/cases/{second.id}", "/notifications"):
            response, took = timed(lambda path=path: latecomer.get(path))
            assert response.status_code == 200 and took < SLOW, (path, response.status_code, took)

        # a transition and the applicant's answer both commit, with their outbox rows
        page = latecomer.get(f"/cases/{second.id}").text
        assert offers(page, "return_to_applicant")
        returned, took = timed(
            lambda: latecomer.post(
                f"/cases/{second.id}/actions",
                {
                    "trigger": "return_to_applicant",
                    "comment": "Thiếu minh chứng",
                    "version": case_version(page),
                },
                token_from=page,
            )
        )
        assert returned.status_code == 302 and took < SLOW, (returned.status_code, took)
        household = WebUser(server.url)
        assert household.login(first_applicant.username, PASSWORD).status_code == 302
        # the household sends its self-assessment again, as its browser does
        page = household.get(f"/cases/{first.id}/assessment").text
        form = form_fields(page, marker="data-assessment")
        resubmitted = household.post(
            f"/cases/{first.id}/assessment", dict(form, action="send"), token_from=page
        )
        assert resubmitted.status_code == 302, resubmitted.text[:500]
        assert household.post("/logout", {}, token_from="/notifications").status_code == 302

        db.session.rollback()
        assert db.session.get(Case, second.id).state == "returned"
        assert db.session.get(Case, first.id).state == "commune_review"
        waiting = count(OutboxMessage, dispatched_at=None)
        assert waiting == 2  # the return of `second` and the resubmission of `first`
        time.sleep(3)  # the worker cannot reach Redis: nothing is delivered meanwhile
        assert count(Notification, user_id=second_applicant.id) == second_seen

        # Redis is back: the worker reconnects and its sweep delivers what waited, once
        redis_server.start()
        outage = time.monotonic() - outage_started
        assert wait_for(
            lambda: count(Notification, user_id=second_applicant.id) == second_seen + 1,
            timeout=90,
        )
        assert wait_for(lambda: count(OutboxMessage, dispatched_at=None) == 0, timeout=30)
        time.sleep(2)
        assert count(Notification, user_id=second_applicant.id) == second_seen + 1

        # and the app goes on using Redis again
        again = WebUser(server.url)
        assert again.login(reviewer.username, PASSWORD).status_code == 302
        assert again.get("/queue").status_code == 200
        transitions = count(CaseEvent, trigger="return_to_applicant") + count(
            CaseEvent, trigger="resubmit"
        )
        assert transitions == 3
        assert "Traceback" not in server.log(), server.log()[-3000:]
        print(f"redis outage of {outage:.1f}s survived")  # noqa: T201 - shown with -s
    finally:
        stop(worker)
        server.stop()
