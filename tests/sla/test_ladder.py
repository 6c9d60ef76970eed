"""The ladder's rules: fraction and overdue rungs, and the SQL thresholds agree with them."""

from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from htsd_workflow.cases.definitions import RungDef
from htsd_workflow.core.calendar import WorkingCalendar
from htsd_workflow.sla.ladder import required_days, rung_applies, rung_thresholds

CAL = WorkingCalendar()
REMIND = RungDef(rung=1, action="remind", notify=("level",), at_sla_fraction=0.75)
OVERDUE = RungDef(rung=2, action="escalate", notify=("level", "supervisor"), overdue_days=0)
LATE5 = RungDef(rung=3, action="escalate", notify=("manager",), overdue_days=5)


def test_reminder_at_three_quarters_of_ten_working_days():
    entered = datetime(2026, 12, 1, 2)  # Tuesday 09:00 local
    due = CAL.due_at(entered, 10)
    assert required_days(REMIND, 10) == 8
    day7 = datetime(2026, 12, 10, 2)  # 7 working days later
    day8 = datetime(2026, 12, 11, 2)
    kw = {"entered_at": entered, "due_at": due, "sla_days": 10, "calendar": CAL}
    assert not rung_applies(REMIND, now=day7, **kw)
    assert rung_applies(REMIND, now=day8, **kw)


def test_overdue_rungs_count_working_days_past_the_due_moment():
    entered = datetime(2026, 12, 1, 2)
    due = CAL.due_at(entered, 2)  # Thursday 3 Dec 17:00 local
    kw = {"entered_at": entered, "due_at": due, "sla_days": 2, "calendar": CAL}
    assert not rung_applies(OVERDUE, now=due, **kw)
    assert rung_applies(OVERDUE, now=due + timedelta(minutes=1), **kw)
    # five working days late on Thursday 10 Dec, more than five on Friday 11 Dec
    assert not rung_applies(LATE5, now=datetime(2026, 12, 10, 2), **kw)
    assert rung_applies(LATE5, now=datetime(2026, 12, 11, 2), **kw)


@settings(max_examples=300, deadline=None)
@given(
    entered=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31)),
    sla=st.integers(1, 20),
    after=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=60)),
    rung=st.sampled_from([REMIND, OVERDUE, LATE5]),
)
def test_sql_thresholds_decide_exactly_like_the_rule(entered, sla, after, rung):
    due = CAL.due_at(entered, sla)
    now = entered + after
    entered_before, due_before = rung_thresholds(rung, sla_days=sla, now=now, calendar=CAL)
    by_threshold = (entered_before is None or entered < entered_before) and (
        due_before is None or due < due_before
    )
    by_rule = rung_applies(
        rung, entered_at=entered, due_at=due, sla_days=sla, now=now, calendar=CAL
    )
    assert by_threshold == by_rule
