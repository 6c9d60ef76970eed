"""Benchmark 5: the bottleneck and targets reports, for the whole province and one district.

Timed three ways, medians of a few runs on the same data:

* the query function (``reports.queries.bottlenecks`` / ``targets``) in-process, as the
  province's manager ``lanhdaotinh`` (the district: the same with ``unit=<district>``);
* the HTTP page (``/reports/bottlenecks``, ``/reports/targets``) from gunicorn as deployed,
  signed in as that manager — the page also runs the longest-waiting list and the weekly
  trend;
* the reference: the statements the function sent (captured at the driver) replayed
  through raw psycopg.

The plans of the aggregations (``EXPLAIN (ANALYZE, BUFFERS)``) are printed beside them.
"""

from __future__ import annotations

import statistics
import time
from datetime import date

import psycopg
from sqlalchemy import delete, func, select, text
from sqlalchemy.engine import make_url

from bench.capture import capture
from bench.context import BenchContext, Figure
from bench.data import BENCH_PASSWORD
from bench.httpload import Server, settle, sign_in, verdict
from htsd_workflow.auth.models import User
from htsd_workflow.core.time import to_local, utcnow
from htsd_workflow.extensions import db
from htsd_workflow.reports.models import ClosedMonth, MonthlyVisitFigures
from htsd_workflow.reports.months import close_months
from htsd_workflow.reports.queries import (
    Filters,
    _settings_for_aggregates,
    bottleneck_visits,
    bottlenecks,
    targets,
)

RUNS = 3
#: issue 26's goals (ms, the page and its query function): bottleneck reports ≤ 150, targets ≤ 100
GOAL_MS = {"bottleneck": 150.0, "targets": 100.0}
MANAGER = "lanhdaotinh"


def _libpq(uri: str) -> str:
    return make_url(uri).set(drivername="postgresql").render_as_string(hide_password=False)


def _median_ms(function, runs: int = RUNS) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        samples.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(samples), 1)


def replay_ms(database_uri: str, statements, runs: int = RUNS) -> float:
    """Median time of the statements replayed through psycopg in one (rolled back) transaction."""
    with psycopg.connect(_libpq(database_uri)) as connection:
        cursor = connection.cursor()

        def once():
            for statement in statements:
                cursor.execute(statement.sql, statement.params)
                if cursor.description is not None:
                    cursor.fetchall()
            connection.rollback()

        once()  # warm
        return _median_ms(once, runs)


def explain(database_uri: str, statements) -> dict[str, str]:
    """Plans of the statements that aggregate (GROUP BY) — the ones that read many rows."""
    plans = {}
    with psycopg.connect(_libpq(database_uri)) as connection:
        for number, statement in enumerate(statements, 1):
            if "set_config" in statement.sql:  # the report's own settings (JIT, work_mem)
                connection.execute(statement.sql, statement.params)
            if "GROUP BY" not in statement.sql:
                continue
            rows = connection.execute(
                "EXPLAIN (ANALYZE, BUFFERS) " + statement.sql, statement.params
            ).fetchall()
            plans[f"statement {number}"] = "\n".join(r[0] for r in rows)
        connection.rollback()
    return plans


def _read_floor(manager, filters: Filters):
    """The statements that only read the rows the bottleneck report aggregates: the visits
    overlapping the period, counted (the same index-only scans, no grouping or sums)."""

    def count():
        _settings_for_aggregates()
        _column, visits = bottleneck_visits(manager, filters)
        return db.session.scalar(select(func.count()).select_from(visits))

    statements = capture(count).statements
    rows = count()
    db.session.rollback()
    return statements, rows


def _busiest_district() -> str:
    return (
        db.session.execute(
            text("SELECT district_code FROM cases WHERE is_open GROUP BY 1 ORDER BY count(*) DESC")
        )
        .scalars()
        .first()
    )


