"""The bottleneck report's figures kept per closed month (``reports.months``).

Random visits (open and closed, across two years, every outcome) are counted into the cells of
their closed months; the report, now reading those cells for the months wholly inside its
period and the other visits one by one, must give exactly what the plain statements over
every visit give — for any period, title, stage and unit that hypothesis draws.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from htsd_workflow.cases.models import StageVisit
from htsd_workflow.extensions import db
from htsd_workflow.reports.models import ClosedMonth, MonthlyVisitFigures
from htsd_workflow.reports.months import (
    MARGIN,
    close_months,
    closed_span,
    count_month,
    month_bounds,
)
from htsd_workflow.reports.queries import (
    TITLES,
    Filters,
    bottleneck_visits,
    bottlenecks,
)
from tests.factories import COMMUNE, DISTRICT, OTHER_DISTRICT
from tests.reports.test_report_scans import (
    FIGURES,
    NOW,
    STAGES,
    random_visits,
    straightforward_bottlenecks,
)
from tests.reports.test_reports import visit


def _rows(user, filters):
    rows = bottlenecks(user, filters, now=NOW)["rows"]
    return [(r["stage"], r["unit_code"], *(r[f] for f in FIGURES)) for r in rows]


def _visits_left_in(month: date) -> int:
    start, end = month_bounds(month)
    return db.session.scalar(
        select(func.count()).where(StageVisit.left_at >= start, StageVisit.left_at < end)
    )


def _in_cells(month: date, kind: str) -> int:
    return db.session.scalar(
        select(func.coalesce(func.sum(MonthlyVisitFigures.visits), 0)).where(
            MonthlyVisitFigures.month == month, MonthlyVisitFigures.kind == kind
        )
    )


@pytest.fixture
def closed(ctx, make):
    """400 random visits, the months before NOW's counted; a province and a district manager."""
    case, _ = make.case_in("draft")
    random_visits(case, 11)
    result = close_months(NOW)
    db.session.commit()
    return result, make.user("manager", "62"), make.user("manager", DISTRICT)


def test_each_month_over_is_counted_once_into_cells_that_add_up_to_its_visits(closed):
    result, _province, _district = closed
    # the random visits leave from September 2025; November 2026 (NOW's month) is not over
    assert result.closed[0] == date(2025, 9, 1)
    assert result.closed[-1] == date(2026, 10, 1)
    assert len(result.closed) == 14 and not result.recounted
    for month in result.closed:
        left = _visits_left_in(month)
        assert left == db.session.get(ClosedMonth, month).visits
        # each visit once in each kind of cell; in an entry cell if it entered before its month
        assert _in_cells(month, "outcome") == _in_cells(month, "days") == left
        start = month_bounds(month)[0]
        assert _in_cells(month, "entry") == db.session.scalar(
            select(func.count()).where(
                StageVisit.left_at >= start,
                StageVisit.left_at < month_bounds(month)[1],
                StageVisit.entered_at < start,
            )
        )
    assert result.cells == db.session.scalar(select(func.count(MonthlyVisitFigures.id)))
    again = close_months(NOW)
    assert again.closed == [] and again.recounted == [] and again.cells == 0


def test_a_month_is_closed_only_once_it_ended_the_margin_ago(ctx, make):
    case, _ = make.case_in("draft")
    october_end = month_bounds(date(2026, 10, 1))[1]
    for hours in (1, 5):  # two visits alike but for the hour they entered and left
        visit(
            case,
            entered_at=october_end - timedelta(days=3, hours=hours),
            left_at=october_end - timedelta(hours=hours),
            outcome="approve",
            working_days=2,
        )
    db.session.commit()
    assert close_months(october_end + MARGIN - timedelta(minutes=1)).closed == []
    result = close_months(october_end + MARGIN)
    assert result.closed == [date(2026, 10, 1)]
    # one cell of each kind holds both (none of entry: they entered within the month)
    assert result.cells == 2
    assert _in_cells(date(2026, 10, 1), "outcome") == _in_cells(date(2026, 10, 1), "days") == 2


def test_a_second_job_closing_the_same_month_fails_instead_of_counting_it_twice(closed):
    with pytest.raises(IntegrityError):
        count_month(date(2026, 3, 1), NOW)
    db.session.rollback()


