"""The reports' one-scan queries against the straightforward SQL they replaced, on random visits.

The bottleneck report reads the visits overlapping the period once (open ones and those that
left since its start, through covering indexes on PostgreSQL) and takes the median and 90th
percentile from per-value counts; the weekly trend groups the same visits once. Here both are
compared with the plain statements (one ``OR`` over every visit, ``percentile_cont``) on
random visits: open and closed, before, inside and after the period, every outcome.
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import and_, case, event, func, or_, select, text

from htsd_workflow.auth.scope import scope_clause
from htsd_workflow.cases.models import Case, StageVisit
from htsd_workflow.core.calendar import get_calendar
from htsd_workflow.extensions import db
from htsd_workflow.reports.queries import (
    TITLES,
    Filters,
    _group_level,
    _start,
    _unit_filter,
    bottleneck_visits,
    bottlenecks,
    longest_waiting,
    percentile,
    percentile_of_counts,
    targets,
    weekly_trend,
)
from tests.factories import (
    COMMUNE,
    COMMUNE_IN_OTHER_DISTRICT,
    DISTRICT,
    OTHER_COMMUNE_SAME_DISTRICT,
    OTHER_DISTRICT,
)
from tests.reports.test_reports import visit

NOW = datetime(2026, 11, 28, 3)
#: the three-tier files' returns (to the applicant, to the district, to the commune)
RETURN_TRIGGERS = ("return_to_applicant", "return_to_district", "return_to_commune")
STAGES = (
    "commune_review",
    "district_verification",
    "provincial_confirmation",
    "provincial_confirmation:education",
)
OUTCOMES = ("approve", "sign", "reject", *RETURN_TRIGGERS, "withdraw")
#: (district, commune): a commune's subjects, and a unit the district manages itself
UNITS = (
    (DISTRICT, COMMUNE),
    (DISTRICT, OTHER_COMMUNE_SAME_DISTRICT),
    (DISTRICT, None),
    (OTHER_DISTRICT, COMMUNE_IN_OTHER_DISTRICT),
)


def random_visits(case, seed: int, count: int = 400) -> list[StageVisit]:
    rng = random.Random(seed)
    origin = datetime(2025, 9, 1)
    for _ in range(count):
        entered = origin + timedelta(hours=rng.randrange(0, 24 * 440))
        left = None
        if rng.random() < 0.7:
            left = entered + timedelta(hours=rng.randrange(0, 24 * 60))
        if left is None and rng.random() < 0.3:
            due = NOW + timedelta(hours=rng.randrange(-48, 120))  # around now and soon
        elif rng.random() < 0.9:
            due = entered + timedelta(hours=rng.randrange(1, 24 * 30))
        else:
            due = None
        district, commune = rng.choice(UNITS)
        visit(
            case,
            stage=rng.choice(STAGES),
            title=rng.choice(TITLES),
            district_code=district,
            commune_code=commune,
            entered_at=entered,
            left_at=left,
            due_at=due,
            outcome=rng.choice(OUTCOMES) if left else None,
            working_days=rng.randrange(0, 25) if left and rng.random() < 0.9 else None,
            is_late=rng.choice((True, False, None)) if left else None,
            is_escalated=rng.random() < 0.2,
        )
    db.session.commit()
    return db.session.scalars(select(StageVisit)).all()


def _sorted_percentile(values, fraction):
    """PostgreSQL's percentile_cont, the way the SQLite path computed it before."""
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return float(ordered[low] + (ordered[high] - ordered[low]) * (position - low))