def _close_months(ctx: BenchContext) -> list[Figure]:
    """The worker's nightly job on the bench data: every month counted anew (as after a fresh
    load), then the next night's run, which only recounts the months already closed."""
    db.session.execute(delete(MonthlyVisitFigures))
    db.session.execute(delete(ClosedMonth))
    db.session.commit()
    started = time.perf_counter()
    first = close_months()
    db.session.commit()
    first_s = time.perf_counter() - started
    # what autovacuum does to new rows soon after: the index-only scans need the visibility map
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM (ANALYZE) stage_visit_months"))
    started = time.perf_counter()
    nightly = close_months()
    db.session.commit()
    nightly_s = time.perf_counter() - started
    visits = db.session.scalar(select(func.sum(ClosedMonth.visits)))
    ctx.say(
        f"   closing months: {len(first.closed)} months, {visits:,} visits into "
        f"{first.cells:,} cells in {first_s:.1f} s; the next night's run {nightly_s:.2f} s"
    )
    if nightly.closed or nightly.recounted:
        raise RuntimeError(f"the second run changed months: {nightly}")
    return [
        Figure(
            key="report_months_close",
            name=f"5. (upkeep) the nightly job closing every month from scratch: "
            f"{len(first.closed)} months, {visits:,} visits into {first.cells:,} cells",
            value=round(first_s, 2),
            unit="s",
            reference=round(nightly_s, 2),
            reference_name="s, the next night's run (recounts the closed months)",
            ratio=round(first_s / nightly_s, 2) if nightly_s else None,
            goal="(for information: once, after a load with past dates)",
            details={"months": len(first.closed), "visits": visits, "cells": first.cells},
        )
    ]


def _visit_by_visit_ms(function) -> float:
    """``function`` timed with no month closed: the report counting every visit, as before the
    monthly cells (the months are forgotten in a transaction that is rolled back)."""

    def once():
        db.session.execute(delete(ClosedMonth))
        function()
        db.session.rollback()

    once()
    return _median_ms(once)


