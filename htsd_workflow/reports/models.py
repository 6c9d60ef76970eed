"""Denominators: how many households, clans, communities and units an area has in a year;
and the bottleneck report's figures kept per closed month."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, DateTime, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from htsd_workflow.extensions import db


class Denominator(db.Model):
    __tablename__ = "denominators"
    __table_args__ = (UniqueConstraint("unit_code", "year", "title"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: the commune the count is for
    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"), index=True)
    year: Mapped[int] = mapped_column(Integer)
    #: family, clan, community or unit
    title: Mapped[str] = mapped_column(String(12))
    count: Mapped[int] = mapped_column(Integer)


class ClosedMonth(db.Model):
    """A month (local time) whose finished stage visits are counted in ``MonthlyVisitFigures``.

    Its key is the month's first day; inserting it first makes two closing jobs that race for
    the same month fail instead of counting it twice.
    """

    __tablename__ = "report_closed_months"

    month: Mapped[date] = mapped_column(Date, primary_key=True)
    #: the visits that left in the month when it was closed (the daily check recounts them)
    visits: Mapped[int] = mapped_column(Integer)
    closed_at: Mapped[datetime] = mapped_column(DateTime)


#: the columns a month's cell may be keyed by, besides its month and kind
MONTH_CELL_COLUMNS = [
    "stage",
    "title",
    "province_code",
    "district_code",
    "outcome",
    "is_late",
    "is_escalated",
    "working_days",
    "entered_on",
]


class MonthlyVisitFigures(db.Model):
    """How many stage visits left in a closed month, per stage, title and district, in three
    kinds of cells: by ``outcome`` (with ``is_late`` and ``is_escalated``), by
    ``working_days`` (the percentiles), and by ``entered_on`` (only the visits that entered
    before the month). Each visit is counted once in each kind (``entry``: if it entered
    before its month); the other columns of a cell are NULL.

    District grain: what the province's report, one row per stage and district, needs.
    """

    __tablename__ = "stage_visit_months"
    __table_args__ = (
        # the report reads a run of months: an index-only scan of these
        Index(
            "ix_stage_visit_months_month",
            "month",
            postgresql_include=["kind", *MONTH_CELL_COLUMNS, "visits"],
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[date] = mapped_column(Date)
    #: outcome, days or entry
    kind: Mapped[str] = mapped_column(String(8))
    stage: Mapped[str] = mapped_column(String(60))
    title: Mapped[str] = mapped_column(String(12))
    province_code: Mapped[str] = mapped_column(String(10))
    district_code: Mapped[str | None] = mapped_column(String(10))
    outcome: Mapped[str | None] = mapped_column(String(40))
    is_late: Mapped[bool | None] = mapped_column(Boolean)
    is_escalated: Mapped[bool | None] = mapped_column(Boolean)
    working_days: Mapped[int | None] = mapped_column(Integer)
    #: the local day the visits entered the stage (only visits that entered before the month)
    entered_on: Mapped[date | None] = mapped_column(Date)
    visits: Mapped[int] = mapped_column(Integer)
