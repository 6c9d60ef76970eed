"""The working-day calendar: weekends, Vietnamese holidays (Tết), exceptions, due moments."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from htsd_workflow.core.calendar import WorkingCalendar
from htsd_workflow.core.time import to_local

CAL = WorkingCalendar()


def test_weekends_are_not_working_days():
    assert CAL.is_working_day(date(2026, 11, 27))  # Friday
    assert not CAL.is_working_day(date(2026, 11, 28))  # Saturday
    assert not CAL.is_working_day(date(2026, 11, 29))  # Sunday


def test_tet_2027_is_skipped():
    # Tết Đinh Mùi: 4–10 February 2027 are public holidays
    for day in range(4, 11):
        assert not CAL.is_working_day(date(2027, 2, day)), day
    # received Wednesday 3 Feb 2027: day 1 is Thursday 11 Feb, day 2 Friday 12 Feb
    assert CAL.add_working_days(date(2027, 2, 3), 1) == date(2027, 2, 11)
    assert CAL.add_working_days(date(2027, 2, 3), 2) == date(2027, 2, 12)


def test_deadline_across_national_day():
    # 2 and 3 September 2027 (Thursday, Friday) are holidays
    assert CAL.add_working_days(date(2027, 9, 1), 1) == date(2027, 9, 6)


def test_received_on_a_sunday_counts_from_monday():
    assert CAL.add_working_days(date(2026, 11, 29), 1) == date(2026, 11, 30)
    assert CAL.add_working_days(date(2026, 11, 29), 5) == date(2026, 12, 4)


def test_make_up_saturday_counts_and_extra_day_off_does_not():
    cal = WorkingCalendar(
        extra_days_off=[date(2026, 12, 1)], extra_working_days=[date(2026, 12, 5)]
    )
    assert cal.is_working_day(date(2026, 12, 5))  # a Saturday made a working day
    assert not cal.is_working_day(date(2026, 12, 1))  # a Tuesday given off
    # from Monday 30 Nov: Wed 2, Thu 3, Fri 4, Sat 5 (make-up) → 4 working days
    assert cal.add_working_days(date(2026, 11, 30), 4) == date(2026, 12, 5)


def test_due_at_is_17h_local_of_the_last_working_day_stored_in_utc():
    entered = datetime(2026, 11, 27, 3, 0)  # Friday 10:00 in Hà Nội time
    due = CAL.due_at(entered, 3)
    assert due == datetime(2026, 12, 2, 10, 0)  # Wednesday 17:00 +07:00 == 10:00 UTC
    assert to_local(due).hour == 17


def test_late_and_left_days():
    due = CAL.due_at(datetime(2026, 12, 7, 2, 0), 2)  # due Wed 9 Dec 17:00 local
    assert CAL.working_days_late(due, datetime(2026, 12, 9, 9, 0)) == 0
    assert CAL.working_days_late(due, datetime(2026, 12, 10, 2, 0)) == 1
    assert CAL.working_days_late(due, datetime(2026, 12, 14, 2, 0)) == 3  # Thu, Fri, Mon
    assert CAL.working_days_left(due, datetime(2026, 12, 7, 9, 0)) == 2  # arrival day: Tue, Wed
    assert CAL.working_days_left(due, datetime(2026, 12, 8, 2, 0)) == 1  # Tuesday: Wed left
    assert CAL.working_days_left(due, datetime(2026, 12, 9, 2, 0)) == 0  # due today


def test_vietnam_cultural_day_is_a_holiday():
    # 24 November (Ngày Văn hóa Việt Nam) is a public holiday from 2025
    assert not CAL.is_working_day(date(2026, 11, 24))
    assert CAL.add_working_days(date(2026, 11, 23), 1) == date(2026, 11, 25)


@given(
    start=st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31)),
    count=st.integers(min_value=1, max_value=60),
)
def test_add_working_days_lands_on_a_working_day_after_exactly_count_working_days(start, count):
    end = CAL.add_working_days(start, count)
    assert end > start
    assert CAL.is_working_day(end)
    assert CAL.working_days_between(start, end) == count
    # no working day is skipped: the day before the end has one fewer
    assert CAL.working_days_between(start, end - timedelta(days=1)) == count - 1


def _walk(calendar: WorkingCalendar, start: date, end: date) -> int:
    """Working days in (start, end], one day at a time (what the rank table replaces)."""
    if end < start:
        return -_walk(calendar, end, start)
    return sum(
        calendar.is_working_day(start + timedelta(days=i)) for i in range(1, (end - start).days + 1)
    )


@given(
    st.dates(min_value=date(2015, 1, 1), max_value=date(2035, 12, 31)),
    st.integers(min_value=-900, max_value=900),
)
def test_counts_from_the_rank_table_equal_the_day_by_day_walk(start, span):
    calendar = WorkingCalendar(
        extra_days_off=[date(2026, 11, 27)], extra_working_days=[date(2026, 11, 28)]
    )
    end = start + timedelta(days=span)
    assert calendar.working_days_between(start, end) == _walk(calendar, start, end)


def _walk_add(calendar: WorkingCalendar, start: date, count: int) -> date:
    """The ``count``-th working day after ``start``, one day at a time."""
    day = start
    while count:
        day += timedelta(days=1)
        count -= calendar.is_working_day(day)
    return day


@given(
    st.dates(min_value=date(2015, 1, 1), max_value=date(2035, 12, 31)),
    st.integers(min_value=1, max_value=300),
)
def test_adding_working_days_from_the_rank_table_equals_the_day_by_day_walk(start, count):
    calendar = WorkingCalendar(
        extra_days_off=[date(2026, 11, 27)], extra_working_days=[date(2026, 11, 28)]
    )
    assert calendar.add_working_days(start, count) == _walk_add(calendar, start, count)


def test_adding_working_days_past_a_long_closure_and_outside_the_table_years():
    # 200 days off in a row: further than the table is first read for; the walk answers
    closure = [date(2027, 1, 1) + timedelta(days=i) for i in range(200)]
    calendar = WorkingCalendar(extra_days_off=closure)
    assert calendar.add_working_days(date(2026, 12, 30), 3) == _walk_add(
        calendar, date(2026, 12, 30), 3
    )
    assert calendar.add_working_days(date(2026, 12, 30), 3) > closure[-1]
    assert calendar.add_working_days(date(2199, 12, 1), 40) == _walk_add(
        calendar, date(2199, 12, 1), 40
    )
    assert calendar.add_working_days(date(1890, 1, 1), 5) == _walk_add(
        calendar, date(1890, 1, 1), 5
    )


def test_the_rank_table_grows_both_ways_and_keeps_exceptions():
    calendar = WorkingCalendar(extra_working_days=[date(2026, 11, 28)])  # a Saturday
    assert calendar.working_days_between(date(2026, 11, 27), date(2026, 11, 30)) == 2
    # far before and far after the first table: the table grows, earlier answers hold
    assert calendar.working_days_between(date(2019, 1, 1), date(2019, 1, 31)) == _walk(
        calendar, date(2019, 1, 1), date(2019, 1, 31)
    )
    assert calendar.working_days_between(date(2031, 6, 1), date(2031, 6, 30)) == _walk(
        calendar, date(2031, 6, 1), date(2031, 6, 30)
    )
    assert calendar.working_days_between(date(2026, 11, 27), date(2026, 11, 30)) == 2
    # outside the table's years the walk answers
    assert calendar.working_days_between(date(1890, 1, 1), date(1890, 1, 10)) == _walk(
        calendar, date(1890, 1, 1), date(1890, 1, 10)
    )