def report_queries(ctx: BenchContext) -> list[Figure]:
    manager = db.session.scalar(select(User).where(User.username == MANAGER))
    if manager is None:
        raise RuntimeError(f"no account {MANAGER} in the bench data")
    db.session.expunge(manager)
    upkeep = _close_months(ctx)
    district = _busiest_district()
    today = to_local(utcnow()).date()
    year_start = date(today.year, 1, 1)
    shapes = []
    floors = {}
    for scope, unit in (("province", None), (f"district {district}", district)):
        query = f"?unit={unit}" if unit else ""
        floors[scope] = _read_floor(manager, Filters(year_start, today, unit=unit))
        shapes.append(
            (
                "bottleneck",
                scope,
                lambda unit=unit: bottlenecks(manager, Filters(year_start, today, unit=unit)),
                f"/reports/bottlenecks{query}",
            )
        )
        shapes.append(
            (
                "targets",
                scope,
                lambda unit=unit: targets(manager, year=today.year, unit=unit),
                f"/reports/targets{query}",
            )
        )
    measured = []
    visit_by_visit = {}
    busy_before = settle(ctx.say)
    for report, scope, function, url in shapes:
        function()  # warm the caches (calendar, plans, units)
        db.session.rollback()
        statements = capture(function).statements
        db.session.rollback()
        function_ms = _median_ms(lambda f=function: (f(), db.session.rollback()))
        raw_ms = replay_ms(ctx.database_uri, statements)
        plans = explain(ctx.database_uri, statements)
        if report == "bottleneck":
            visit_by_visit[scope] = _visit_by_visit_ms(function)
        measured.append([report, scope, url, function_ms, raw_ms, len(statements), plans])
    db.session.commit()
    trends = {}
    with Server(ctx.database_uri) as server:
        session = sign_in(server.url, MANAGER, BENCH_PASSWORD)
        for row in measured:
            url = server.url + row[2]

            def fetch(url=url):
                answer = session.get(url, timeout=120)
                if answer.status_code != 200:
                    raise RuntimeError(f"{url}: {answer.status_code}")

            fetch()
            row.append(_median_ms(fetch))
            if row[0] == "bottleneck":
                # the weekly trend, which the screen page fetches once it shows
                trend_url = url.replace("/reports/bottlenecks", "/reports/bottlenecks/trend", 1)

                def fetch_trend(url=trend_url):
                    answer = session.get(url, timeout=120, headers={"X-Requested-With": "fetch"})
                    if answer.status_code != 200 or "<polyline" not in answer.text:
                        raise RuntimeError(f"{url}: {answer.status_code}")

                fetch_trend()
                trends[row[1]] = (trend_url.removeprefix(server.url), _median_ms(fetch_trend))
    figures = upkeep
    for report, scope, url, function_ms, raw_ms, count, plans, page_ms in measured:
        ctx.say(
            f"   {report} report, {scope}: page {page_ms} ms, function {function_ms} ms, "
            f"its {count} statements via psycopg {raw_ms} ms"
        )
        goal_ms = GOAL_MS[report]
        met, note = verdict(page_ms <= goal_ms and function_ms <= goal_ms, busy_before)
        figures.append(
            Figure(
                key=f"report_{report}_{scope.split()[0]}",
                name=f"5. {report} report, {scope}: the HTTP page {url} (median of {RUNS})",
                value=page_ms,
                unit=f"ms (the query function alone {function_ms} ms)",
                reference=raw_ms,
                reference_name=f"ms, the function's {count} statements via psycopg",
                ratio=round(page_ms / raw_ms, 2) if raw_ms else None,
                goal=f"≤ {goal_ms:g} ms (page and function)" + note,
                met=met,
                details={
                    "function_ms": function_ms,
                    "raw_sql_ms": raw_ms,
                    "page_ms": page_ms,
                    "plans": plans,
                    "unit": scope,
                },
            )
        )
        if report == "bottleneck":
            visit_by_visit_ms = visit_by_visit[scope]
            figures.append(
                Figure(
                    key=f"report_{report}_{scope.split()[0]}_visit_by_visit",
                    name=f"5. bottleneck report, {scope}: the query function with no month "
                    f"closed (every visit counted, as before the monthly cells; median of {RUNS})",
                    value=visit_by_visit_ms,
                    unit="ms",
                    reference=function_ms,
                    reference_name="ms, the function with the closed months' cells",
                    ratio=round(visit_by_visit_ms / function_ms, 2) if function_ms else None,
                    goal="(for information: what the cells save)",
                    details={"visit_by_visit_ms": visit_by_visit_ms},
                )
            )
            trend_url, trend_ms = trends[scope]
            figures.append(
                Figure(
                    key=f"report_{report}_{scope.split()[0]}_trend",
                    name=f"5. bottleneck report, {scope}: its weekly trend {trend_url}, which "
                    f"the page fetches once shown (median of {RUNS})",
                    value=trend_ms,
                    unit="ms",
                    reference=page_ms,
                    reference_name="ms, the page without it",
                    ratio=round(trend_ms / page_ms, 2) if page_ms else None,
                    goal="(for information: the chart arrives after the tables)",
                    details={"trend_ms": trend_ms, "url": trend_url},
                )
            )
            statements, rows = floors[scope]
            floor_ms = replay_ms(ctx.database_uri, statements)
            figures.append(
                Figure(
                    key=f"report_{report}_{scope.split()[0]}_read_floor",
                    name=f"5. (floor) reading the {rows:,} visits the bottleneck report "
                    f"counts, {scope}: count(*) of the same index-only scans, no aggregation",
                    value=floor_ms,
                    unit="ms (PostgreSQL via psycopg)",
                    reference=raw_ms,
                    reference_name="ms, the report's statements via psycopg",
                    ratio=round(floor_ms / raw_ms, 2) if raw_ms else None,
                    goal="(what any exact live count of these visits costs)",
                    details={"visits": rows, "floor_ms": floor_ms},
                )
            )
    return figures
