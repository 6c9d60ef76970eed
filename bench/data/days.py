"""Working-day facts for every local day of the generated span, computed once.

The generator handles millions of moments; asking the calendar about each would dominate the
run. Moments are kept as whole *local minutes* counted from the table's first day, and every
fact the rows need (is it a working day, the due moment of a stage entered that day, working
days between two days, the UTC text of a moment) comes from lists built here from the real
``WorkingCalendar``, so deadlines are exactly those the core computes.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from htsd_workflow.core.calendar import WorkingCalendar
from htsd_workflow.core.time import LOCAL_TZ, to_local, to_utc_naive

MINUTES_PER_DAY = 1440


class DayTable:
    """Per-day lookups over ``first`` .. ``last`` (local dates)."""

    def __init__(self, calendar: WorkingCalendar, first: date, last: date, sla_days):
        self.first = first
        self.size = (last - first).days + 1
        days = [first + timedelta(days=i) for i in range(self.size)]
        offsets = {LOCAL_TZ.utcoffset(datetime.combine(d, time(12))) for d in days}
        if len(offsets) != 1:  # Asia/Ho_Chi_Minh has had no change since 1975
            raise ValueError("the local time zone changes its offset inside the span")
        #: local minus UTC, in minutes
        self.utc_offset = int(offsets.pop().total_seconds() // 60)
        self.is_working = [calendar.is_working_day(d) for d in days]
        #: rank[d]: working days in [first, d] — so (a, b] holds rank[b] - rank[a]
        self.rank = []
        count = 0
        for working in self.is_working:
            count += working
            self.rank.append(count)
        #: day numbers of the working days, in order
        self.workdays = [d for d, working in enumerate(self.is_working) if working]
        #: due[sla][d]: the due moment (local minutes) of a stage of ``sla`` days entered on d
        self.due = {}
        for sla in sorted(set(sla_days)):
            moments = []
            for day in days:
                due = calendar.due_at(to_utc_naive(datetime.combine(day, time(12))), sla)
                moments.append(self.minute_of(due))
            self.due[sla] = moments
        self._day_text = [(first + timedelta(days=i)).isoformat() + " " for i in range(self.size)]
        self._clock_text = [f"{m // 60:02d}:{m % 60:02d}:00" for m in range(MINUTES_PER_DAY)]

    def day_number(self, day: date) -> int:
        return (day - self.first).days

    def minute_of(self, moment_utc: datetime) -> int:
        """Local minutes since the first day for a naive-UTC moment."""
        local = to_local(moment_utc).replace(tzinfo=None)
        delta = local - datetime.combine(self.first, time(0))
        return int(delta.total_seconds() // 60)

    def utc(self, minute: int) -> datetime:
        """The naive-UTC moment of a local minute."""
        return datetime.combine(self.first, time(0)) + timedelta(minutes=minute - self.utc_offset)

    def text(self, minute: int) -> str:
        """The stored (naive UTC) text of a local minute, for COPY."""
        utc = minute - self.utc_offset
        return self._day_text[utc // MINUTES_PER_DAY] + self._clock_text[utc % MINUTES_PER_DAY]

    def working_days(self, entered: int, left: int) -> int:
        """Working days a stay took, as ``WorkingCalendar.elapsed_working_days`` counts them."""
        return self.rank[left // MINUTES_PER_DAY] - self.rank[entered // MINUTES_PER_DAY]

    def workday_at_or_before(self, day: int) -> int:
        """Index (into ``workdays``) of the last working day on or before day number ``day``."""
        low, high = 0, len(self.workdays) - 1
        while low < high:
            middle = (low + high + 1) // 2
            if self.workdays[middle] <= day:
                low = middle
            else:
                high = middle - 1
        return low
