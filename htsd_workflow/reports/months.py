"""The bottleneck report's figures kept per closed month.

A stage visit that has left never changes again (transitions, the escalation scan and
extensions only touch open visits). So once a month is over, its finished visits are counted
once into ``stage_visit_months``: per stage, title and district, by outcome (with late and
escalated), by working days, and by day of entry; a province's report over a long period
then reads a few cells per closed month and district, and only the rest — open visits, and
visits that left in months not closed — visit by visit. (A report by commune reads every
visit: at commune grain the cells would be nearly as many as the visits.)
The figures are exactly those of counting every visit (tests/reports/test_report_months.py).

``close_months`` (the worker's ``close_report_months``, every night) closes each month that
ended more than ``MARGIN`` ago, so that no transaction still open then can add a visit to it,
and recounts the months already closed: a month whose visits changed since (a data load with
past dates) is counted again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import delete, func, insert, literal, select, text

from htsd_workflow.cases.models import StageVisit
from htsd_workflow.core.time import LOCAL_TZ, day_start, to_local, utcnow
from htsd_workflow.extensions import db
from htsd_workflow.reports.models import ClosedMonth, MonthlyVisitFigures

#: how long after a month's end it is closed: longer than any transaction takes
MARGIN = timedelta(hours=1)


@dataclass
class ClosedMonths:
    """What ``close_months`` did: the months it counted, and those it counted again."""

    closed: list[date] = field(default_factory=list)
    recounted: list[date] = field(default_factory=list)
    cells: int = 0


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def month_bounds(month: date) -> tuple[datetime, datetime]:
    """The stored (naive UTC) moments a local month starts and ends at."""
    return day_start(month), day_start(next_month(month))


def local_day(column):
    """The local day of a stored naive-UTC moment, in SQL."""
    if db.engine.dialect.name == "postgresql":
        return func.date(func.timezone(LOCAL_TZ.key, func.timezone("UTC", column)))
    # SQLite has no time zones; Asia/Ho_Chi_Minh has kept UTC+7 since 1975
    minutes = int(LOCAL_TZ.utcoffset(datetime(2000, 1, 1)).total_seconds() // 60)
    return func.date(column, f"{minutes:+d} minutes")


def _left_in(month: date):
    start, end = month_bounds(month)
    return StageVisit.left_at >= start, StageVisit.left_at < end


#: what each kind of cell counts the visits by, besides stage, title and district
KINDS = {
    "outcome": ("outcome", "is_late", "is_escalated"),
    "days": ("working_days",),
    "entry": ("entered_on",),
}
AREA = ("stage", "title", "province_code", "district_code")


def count_month(month: date, now: datetime) -> int:
    """Count the visits that left in ``month`` into its cells; return how many cells."""
    start, _end = month_bounds(month)
    visits = db.session.scalar(select(func.count()).where(*_left_in(month)))
    # first, so that a second job closing the same month fails on the key
    db.session.add(ClosedMonth(month=month, visits=visits, closed_at=now))
    db.session.flush()
    area = [getattr(StageVisit, name) for name in AREA]
    for kind, names in KINDS.items():
        where = list(_left_in(month))
        if kind == "entry":
            keys = [local_day(StageVisit.entered_at)]
            where.append(StageVisit.entered_at < start)
        else:
            keys = [getattr(StageVisit, name) for name in names]
        cells = select(literal(month), literal(kind), *area, *keys, func.count()).where(*where)
        db.session.execute(
            insert(MonthlyVisitFigures).from_select(
                ["month", "kind", *AREA, *names, "visits"], cells.group_by(*area, *keys)
            )
        )
    return db.session.scalar(select(func.count()).where(MonthlyVisitFigures.month == month))


def forget_month(month: date) -> None:
    db.session.execute(delete(MonthlyVisitFigures).where(MonthlyVisitFigures.month == month))
    db.session.execute(delete(ClosedMonth).where(ClosedMonth.month == month))


def close_months(now: datetime | None = None) -> ClosedMonths:
    """Count every month that ended ``MARGIN`` ago and is not counted yet; count again the
    closed months whose visits no longer number what they did."""
    now = now or utcnow()
    done = ClosedMonths()
    first_left = db.session.scalar(select(func.min(StageVisit.left_at)))
    if first_left is None:
        return done
    open_month = to_local(now - MARGIN).date().replace(day=1)  # the earliest month not over
    closed = dict(db.session.execute(select(ClosedMonth.month, ClosedMonth.visits)).all())
    month = to_local(first_left).date().replace(day=1)
    while month < open_month:
        if month not in closed:
            done.cells += count_month(month, now)
            done.closed.append(month)
        elif db.session.scalar(select(func.count()).where(*_left_in(month))) != closed[month]:
            forget_month(month)
            done.cells += count_month(month, now)
            done.recounted.append(month)
        month = next_month(month)
    if (done.closed or done.recounted) and db.engine.dialect.name == "postgresql":
        # the planner's figures of the new cells (autovacuum would come to it later)
        db.session.execute(text("ANALYZE stage_visit_months"))
    return done


def closed_span(filters) -> tuple[date, date] | None:
    """The first run of closed months that lies wholly inside the report's period, as (first
    month, the month after the last), or None. Months before it, after it or not closed are
    read visit by visit."""
    first = filters.date_from
    if first.day != 1:
        first = next_month(first)
    months = sorted(
        db.session.scalars(
            select(ClosedMonth.month).where(
                ClosedMonth.month >= first, ClosedMonth.month <= filters.date_to
            )
        )
    )
    if not months:
        return None
    month = months[0]
    while month in months and next_month(month) <= filters.date_to + timedelta(days=1):
        month = next_month(month)
    return (months[0], month) if month > months[0] else None
