"""Instructions per single transition, which other work on the machine does not move.

Run under callgrind (instrumentation off at start; this script switches it on around each
loop with ``callgrind_control``), on the bench database::

    valgrind --tool=callgrind --separate-threads=yes --instr-atstart=no \\
        --callgrind-out-file=/tmp/cg/out.%p python -m bench.callgrind_single 200

Dump 1 (``fire_trigger``) covers ``N`` transitions through ``fire_trigger`` + commit on one
held connection after 50 warm-up ones; dump 2 (``replay``) the same statements replayed by
psycopg (``bench.capture.replay``) on ``N`` other cases. With ``--separate-threads=yes`` the
main thread's file of each dump (``…-01``) holds the transitions' own instructions
(``totals:`` line ÷ N); the other files are the worker notice's timer threads.
"""

from __future__ import annotations

import random
import sys

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from bench.capture import capture, replay
from bench.context import callgrind_control, database_uri
from bench.data import append_cases
from bench.data.load import connect
from htsd_workflow import create_app
from htsd_workflow.auth.models import User
from htsd_workflow.cases.operations import fire_trigger
from htsd_workflow.extensions import db
from htsd_workflow.geography.models import Unit

WARM_UP = 50


def main(count: int) -> None:
    uri = database_uri()
    app = create_app({"SQLALCHEMY_DATABASE_URI": uri})
    with app.app_context():
        communes = db.session.scalars(
            select(Unit.code).where(Unit.level == "commune").order_by(Unit.code)
        ).all()[:200]
        users = db.session.scalars(
            select(User).where(User.username.in_([f"xa{c}" for c in communes]))
        ).all()
        for user in users:
            db.session.expunge(user)
        db.session.commit()
        reviewers = {u.username: u for u in users}
        pool = append_cases(WARM_UP + count, "commune_review", communes)
        driver_pool = append_cases(20 + count, "commune_review", communes)
        captured_pool = append_cases(1, "commune_review", communes[:1])
        first = min(pool[0], driver_pool[0], captured_pool[0])
        commune_of = dict(
            db.session.execute(
                text("SELECT id, commune_code FROM cases WHERE id >= :first"), {"first": first}
            ).all()
        )
        db.session.commit()
        db.session.remove()
        connection = db.engine.connect()
        session = Session(bind=connection)
        db.session.registry.set(session)

        def approve(case_id):
            fire_trigger(case_id, "approve", reviewers[f"xa{commune_of[case_id]}"])
            db.session.commit()

        captured = capture(lambda: approve(captured_pool[0]))
        random.Random(1).shuffle(pool)
        for case_id in pool[:WARM_UP]:
            approve(case_id)
        callgrind_control("-i", "on")
        for case_id in pool[WARM_UP:]:
            approve(case_id)
        callgrind_control("-d", "fire_trigger")
        callgrind_control("-i", "off")
        driver = connect(uri)
        for case_id in driver_pool[:20]:
            replay(driver, captured, {captured_pool[0]: case_id})
        callgrind_control("-i", "on")
        for case_id in driver_pool[20:]:
            replay(driver, captured, {captured_pool[0]: case_id})
        callgrind_control("-d", "replay")
        callgrind_control("-i", "off")
        driver.close()
        session.close()
        connection.close()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
