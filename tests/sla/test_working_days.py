"""Working days as people read them: N left on the day a stage of N arrives, whatever the day
and hour; due today on the due day; "Quá hạn N ngày làm việc" after — at every date that
matters (tests/clock.MOMENTS)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from htsd_workflow.cases.models import Case
from htsd_workflow.core.calendar import WorkingCalendar, get_calendar
from htsd_workflow.core.time import to_local
from htsd_workflow.extensions import db
from tests.clients import text
from tests.clock import MOMENTS

CAL = WorkingCalendar()


@pytest.mark.parametrize("moment", MOMENTS.values(), ids=MOMENTS.keys())
def test_a_case_arriving_shows_its_full_stage_left_on_the_case_page_and_queue(
    as_user, make, clock, moment
):
    clock.move_to(moment)
    case, applicant = make.case_in("commune_review", name="Hộ Vừa Gửi")
    sla = get_calendar().working_days_between(
        to_local(case.stage_entered_at).date(), to_local(case.due_at).date()
    )
    assert sla == 10  # the commune's 10 working days, counted from the day after arrival
    household = text(as_user(applicant).get(f"/cases/{case.id}"))
    assert "Còn 10 ngày làm việc" in household
    queue = text(as_user(make.reviewer("commune_reviewer", "23281")).get("/queue"))
    assert "Còn 10 ngày làm việc" in queue and "Còn 11 ngày" not in queue

    # the morning of the due day: due today; the next working day: one working day late
    due_day = to_local(case.due_at).date()
    clock.move_to(datetime(due_day.year, due_day.month, due_day.day, 1, 0, tzinfo=UTC))
    assert "Đến hạn hôm nay" in text(as_user(applicant).get(f"/cases/{case.id}"))
    late_day = CAL.add_working_days(due_day, 1)
    clock.move_to(datetime(late_day.year, late_day.month, late_day.day, 2, 0, tzinfo=UTC))
    db.session.expire_all()
    assert db.session.get(Case, case.id).due_at < datetime.now(UTC).replace(tzinfo=None)
    assert "Quá hạn 1 ngày làm việc" in text(as_user(applicant).get(f"/cases/{case.id}"))


def test_the_government_s_make_up_saturday_is_a_working_day():
    # 22/8/2026 (Saturday) is worked to give Monday 31/8 off before National Day
    assert CAL.is_working_day(MOMENTS["make-up-working-day"].date())
    assert not CAL.is_working_day(datetime(2026, 8, 31).date())


@settings(max_examples=300, deadline=None)
@given(
    entered=st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31)),
    sla=st.integers(min_value=1, max_value=60),
    later=st.integers(min_value=0, max_value=23 * 60),
)
def test_on_the_arrival_day_n_working_days_are_left(entered, sla, later):
    due = CAL.due_at(entered, sla)
    # any moment of the arrival day (local) after the arrival
    local = to_local(entered)
    end_of_day = local.replace(hour=23, minute=59)
    now_local = min(local + timedelta(minutes=later), end_of_day)
    now = now_local.astimezone(UTC).replace(tzinfo=None)
    assert CAL.working_days_left(due, now) == sla
