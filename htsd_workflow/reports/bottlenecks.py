"""The bottleneck report: per stage and area, waiting, arrived, completed, overdue, escalated,
returned, median and p90 working days, the one-stop-shop rates; the longest-waiting cases.

Definitions (shown beside the figures):
- waiting: cases in the stage now; arrived / completed: stage entered / left in the period;
- overdue: waiting past the stage's due moment; escalated: waiting or completed-in-period visits
  that the ladder escalated; returned: completed in the period by a return;
- median / p90 days: working days spent by the visits completed in the period;
- one-stop-shop statistics: to handle = arrived in the period + carried over (entered before
  it, still open at its start); late rate = (late in progress + late done) / to handle; on-time
  rate = 100 % − late rate (early counts as on time)."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, datetime, timedelta

from sqlalchemy import and_, case, func, literal, or_, select, union_all

from htsd_workflow.auth.models import User
from htsd_workflow.auth.scope import territory
from htsd_workflow.cases.engine import get_registry
from htsd_workflow.cases.models import Case, StageVisit
from htsd_workflow.core.calendar import get_calendar
from htsd_workflow.core.errors import rendered
from htsd_workflow.core.labels import direct_row_name
from htsd_workflow.core.time import utcnow
from htsd_workflow.extensions import db
from htsd_workflow.geography.queries import reform_day_between
from htsd_workflow.reports.definitions import BOTTLENECK_DEFINITIONS
from htsd_workflow.reports.filters import (
    Filters,
    _group_level,
    _overlapping,
    _scope_across_reform,
    _start,
    _unit_filter,
    _unit_names,
)
from htsd_workflow.reports.models import MonthlyVisitFigures
from htsd_workflow.reports.months import closed_span


def _settings_for_aggregates() -> None:
    """For the rest of this transaction (PostgreSQL): no JIT compilation — compiling the
    report's expressions costs more than it saves on these scans — and the memory to hash its
    groups (the planner cannot tell how few (stage, unit, days) groups there are and would
    otherwise sort every visit on disk)."""
    if db.engine.dialect.name == "postgresql":
        db.session.execute(
            select(func.set_config("jit", "off", True), func.set_config("work_mem", "32MB", True))
        )


def bottleneck_visits(user: User, filters: Filters, *, skip_months=None):
    """The bottleneck report's rows to count: the visits in ``user``'s scope and the filters
    that overlap the period, each with the unit it is counted under; and that unit's column.
    ``skip_months`` (first month, month after the last): leave out the visits that left in
    those months (the report reads them from their monthly cells).

    Each branch (open visits; visits that left since the period's start) also says what it
    knows of its rows — open or not, completed in the period or not, arrived in it or carried
    over — so that the report tests each once per visit, not in every count.
    """
    start, end = _start(filters.date_from), _start(filters.date_to + timedelta(days=1))
    column_name, code = _group_level(user, filters.unit)
    conditions = [_scope_across_reform(user, StageVisit, subject_column=StageVisit.case_id)]
    if code:
        conditions.append(_unit_filter(StageVisit, code))
    if filters.title:
        conditions.append(StageVisit.title == filters.title)
    if filters.stage:
        conditions.append(StageVisit.stage == filters.stage)
    columns = [
        StageVisit.stage,
        getattr(StageVisit, column_name).label("unit_code"),
        StageVisit.due_at,
        StageVisit.outcome,
        StageVisit.working_days,
        StageVisit.is_late,
        StageVisit.is_escalated,
        # every row entered before the period's end (both branches say so): it arrived in
        # the period, or was carried over into it
        (StageVisit.entered_at >= start).label("arrived"),
    ]
    visits = _overlapping(
        columns,
        conditions,
        start,
        end,
        open_only=(literal(True).label("open_now"), literal(False).label("completed")),
        left_only=(literal(False).label("open_now"), (StageVisit.left_at < end).label("completed")),
        skip=skip_months and (_start(skip_months[0]), _start(skip_months[1])),
    )
    return column_name, visits


def _closed_month_groups(user: User, filters: Filters, months):
    """The groups of ``bottlenecks`` by district, with the same columns, from the monthly
    cells of the visits that left in ``months`` — all completed in the period and to handle
    in it, none waiting. The histogram comes from the ``days`` cells (the groups with days),
    the counts from the ``outcome`` cells; "arrived" leaves out the ``entry`` cells of visits
    that entered before the period (a negative count, summed with the rest)."""
    m = MonthlyVisitFigures

    def total(kind, *conditions):
        return func.coalesce(func.sum(m.visits).filter(m.kind == kind, *conditions), 0)

    none = literal(0)
    counted = total("outcome")
    decided = m.outcome.not_in((*get_registry().return_triggers, "withdraw"))
    conditions = [_scope_across_reform(user, m), m.month >= months[0], m.month < months[1]]
    if filters.unit:
        conditions.append(m.province_code == filters.unit)
    if filters.title:
        conditions.append(m.title == filters.title)
    if filters.stage:
        conditions.append(m.stage == filters.stage)
    return (
        select(
            m.stage,
            m.district_code.label("unit_code"),
            m.working_days.label("days"),
            total("days").label("visits"),
            none.label("waiting"),
            (counted - total("entry", m.entered_on < filters.date_from)).label("arrived"),
            counted.label("completed"),
            none.label("overdue"),
            total("outcome", m.is_escalated).label("escalated"),
            total("outcome", m.outcome.in_(get_registry().return_triggers)).label("returned"),
            counted.label("to_handle"),
            none.label("nearly_late"),
            none.label("not_yet_due"),
            total("outcome", m.outcome == "withdraw").label("withdrawn"),
            total("outcome", decided, m.is_late.is_(True)).label("late_done"),
            total("outcome", decided, m.is_late.is_not(True)).label("on_time_done"),
        )
        .where(*conditions)
        .group_by(m.stage, m.district_code, m.working_days)
    )


def bottlenecks(user: User, filters: Filters, *, now: datetime | None = None) -> dict:
    """Rows per stage and unit with waiting, flow, time in stage and deadline statistics.

    One grouped scan of the visits overlapping the period: the counts per (stage, unit), split
    by the working days of the visits completed in the period, so that the median and the 90th
    percentile come from those per-value counts (exactly as ``percentile_cont`` over the
    visits would give them) without a second scan and a sort of every completed visit. The
    visits that left in closed months wholly inside the period are read from their monthly
    cells instead (``reports.months``), in the same statement and with the same columns.
    """
    now = now or utcnow()
    soon = get_calendar().due_at(now, 2)
    # the cells are by district: for the rows of a province, and only its staff's
    by_district = _group_level(user, filters.unit)[0] == "district_code"
    months = None
    if by_district and territory(user)[0] == "province_code":
        months = closed_span(filters)
    column_name, visits = bottleneck_visits(user, filters, skip_months=months)
    v = visits.c
    open_now, arrived, completed = v.open_now, v.arrived, v.completed
    late_open = and_(open_now, v.due_at < now)
    # done (late or on time): left in the period by a decision; returns and withdrawals are
    # counted on their own, as the one-stop-shop statistics do
    decided = and_(completed, v.outcome.not_in((*get_registry().return_triggers, "withdraw")))
    # the working days of a visit completed in the period (the percentiles' values), else NULL
    days = case((and_(completed, v.working_days.is_not(None)), v.working_days)).label("days")

    def count(condition):
        # ``count(*) FILTER (WHERE …)``: no CASE and no sum per visit
        return func.count().filter(condition)

    counted = (
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
    )
    _settings_for_aggregates()
    groups = select(
        v.stage,
        v.unit_code,
        days,
        func.count().label("visits"),
        count(open_now).label("waiting"),
        count(arrived).label("arrived"),
        count(completed).label("completed"),
        count(late_open).label("overdue"),
        count(and_(v.is_escalated, or_(open_now, completed))).label("escalated"),
        count(and_(completed, v.outcome.in_(get_registry().return_triggers))).label("returned"),
        # every visit read: arrived in the period or carried over into it
        func.count().label("to_handle"),
        count(and_(open_now, v.due_at >= now, v.due_at <= soon)).label("nearly_late"),
        count(and_(open_now, or_(v.due_at > soon, v.due_at.is_(None)))).label("not_yet_due"),
        count(and_(completed, v.outcome == "withdraw")).label("withdrawn"),
        count(and_(decided, v.is_late.is_(True))).label("late_done"),
        count(and_(decided, v.is_late.is_not(True))).label("on_time_done"),
    ).group_by(v.stage, v.unit_code, days)
    if months:
        groups = union_all(groups, _closed_month_groups(user, filters, months))
    groups = db.session.execute(
        groups.order_by(*(groups.selected_columns[i] for i in (0, 1)))
    ).all()
    # the (stage, unit) rows in the database's order, their counts summed over the day values
    # (a row is stage, unit_code, days, visits, then the counts in ``counted``'s order)
    sums: dict[tuple, list[int]] = {}
    spells: dict[tuple, list] = defaultdict(list)
    for g in groups:
        key = (g[0], g[1])
        row = sums.get(key)
        if row is None:
            row = sums[key] = [0] * len(counted)
        for i, value in enumerate(g[4:]):
            row[i] += value
        if g[2] is not None:
            spells[key].append((g[2], g[3]))
    totals = {key: dict(zip(counted, row, strict=True)) for key, row in sums.items()}
    # subjects a district or the province manages itself have no unit at the rows' level:
    # their rows are named after the area that manages them
    direct = filters.unit or user.unit_code
    names = _unit_names({unit for _stage, unit in totals if unit} | {direct})
    direct_name = direct_row_name(names.get(direct, direct or ""))
    out = []
    for (stage, unit), r in totals.items():
        median = p90 = None
        if spells[(stage, unit)]:
            median = percentile_of_counts(spells[(stage, unit)], 0.5)
            p90 = percentile_of_counts(spells[(stage, unit)], 0.9)
        late = r["overdue"] + r["late_done"]
        to_handle = r["to_handle"]
        late_rate = late / to_handle if to_handle else None
        out.append(
            {
                "stage": stage,
                "unit_code": unit or "",
                "unit_name": names.get(unit, unit) if unit else direct_name,
                "waiting": r["waiting"],
                "arrived": r["arrived"],
                "completed": r["completed"],
                "overdue": r["overdue"],
                "escalated": r["escalated"],
                "returned": r["returned"],
                "median_days": median,
                "p90_days": p90,
                "to_handle": to_handle,
                "late_in_progress": r["overdue"],
                "nearly_late": r["nearly_late"],
                "not_yet_due": r["not_yet_due"],
                "withdrawn": r["withdrawn"],
                "late_done": r["late_done"],
                "on_time_done": r["on_time_done"],
                "late_rate": round(late_rate, 4) if late_rate is not None else None,
                "on_time_rate": round(1 - late_rate, 4) if late_rate is not None else None,
            }
        )
    return {
        "rows": out,
        "definitions": rendered(BOTTLENECK_DEFINITIONS),
        "period": {"from": filters.date_from.isoformat(), "to": filters.date_to.isoformat()},
        "group_by": column_name.replace("_code", ""),
        # a period that spans a reorganisation shows old units' rows and new ones'
        "reform_day": _reform_day(filters.date_from, filters.date_to),
    }


def _reform_day(start: date, end: date) -> str | None:
    day = reform_day_between(start, end)
    return day.isoformat() if day else None


def percentile(values: list[float], fraction: float) -> float:
    """Linear interpolation between closest ranks, as PostgreSQL's percentile_cont."""
    return percentile_of_counts(Counter(values).items(), fraction)


def percentile_of_counts(counts, fraction: float) -> float:
    """``percentile`` of the values given as (value, how many times) pairs, in any order.

    The same arithmetic as PostgreSQL's ``percentile_cont`` (lo + fraction × (hi − lo) between
    the ranks either side of ``fraction × (n − 1)``), so the figures are identical.
    """
    ordered = sorted(counts)
    total = sum(n for _value, n in ordered)
    position = fraction * (total - 1)
    low = int(position)
    high = min(low + 1, total - 1)

    def at(rank):
        seen = 0
        for value, n in ordered:
            seen += n
            if rank < seen:
                return value
        raise IndexError(rank)

    low_value, high_value = at(low), at(high)
    return float(low_value + (high_value - low_value) * (position - low))


def longest_waiting(user: User, filters: Filters, limit: int = 10) -> list:
    conditions = [
        _scope_across_reform(user, Case),
        Case.is_open.is_(True),
        Case.due_at.is_not(None),
    ]
    if filters.unit:
        conditions.append(_unit_filter(Case, filters.unit))
    if filters.title:
        conditions.append(Case.title == filters.title)
    return db.session.scalars(
        select(Case).where(*conditions).order_by(Case.stage_entered_at).limit(limit)
    ).all()
