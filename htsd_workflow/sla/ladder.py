"""The reminder and escalation ladder as pure rules on the working-day calendar.

A rung with ``at_sla_fraction`` f fires once ceil(f × SLA) working days of the stage have
passed; a rung with ``overdue_days`` n fires when the case is overdue by more than n working
days (n = 0: as soon as it is overdue). ``rung_applies`` judges one case; ``rung_thresholds``
turns the same rule into two moments that SQL can compare with, so the scan never loads cases
into Python to decide.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta

from htsd_workflow.cases.definitions import RungDef
from htsd_workflow.core.calendar import WorkingCalendar
from htsd_workflow.core.time import day_start, to_local


def required_days(rung: RungDef, sla_days: int) -> int:
    """Working days that must have passed (fraction rungs) or be overdue (+1, overdue rungs)."""
    if rung.at_sla_fraction is not None:
        return max(1, math.ceil(rung.at_sla_fraction * sla_days))
    return rung.overdue_days + 1


def rung_applies(
    rung: RungDef,
    *,
    entered_at: datetime,
    due_at: datetime,
    sla_days: int,
    now: datetime,
    calendar: WorkingCalendar,
) -> bool:
    """Whether ``rung`` is due for one case at ``now`` (all moments naive UTC)."""
    if rung.at_sla_fraction is not None:
        return calendar.elapsed_working_days(entered_at, now) >= required_days(rung, sla_days)
    if now <= due_at:
        return False
    return calendar.working_days_late(due_at, now) > rung.overdue_days


def latest_day_with(calendar: WorkingCalendar, today: date, days: int) -> date:
    """The latest day D such that (D, today] holds at least ``days`` working days."""
    day, counted = today, 0
    while counted < days:
        if calendar.is_working_day(day):
            counted += 1
        day -= timedelta(days=1)
    return day


def _start_of_next_day(day: date) -> datetime:
    return day_start(day + timedelta(days=1))


def rung_thresholds(
    rung: RungDef, *, sla_days: int, now: datetime, calendar: WorkingCalendar
) -> tuple[datetime | None, datetime | None]:
    """(entered before, due before): the case fires when its moments are before these."""
    today = to_local(now).date()
    if rung.at_sla_fraction is not None:
        day = latest_day_with(calendar, today, required_days(rung, sla_days))
        return _start_of_next_day(day), None
    if rung.overdue_days == 0:
        return None, now
    day = latest_day_with(calendar, today, rung.overdue_days + 1)
    return None, min(now, _start_of_next_day(day))
