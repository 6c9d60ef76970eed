"""The escalation scan's PostgreSQL path (``cases.pg_escalation``) against the portable path,
and races."""

from __future__ import annotations

import random
import threading
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import func, select, text, update

from htsd_workflow.admin.operations import set_calendar_exception
from htsd_workflow.cases.models import Case, CaseEvent
from htsd_workflow.extensions import db
from htsd_workflow.jobs.runner import commit_each
from htsd_workflow.notifications.models import OutboxMessage
from htsd_workflow.sla import operations
from htsd_workflow.sla.operations import ScanResult, scan_batches, scan_sla

pytestmark = pytest.mark.postgres_only

MONDAY = datetime(2026, 12, 7, 2)  # 09:00 local

#: every row the scan writes or changes, without the ids the sequences hand out
SNAPSHOT = {
    "cases": "SELECT id, escalation_rung, is_escalated, version FROM cases ORDER BY id",
    "visits": (
        "SELECT case_id, stage, entered_at, left_at, is_escalated FROM stage_visits "
        "ORDER BY case_id, stage, entered_at"
    ),
    "events": (
        "SELECT case_id, at, actor_id, actor_role, trigger, from_state, to_state, comment, "
        "data::text FROM case_events WHERE trigger IN ('remind', 'escalate') "
        "ORDER BY case_id, trigger, data::text"
    ),
    # each outbox row with the history row it belongs to
    "outbox": (
        "SELECT o.case_id, e.case_id, e.trigger, e.data::text, o.kind, o.payload::text, "
        "o.created_at, o.dispatched_at, o.attempts FROM outbox AS o "
        "JOIN case_events AS e ON e.id = o.event_id WHERE o.kind IN ('remind', 'escalate') "
        "ORDER BY o.case_id, o.kind, o.payload::text"
    ),
}


def snapshot() -> dict:
    return {name: db.session.execute(text(sql)).all() for name, sql in SNAPSHOT.items()}


def random_cases(make, rng: random.Random, count: int) -> list[int]:
    """Cases in every review stage with random stage entries, deadlines and rungs reached."""
    states = ("commune_review", "district_verification", "provincial_confirmation")
    ids = []
    for i in range(count):
        case, _ = make.case_in(states[i % 3], kind=("family", "clan")[i % 2], now=MONDAY)
        entered = MONDAY - timedelta(days=rng.randint(0, 45), hours=rng.randint(0, 23))
        due = entered + timedelta(days=rng.randint(3, 25), hours=rng.randint(0, 8))
        rung = rng.choice((0, 0, 0, 1, 2))
        db.session.execute(
            update(Case)
            .where(Case.id == case.id)
            .values(
                stage_entered_at=entered,
                due_at=None if i % 7 == 6 else due,
                escalation_rung=rung,
                is_escalated=rung >= 2,
            )
        )
        ids.append(case.id)
    db.session.commit()
    return ids


def test_the_postgres_scan_writes_what_the_portable_scan_writes(ctx, make):
    rng = random.Random(20261207)
    random_cases(make, rng, 24)
    set_calendar_exception(date(2026, 12, 2), False, "nghỉ bù")  # a weekday off
    set_calendar_exception(date(2026, 11, 28), True, "làm bù")  # a Saturday worked
    db.session.commit()
    moments = [MONDAY + timedelta(days=d, hours=h) for d, h in ((0, 0), (3, 5), (9, 1), (30, 0))]
    before = snapshot()
    outcomes = []
    for fire in (operations._fire_batches_postgres, operations._fire_batches_portable):
        fired = [ScanResult.of(operations._batches(fire, now, 4)).fired for now in moments]
        outcomes.append((fired, snapshot()))
        db.session.rollback()
        assert snapshot() == before
    (pg_fired, pg_rows), (portable_fired, portable_rows) = outcomes
    assert pg_fired == portable_fired
    assert sum(sum(f.values()) for f in pg_fired) >= 10  # the data does exercise the ladder
    assert set(pg_fired[0]) | set(pg_fired[-1]) >= {1, 2, 3}
    assert any(r.is_escalated for r in pg_rows["visits"] if ":" in r.stage)  # the joint parts
    assert any('"working_days_late": 0' not in r.data for r in pg_rows["events"])
    for name in SNAPSHOT:
        assert pg_rows[name] == portable_rows[name], name


def test_the_postgres_scan_commits_each_batch(ctx, make):
    for _ in range(5):
        make.case_in("commune_review", now=MONDAY)
    later = MONDAY + timedelta(days=40)
    fired = []
    for _rung, count in commit_each(scan_batches(later, batch_size=2)):  # the worker's loop
        fired.append(count)
        # each batch is committed before the next one starts: another session sees it
        with db.engine.connect() as other:
            seen = other.scalar(select(func.count()).where(Case.escalation_rung == 3))
        assert seen == sum(fired)
    assert fired == [2, 2, 1]
    db.session.rollback()  # nothing left to roll back: every batch was committed
    assert db.session.scalar(select(func.count()).where(Case.escalation_rung == 3)) == 5
    assert scan_sla(later, batch_size=2).total == 0


