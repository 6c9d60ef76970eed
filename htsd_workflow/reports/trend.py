"""The weekly trend: cases arrived and completed per week of the period."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import DateTime, Integer, and_, case, cast, func, literal, or_, select

from htsd_workflow.auth.models import User
from htsd_workflow.cases.models import StageVisit
from htsd_workflow.core.time import to_local, utcnow
from htsd_workflow.extensions import db
from htsd_workflow.geography.queries import reform_day_between
from htsd_workflow.reports.bottlenecks import _settings_for_aggregates
from htsd_workflow.reports.filters import (
    Filters,
    _overlapping,
    _scope_across_reform,
    _start,
    _unit_filter,
)


def _week_index(column, start: datetime):
    """Which week (0, 1, …) after ``start`` a moment falls in, in SQL (moments ≥ start)."""
    if db.engine.dialect.name == "postgresql":
        # date_part is a double (extract's numeric division costs twice as much per visit);
        # exact here: whole seconds on a week's boundary divide exactly
        seconds = func.date_part("epoch", column - literal(start, DateTime))
        return cast(func.floor(seconds / 604800), Integer)
    return cast(
        (func.julianday(column) - func.julianday(literal(start.isoformat(sep=" ")))) / 7,
        Integer,
    )


def weekly_trend(user: User, filters: Filters) -> list[dict]:
    """Per week of the period: arrivals, completions, the overdue backlog at week's end, and
    whether a reorganisation took effect in the week (``is_reform``).

    One grouped scan of the visits overlapping the weeks, however many weeks: the backlog at a
    week's end is the backlog at the period's start plus the visits that fell overdue since,
    minus those that left while overdue (a running sum over per-week counts). Each visit is
    counted by the weeks it arrived, left and fell overdue in; the groups are summed here.
    """
    conditions = [
        _scope_across_reform(user, StageVisit, subject_column=StageVisit.case_id),
        ~StageVisit.stage.contains(":"),
    ]
    if filters.unit:
        conditions.append(_unit_filter(StageVisit, filters.unit))
    if filters.title:
        conditions.append(StageVisit.title == filters.title)
    first = filters.date_from - timedelta(days=filters.date_from.weekday())
    days = []
    day = first
    while day <= filters.date_to and len(days) < 60:
        days.append(day)
        day += timedelta(days=7)
    start, end = _start(first), _start(days[-1] + timedelta(days=7))
    # every visit counted below overlaps the weeks: it arrives, leaves or is overdue in them
    visits = _overlapping(
        [StageVisit.entered_at, StageVisit.left_at, StageVisit.due_at], conditions, start, end
    )
    v = visits.c
    # a visit is overdue from the later of its due moment and its arrival until it leaves
    overdue_from = case((v.entered_at > v.due_at, v.entered_at), else_=v.due_at)
    ever_overdue = and_(v.due_at.is_not(None), or_(v.left_at.is_(None), v.left_at > overdue_from))

    def week_of(column, *where):
        """The week ``column`` falls in when in the weeks (and ``where`` holds), else NULL."""
        return case((and_(*where, column >= start, column < end), _week_index(column, start)))

    keys = (
        week_of(v.entered_at).label("arrived"),
        week_of(v.left_at).label("completed"),
        week_of(overdue_from, ever_overdue).label("fell_overdue"),
        case((ever_overdue, 1), else_=0).label("overdue"),
        case((and_(ever_overdue, overdue_from < start), 1), else_=0).label("backlog"),
    )
    arrived, completed = defaultdict(int), defaultdict(int)
    fell_overdue, left_overdue = defaultdict(int), defaultdict(int)
    backlog = 0
    _settings_for_aggregates()
    for g in db.session.execute(select(*keys, func.count().label("visits")).group_by(*keys)):
        if g.arrived is not None:
            arrived[g.arrived] += g.visits
        if g.completed is not None:
            completed[g.completed] += g.visits
            if g.overdue:
                left_overdue[g.completed] += g.visits
        if g.fell_overdue is not None:
            fell_overdue[g.fell_overdue] += g.visits
        if g.backlog:
            backlog += g.visits
    weeks = []
    # a period that spans a reorganisation says so: its week is marked (old units' visits
    # before it, new units' after)
    reform = reform_day_between(filters.date_from, filters.date_to)
    # a week that runs past today or past the period counts fewer days: the chart marks it
    last_full_day = min(filters.date_to, to_local(utcnow()).date())
    for index, week in enumerate(days):
        backlog += fell_overdue[index] - left_overdue[index]
        weeks.append(
            {
                "week": week.isoformat(),
                "arrived": arrived[index],
                "completed": completed[index],
                "overdue_backlog": backlog,
                "is_partial": week + timedelta(days=6) > last_full_day,
                "is_reform": reform is not None and week <= reform < week + timedelta(days=7),
            }
        )
    return weeks
