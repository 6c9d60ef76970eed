"""The working-day calendar: weekends, Vietnamese public holidays and an admin's exceptions.

Rule used for every stage deadline (one-stop-shop practice): the day a case arrives does not
count; day 1 is the next working day, and a stage of N working days is due at the end of its
N-th working day (17:00, Asia/Ho_Chi_Minh), stored as naive UTC.
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_left
from collections.abc import Iterable
from datetime import date, datetime, timedelta

import holidays
from flask import current_app

from htsd_workflow.core.models import CalendarException
from htsd_workflow.core.time import LOCAL_TZ, to_local, to_utc_naive
from htsd_workflow.extensions import db

WORKDAY_END_HOUR = 17
#: days added on each side when the table of working-day ranks grows
RANK_MARGIN_DAYS = 400
#: outside these years working days are counted one by one instead of from the table
RANK_YEARS = (1900, 2200)


class WorkingCalendar:
    """Working days in Viet Nam, with extra days off and make-up working days."""

    def __init__(
        self, extra_days_off: Iterable[date] = (), extra_working_days: Iterable[date] = ()
    ):
        self._public = holidays.country_holidays("VN")
        self.extra_days_off = frozenset(extra_days_off)
        self.extra_working_days = frozenset(extra_working_days)
        #: (first day, ranks): ranks[i] = working days in (first day, first day + i]; read
        #: by many threads (the calendar is shared), so replaced whole, never changed in place
        self._ranks: tuple[date, list[int]] | None = None

    def holiday_name(self, day: date) -> str | None:
        return self._public.get(day)

    def is_working_day(self, day: date) -> bool:
        if day in self.extra_working_days:
            return True
        if day in self.extra_days_off:
            return False
        if day in self._public:  # also loads the day's year into ``weekend_workdays``
            return False
        if day.weekday() >= 5:
            # a Saturday or Sunday the Government made a working day (làm bù), e.g. 22/8/2026
            return day in self._public.weekend_workdays
        return True

    def add_working_days(self, start: date, count: int) -> date:
        """Return the ``count``-th working day after ``start`` (``start`` itself not counted)."""
        if count < 0:
            raise ValueError("count must not be negative")
        if count > 0:
            # from the table of ranks: the first day whose rank is ``count`` above start's
            # (ranks rise by one on each working day, so that day is the count-th)
            span_end = start + timedelta(days=2 * count + 60)
            if RANK_YEARS[0] <= start.year and span_end.year <= RANK_YEARS[1]:
                first, ranks = self._table(start, span_end)
                offset = (start - first).days
                index = bisect_left(ranks, ranks[offset] + count, offset + 1)
                if index < len(ranks):
                    return first + timedelta(days=index)
        day = start
        while count > 0:
            day += timedelta(days=1)
            if self.is_working_day(day):
                count -= 1
        if count == 0 and day == start and not self.is_working_day(day):
            # a deadline that falls on a day off moves to the next working day
            while not self.is_working_day(day):
                day += timedelta(days=1)
        return day

    def working_days_between(self, start: date, end: date) -> int:
        """Count working days in (start, end]; negative when ``end`` is before ``start``."""
        if end < start:
            return -self.working_days_between(end, start)
        if RANK_YEARS[0] <= start.year and end.year <= RANK_YEARS[1]:
            # O(1) from the table of ranks: pages show a due status on every row
            first, ranks = self._table(start, end)
            return ranks[(end - first).days] - ranks[(start - first).days]
        days = 0
        day = start
        while day < end:
            day += timedelta(days=1)
            if self.is_working_day(day):
                days += 1
        return days

    def _table(self, start: date, end: date) -> tuple[date, list[int]]:
        """The table of ranks covering ``start`` … ``end`` (grown first when needed); both
        days must be read from the same table, as ranks count from its first day."""
        table = self._ranks
        if table is None or start < table[0] or (end - table[0]).days >= len(table[1]):
            table = self._grow(start, end)
        return table

    def _grow(self, start: date, end: date) -> tuple[date, list[int]]:
        table = self._ranks
        first = start - timedelta(days=RANK_MARGIN_DAYS)
        last = end + timedelta(days=RANK_MARGIN_DAYS)
        if table is not None:
            first = min(first, table[0])
            last = max(last, table[0] + timedelta(days=len(table[1]) - 1))
        ranks = [0]
        current = first
        while current < last:
            current += timedelta(days=1)
            ranks.append(ranks[-1] + (1 if self.is_working_day(current) else 0))
        self._ranks = (first, ranks)
        return self._ranks

    def due_at(self, entered_at: datetime, sla_days: int) -> datetime:
        """Return the naive-UTC due moment of a stage entered at ``entered_at`` (naive UTC)."""
        local_day = to_local(entered_at).date()
        last_day = self.add_working_days(local_day, sla_days)
        end = datetime(
            last_day.year, last_day.month, last_day.day, WORKDAY_END_HOUR, tzinfo=LOCAL_TZ
        )
        return to_utc_naive(end)

    def working_days_late(self, due_at: datetime, now: datetime) -> int:
        """Working days past ``due_at`` at ``now`` (both naive UTC); 0 when not yet due."""
        if now <= due_at:
            return 0
        return max(1, self.working_days_between(to_local(due_at).date(), to_local(now).date()))

    def working_days_left(self, due_at: datetime, now: datetime) -> int:
        """Whole working days after today up to the due day, at ``now`` (both naive UTC).

        Today never counts, as the arrival day does not count in ``due_at``: on the day a
        stage of N working days arrives, N are left, whatever the day and hour; on the due
        day itself 0 are left (due today at 17:00).
        """
        if now > due_at:
            return 0
        return self.working_days_between(to_local(now).date(), to_local(due_at).date())

    def elapsed_working_days(self, start: datetime, end: datetime) -> int:
        """Working days a stay from ``start`` to ``end`` (naive UTC) took: (start, end] days."""
        return self.working_days_between(to_local(start).date(), to_local(end).date())


_cache_lock = threading.Lock()
_cache: dict[str, tuple[float, WorkingCalendar]] = {}
CACHE_SECONDS = 60.0


def get_calendar() -> WorkingCalendar:
    """Return the calendar with the admin's exceptions, cached for a minute per process."""
    key = current_app.config["SQLALCHEMY_DATABASE_URI"]
    now = time.monotonic()
    with _cache_lock:
        cached = _cache.get(key)
        if cached and now - cached[0] < CACHE_SECONDS:
            return cached[1]
    rows = db.session.execute(
        db.select(CalendarException.day, CalendarException.is_working_day)
    ).all()
    calendar = WorkingCalendar(
        extra_days_off=[r.day for r in rows if not r.is_working_day],
        extra_working_days=[r.day for r in rows if r.is_working_day],
    )
    with _cache_lock:
        _cache[key] = (now, calendar)
    return calendar


def invalidate_calendar() -> None:
    """Forget cached calendars after an exception day was added or removed."""
    with _cache_lock:
        _cache.clear()