def straightforward_bottlenecks(user, filters, now):
    """The report's figures from the statements it used before: one pass with an ``OR`` over
    every visit, and the percentiles by ``percentile_cont`` (SQLite: over every value)."""
    start, end = _start(filters.date_from), _start(filters.date_to + timedelta(days=1))
    soon = get_calendar().due_at(now, 2)
    column_name, code = _group_level(user, filters.unit)
    unit_column = getattr(StageVisit, column_name)
    conditions = [scope_clause(user, StageVisit, subject_column=StageVisit.case_id)]
    if code:
        conditions.append(_unit_filter(StageVisit, code))
    if filters.title:
        conditions.append(StageVisit.title == filters.title)
    if filters.stage:
        conditions.append(StageVisit.stage == filters.stage)
    sv = StageVisit
    open_now = sv.left_at.is_(None)
    arrived = and_(sv.entered_at >= start, sv.entered_at < end)
    completed = and_(sv.left_at >= start, sv.left_at < end)
    carried = and_(sv.entered_at < start, or_(sv.left_at.is_(None), sv.left_at >= start))
    decided = and_(completed, sv.outcome.not_in((*RETURN_TRIGGERS, "withdraw")))

    def count(condition):
        return func.sum(case((condition, 1), else_=0))

    rows = db.session.execute(
        select(
            sv.stage,
            unit_column,
            count(open_now),
            count(arrived),
            count(completed),
            count(and_(open_now, sv.due_at < now)),
            count(and_(sv.is_escalated, or_(open_now, completed))),
            count(and_(completed, sv.outcome.in_(RETURN_TRIGGERS))),
            count(or_(arrived, carried)),
            count(and_(open_now, sv.due_at >= now, sv.due_at <= soon)),
            count(and_(open_now, or_(sv.due_at > soon, sv.due_at.is_(None)))),
            count(and_(completed, sv.outcome == "withdraw")),
            count(and_(decided, sv.is_late.is_(True))),
            count(and_(decided, sv.is_late.is_not(True))),
        )
        .where(*conditions, or_(open_now, sv.left_at >= start), sv.entered_at < end)
        .group_by(sv.stage, unit_column)
        .order_by(sv.stage, unit_column)
    ).all()
    base = [*conditions, completed, sv.working_days.is_not(None)]
    if db.engine.dialect.name == "postgresql":
        durations = {
            (s, u): (m, p)
            for s, u, m, p in db.session.execute(
                select(
                    sv.stage,
                    unit_column,
                    func.percentile_cont(0.5).within_group(sv.working_days),
                    func.percentile_cont(0.9).within_group(sv.working_days),
                )
                .where(*base)
                .group_by(sv.stage, unit_column)
            )
        }
    else:
        values = {}
        for s, u, d in db.session.execute(
            select(sv.stage, unit_column, sv.working_days).where(*base)
        ):
            values.setdefault((s, u), []).append(d)
        durations = {
            k: (_sorted_percentile(v, 0.5), _sorted_percentile(v, 0.9)) for k, v in values.items()
        }
    return [
        (
            stage,
            unit or "",
            *(n or 0 for n in counts),
            *durations.get((stage, unit), (None, None)),
        )
        for stage, unit, *counts in rows
    ]


FIGURES = (
    "waiting",
    "arrived",
    "completed",
    "overdue",
    "escalated",
    "returned",
    "to_handle",
    "nearly_late",
    "not_yet_due",
    "withdrawn",
    "late_done",
    "on_time_done",
    "median_days",
    "p90_days",
)


@pytest.mark.parametrize("seed", [1, 2])
def test_bottlenecks_in_one_scan_equal_the_straightforward_statements(ctx, make, seed):
    case, _ = make.case_in("draft")
    random_visits(case, seed)
    province, district = make.user("manager", "62"), make.user("manager", DISTRICT)
    shapes = [
        (province, Filters(date(2026, 1, 1), date(2026, 11, 28))),
        (province, Filters(date(2026, 3, 1), date(2026, 6, 30))),  # visits leave after it
        (province, Filters(date(2025, 10, 1), date(2026, 2, 14), title="clan")),
        (province, Filters(date(2026, 1, 1), date(2026, 12, 31), unit=DISTRICT)),
        (province, Filters(date(2026, 2, 1), date(2026, 9, 30), stage="district_verification")),
        (district, Filters(date(2026, 1, 1), date(2026, 11, 28))),
        (district, Filters(date(2026, 4, 1), date(2026, 8, 31), unit=COMMUNE, title="family")),
    ]
    compared = 0
    for user, filters in shapes:
        expected = straightforward_bottlenecks(user, filters, NOW)
        rows = bottlenecks(user, filters, now=NOW)["rows"]
        got = [(r["stage"], r["unit_code"], *(r[f] for f in FIGURES)) for r in rows]
        assert got == expected, filters
        compared += len(rows)
    assert compared > 40
    # every figure is exercised somewhere
    rows = bottlenecks(province, Filters(date(2026, 1, 1), date(2026, 11, 28)), now=NOW)["rows"]
    for figure in FIGURES:
        assert any(r[figure] for r in rows), figure


def test_the_visits_read_are_exactly_those_the_report_counts(ctx, make):
    """``bottleneck_visits`` (what the bench's read floor counts) is the report's own row
    source: every visit it yields is one the report handles in the period (``to_handle``)."""
    case, _ = make.case_in("draft")
    random_visits(case, 3)
    province, district = make.user("manager", "62"), make.user("manager", DISTRICT)
    for user, filters in (
        (province, Filters(date(2026, 1, 1), date(2026, 11, 28))),
        (province, Filters(date(2026, 3, 1), date(2026, 6, 30), title="clan")),
        (district, Filters(date(2026, 1, 1), date(2026, 11, 28), unit=COMMUNE)),
    ):
        _column, visits = bottleneck_visits(user, filters)
        read = db.session.scalar(select(func.count()).select_from(visits))
        rows = bottlenecks(user, filters, now=NOW)["rows"]
        assert read == sum(r["to_handle"] for r in rows) > 0, filters


