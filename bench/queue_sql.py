"""The reviewer-queue query shape in SQL: plans and timings, before the HTTP bench exists.

A queue page is the cases of one state inside one territory, ordered by due date then id,
50 at a time, the next page starting after the last row seen (keyset). The unit path stored on
the case makes that an index range scan on ``ix_cases_queue_<level>``; this checks the plan
(``EXPLAIN ANALYZE``) and times the first page and a page deep in the queue, for the busiest
commune, the busiest district and the province.
"""

from __future__ import annotations

import statistics
import time

from sqlalchemy import text

from bench.context import BenchContext, Figure
from htsd_workflow.extensions import db

PAGE = 50
RUNS = 30
QUEUE_SQL = """
SELECT cases.id, cases.title, cases.state, cases.due_at, cases.claimed_by_id, cases.self_score,
       cases.version, subjects.name
FROM cases JOIN subjects ON subjects.id = cases.subject_id
WHERE cases.state = :state AND cases.{column} = :unit {keyset}
ORDER BY cases.due_at, cases.id
LIMIT {page}
"""
SHAPES = (
    ("commune", "commune_review", "commune_code"),
    ("district", "district_verification", "district_code"),
    ("province", "provincial_confirmation", "province_code"),
)


def _busiest(state: str, column: str) -> tuple[str, int]:
    return db.session.execute(
        text(
            f"SELECT {column}, count(*) FROM cases WHERE state = :state "
            f"GROUP BY {column} ORDER BY 2 DESC LIMIT 1"
        ),
        {"state": state},
    ).one()


def queue_sql_plans(ctx: BenchContext) -> list[Figure]:
    figures = []
    for level, state, column in SHAPES:
        unit, waiting = _busiest(state, column)
        first_page = QUEUE_SQL.format(column=column, keyset="", page=PAGE)
        params = {"state": state, "unit": unit}
        # the keyset of a page about a third of the way down the queue
        after = db.session.execute(
            text(
                f"SELECT due_at, id FROM cases WHERE state = :state AND {column} = :unit "
                "ORDER BY due_at, id OFFSET :skip LIMIT 1"
            ),
            {**params, "skip": max(0, waiting // 3)},
        ).one()
        deep_page = QUEUE_SQL.format(
            column=column, keyset="AND (cases.due_at, cases.id) > (:due, :after)", page=PAGE
        )
        deep_params = {**params, "due": after.due_at, "after": after.id}
        timings = {}
        plans = {}
        for name, sql, values in (
            ("first page", first_page, params),
            ("keyset page", deep_page, deep_params),
        ):
            samples = []
            for _ in range(RUNS):
                started = time.perf_counter()
                rows = db.session.execute(text(sql), values).all()
                samples.append((time.perf_counter() - started) * 1000)
            if not rows:
                raise RuntimeError(f"the {level} queue page came back empty")
            timings[name] = round(statistics.median(samples), 3)
            plan = db.session.execute(text(f"EXPLAIN (ANALYZE, BUFFERS) {sql}"), values).scalars()
            plans[name] = "\n".join(plan)
        db.session.commit()
        index = f"ix_cases_queue_{level}"
        uses_index = all(index in plan for plan in plans.values())
        figures.append(
            Figure(
                key=f"queue_sql_{level}",
                name=f"queue page SQL: {state} of the busiest {level} ({waiting:,} waiting)",
                value=timings["keyset page"],
                unit="ms (keyset page, median)",
                reference=timings["first page"],
                reference_name="first page, median ms",
                goal=f"index range scan on {index}",
                met=uses_index,
                details={"unit": unit, "timings_ms": timings, "plans": plans},
            )
        )
        ctx.say(f"   {level}: {timings} ms, uses {index}: {uses_index}")
    return figures