def test_three_scans_at_once_fire_each_rung_once_with_all_its_rows(ctx, make, app):
    rng = random.Random(7)
    ids = random_cases(make, rng, 12)
    barrier = threading.Barrier(3)
    results, errors = [], []
    now = MONDAY + timedelta(days=12)

    def scan():
        with app.app_context():
            try:
                barrier.wait(10)
                # as the worker does: committed batch by batch
                results.append(ScanResult.of(commit_each(scan_batches(now, batch_size=2))).fired)
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=scan) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    alone = {}
    for fired in results:
        for rung, count in fired.items():
            alone[rung] = alone.get(rung, 0) + count
    events = db.session.execute(
        select(CaseEvent.case_id, CaseEvent.data).where(
            CaseEvent.trigger.in_(("remind", "escalate"))
        )
    ).all()
    fired_cases = [case_id for case_id, _ in events]
    assert len(fired_cases) == len(set(fired_cases)) == sum(alone.values()) > 0
    # every history row has its one outbox row, and the case holds the rung it records
    outbox = db.session.scalar(
        select(func.count()).where(OutboxMessage.kind.in_(("remind", "escalate")))
    )
    assert outbox == len(events)
    rung_of = dict(db.session.execute(select(Case.id, Case.escalation_rung)).all())
    assert all(rung_of[case_id] == data["rung"] for case_id, data in events)
    assert {case_id for case_id in ids if rung_of[case_id]} >= set(fired_cases)


def test_the_tables_the_scan_flags_leave_room_for_heap_only_updates(ctx):
    options = dict(
        db.session.execute(
            text(
                "SELECT relname, reloptions FROM pg_class "
                "WHERE relname IN ('cases', 'stage_visits') AND relkind = 'r'"
            )
        ).all()
    )
    assert options == {"cases": ["fillfactor=90"], "stage_visits": ["fillfactor=90"]}


def test_the_flags_are_found_case_by_case_whatever_the_planner_prefers(ctx, make):
    """The statement flagging the stage visits looks up each claimed case's open visits by its
    index, even when the planner would rather join every open visit of the stage at once: on
    the 1M data a custom plan for a batch of 5,000 chose a hash join over the ~60,000 open
    visits of the stage (0.5–2 s per batch, instead of ≈ 0.15 s). ``enable_nestloop = off``
    stands in for that preference here: a join it can choose, it then avoids."""
    from htsd_workflow.cases import pg_escalation as pgscan
    from htsd_workflow.cases.engine import get_registry
    from htsd_workflow.core import pg
    from htsd_workflow.core.calendar import get_calendar

    ids = [make.case_in("commune_review", now=MONDAY)[0].id for _ in range(6)]
    db.session.commit()
    ladder = get_registry().definition("family").escalation
    rung = next(r for r in ladder if r.action == "escalate")

    class Capture:
        """Keeps the statement ``pgscan.write`` would send."""

        def execute(self, sql, params):
            self.sql, self.params = sql, params

    statement = Capture()
    pgscan.write(
        statement,
        stage="commune_review",
        rung=rung,
        claimed=[(case_id, MONDAY) for case_id in ids],
        now=MONDAY + timedelta(days=30),
        calendar=get_calendar(),
    )
    cur = pg.cursor()
    cur.execute("SET LOCAL enable_nestloop = off")
    cur.execute("SET LOCAL enable_seqscan = off")  # as on a table of millions of visits
    cur.execute("SET LOCAL plan_cache_mode = force_custom_plan")
    cur.execute("EXPLAIN " + statement.sql, statement.params)
    plan = "\n".join(row[0] for row in cur.fetchall())
    flagged = plan[plan.index("CTE flagged") : plan.index("CTE events")]
    # the open visits found by a nested loop over the claimed cases, updated by primary key
    assert "InitPlan" in flagged and "Nested Loop" in flagged, plan
    assert "Hash Join" not in flagged and "Merge Join" not in flagged, plan
    assert "Index Cond: (id = ANY" in flagged, plan
    db.session.rollback()


def test_the_stage_visits_carry_only_the_indexes_their_queries_read(ctx):
    """Each index of ``stage_visits`` costs an entry per row version — and every stage-visit
    flag the scan sets is a new version (the flag is in the report indexes). The primary key;
    a case's open visits (transitions, the scan); the reports' two covering indexes. The old
    index on stage and entry, which no query read, is gone."""
    indexes = db.session.scalars(
        text("SELECT indexname FROM pg_indexes WHERE tablename = 'stage_visits'")
    ).all()
    assert sorted(indexes) == [
        "ix_stage_visits_left_report",
        "ix_stage_visits_open",
        "ix_stage_visits_open_report",
        "pk_stage_visits",
    ]