def expected_weeks(visits, days):
    out = []
    for day in days:
        start, end = _start(day), _start(day + timedelta(days=7))
        out.append(
            (
                sum(start <= v.entered_at < end for v in visits),
                sum(v.left_at is not None and start <= v.left_at < end for v in visits),
                sum(
                    v.due_at is not None
                    and max(v.entered_at, v.due_at) < end
                    and (
                        v.left_at is None
                        or (v.left_at >= end and v.left_at > max(v.entered_at, v.due_at))
                    )
                    for v in visits
                ),
            )
        )
    return out


def test_weekly_trend_in_one_scan_by_unit_and_title(ctx, make):
    case, _ = make.case_in("draft")
    visits = random_visits(case, 3, count=500)
    province = make.user("manager", "62")
    for filters, kept in (
        (Filters(date(2026, 1, 7), date(2026, 9, 30)), lambda v: True),
        (
            Filters(date(2025, 12, 1), date(2026, 5, 31), unit=DISTRICT, title="unit"),
            lambda v: v.district_code == DISTRICT and v.title == "unit",
        ),
    ):
        first = filters.date_from - timedelta(days=filters.date_from.weekday())
        days = []
        while first <= filters.date_to:
            days.append(first)
            first += timedelta(days=7)
        mine = [v for v in visits if ":" not in v.stage and kept(v)]
        weeks = weekly_trend(province, filters)
        assert [w["week"] for w in weeks] == [d.isoformat() for d in days]
        expected = expected_weeks(mine, days)
        assert any(b for _a, _c, b in expected)
        assert [(w["arrived"], w["completed"], w["overdue_backlog"]) for w in weeks] == expected


def test_percentile_of_counts_equals_the_percentile_of_the_values():
    rng = random.Random(7)
    for _ in range(200):
        values = [rng.randrange(0, 30) for _ in range(rng.randrange(1, 60))]
        counts = {}
        for value in values:
            counts[value] = counts.get(value, 0) + 1
        for fraction in (0.5, 0.9, 0.0, 1.0, 0.25):
            assert percentile_of_counts(list(counts.items()), fraction) == _sorted_percentile(
                values, fraction
            )
            assert percentile(values, fraction) == _sorted_percentile(values, fraction)


def _plans_of(function) -> str:
    """EXPLAIN of every SELECT ``function`` sends, with sequential and bitmap scans disabled."""
    sent = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT"):
            sent.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        function()
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    connection = db.session.connection()
    connection.execute(text("SET LOCAL enable_seqscan = off"))
    connection.execute(text("SET LOCAL enable_bitmapscan = off"))
    plans = []
    for statement, parameters in sent:
        rows = connection.exec_driver_sql("EXPLAIN " + statement, parameters).all()
        plans.append("\n".join(r[0] for r in rows))
    db.session.rollback()
    return "\n".join(plans)


@pytest.mark.postgres_only
def test_the_reports_read_covering_indexes_only(ctx, make):
    """Every column the reports read is in the index they scan: index-only scans on
    PostgreSQL (a column left out of an index would turn them into heap reads)."""
    # a case waiting with a deadline: its copies below are what the longest-waiting list
    # walks (a draft has no deadline, so it is not in ix_cases_open_waiting at all, and the
    # planner, seeing no rows there, chose between the walk and a sort by a coin's toss)
    case, _ = make.case_in("commune_review")
    random_visits(case, 4, count=50)
    province = make.user("manager", "62")
    year = Filters(date(2026, 1, 1), date(2026, 11, 28))
    for function in (
        lambda: bottlenecks(province, year, now=NOW),
        lambda: bottlenecks(province, Filters(year.date_from, year.date_to, unit=DISTRICT)),
        lambda: weekly_trend(province, year),
    ):
        plans = _plans_of(function)
        assert "Index Only Scan using ix_stage_visits_open_report" in plans, plans
        assert "Index Only Scan using ix_stage_visits_left_report" in plans, plans
        assert "Seq Scan on stage_visits" not in plans
    plans = _plans_of(lambda: targets(province, year=2026))
    assert "Index Only Scan using ix_cases_targets" in plans, plans
    # the longest-waiting list walks the open cases in arrival order (no sort of them all):
    # many open cases, so that the planner weighs the walk against a sort
    columns = ", ".join(
        c.name for c in Case.__table__.columns if c.name not in ("id", "year", "stage_entered_at")
    )
    db.session.execute(
        text(
            f"INSERT INTO cases ({columns}, year, stage_entered_at) SELECT {columns}, 3000 + n, "
            "stage_entered_at + n * interval '1 hour' FROM cases, generate_series(1, 3000) n"
        )
    )
    db.session.execute(text("ANALYZE cases"))
    db.session.commit()
    plans = _plans_of(lambda: longest_waiting(province, year))
    assert "Index Scan using ix_cases_open_waiting" in plans and "Sort Key" not in plans, plans