def test_the_report_reads_the_closed_months_from_their_cells(closed):
    _result, province, _district = closed
    year = Filters(date(2026, 1, 1), date(2026, 11, 28))
    assert closed_span(year) == (date(2026, 1, 1), date(2026, 11, 1))
    # mid-month ends and starts leave their partial months to be read visit by visit
    assert closed_span(Filters(date(2026, 1, 15), date(2026, 6, 29))) == (
        date(2026, 2, 1),
        date(2026, 6, 1),
    )
    assert closed_span(Filters(date(2026, 3, 2), date(2026, 3, 31))) is None
    skipped = closed_span(year)
    _column, live = bottleneck_visits(province, year, skip_months=skipped)
    read = db.session.scalar(select(func.count()).select_from(live))
    to_handle = sum(r["to_handle"] for r in bottlenecks(province, year, now=NOW)["rows"])
    # the visits that left January–October come from the cells, not one by one
    assert read < to_handle // 2
    assert _rows(province, year) == straightforward_bottlenecks(province, year, NOW)


def test_the_figures_with_closed_months_equal_the_straightforward_statements(closed):
    _result, province, district = closed
    # the cells serve the province's rows (no unit, or the province itself); by commune the
    # report reads every visit, and must still agree
    units = (None, "62", DISTRICT, OTHER_DISTRICT, COMMUNE)
    days = st.dates(min_value=date(2025, 8, 20), max_value=date(2026, 12, 31))

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        first=days,
        length=st.integers(min_value=0, max_value=500),
        title=st.sampled_from((None, *TITLES)),
        stage=st.sampled_from((None, *STAGES)),
        unit=st.sampled_from(units),
        by_district=st.booleans(),
    )
    def check(first, length, title, stage, unit, by_district):
        user = district if by_district else province
        filters = Filters(first, first + timedelta(days=length), title, unit, stage)
        assert _rows(user, filters) == straightforward_bottlenecks(user, filters, NOW)

    check()


def test_a_visit_added_to_a_closed_month_is_counted_at_the_next_recount(closed):
    _result, province, _district = closed
    year = Filters(date(2026, 1, 1), date(2026, 11, 28))
    case_id = db.session.scalar(select(StageVisit.case_id).limit(1))
    # a load with past dates, as the bench generator or a data fix makes
    db.session.add(
        StageVisit(
            case_id=case_id,
            stage="district_verification",
            title="clan",
            year=2026,
            province_code="62",
            district_code=DISTRICT,
            commune_code=COMMUNE,
            entered_at=datetime(2026, 2, 20, 3),
            left_at=datetime(2026, 3, 5, 3),
            outcome="approve",
            working_days=9,
            is_late=False,
            is_escalated=True,
        )
    )
    db.session.commit()
    assert _rows(province, year) != straightforward_bottlenecks(province, year, NOW)
    result = close_months(NOW)
    assert result.recounted == [date(2026, 3, 1)] and result.closed == []
    db.session.commit()
    assert _rows(province, year) == straightforward_bottlenecks(province, year, NOW)


def test_the_command_line_closes_the_months(ctx, make):
    case, _ = make.case_in("draft")
    random_visits(case, 12, count=60)
    result = ctx.test_cli_runner().invoke(args=["reports", "close-months"])
    assert result.exit_code == 0, result.output
    months = db.session.scalar(select(func.count()).select_from(ClosedMonth))
    assert months > 10
    assert f"closed {months} month(s)" in result.output
    again = ctx.test_cli_runner().invoke(args=["reports", "close-months"])
    assert "closed 0 month(s), counted again 0" in again.output


def test_a_visit_that_entered_on_a_local_morning_arrived_on_that_local_day(ctx, make):
    """Stored moments are UTC: 20:00 UTC on 28 February is 03:00 on 1 March in Kon Tum."""
    case, _ = make.case_in("draft")
    manager = make.user("manager", "62")
    visit(
        case,
        entered_at=datetime(2026, 2, 28, 20),
        left_at=datetime(2026, 4, 2, 3),
        outcome="approve",
        working_days=22,
    )
    db.session.commit()
    close_months(NOW)
    entered = select(MonthlyVisitFigures.entered_on).where(MonthlyVisitFigures.kind == "entry")
    assert db.session.scalar(entered) == date(2026, 3, 1)
    for first, arrived in ((date(2026, 3, 1), 1), (date(2026, 3, 2), 0)):
        filters = Filters(first, date(2026, 4, 30))
        assert closed_span(filters) == (date(2026, 4, 1), date(2026, 5, 1))
        (row,) = bottlenecks(manager, filters, now=NOW)["rows"]
        assert (row["arrived"], row["completed"], row["to_handle"]) == (arrived, 1, 1)
        assert _rows(manager, filters) == straightforward_bottlenecks(manager, filters, NOW)
