"""Denominators: how many households, clans, communities and units an area has in a year;
and the bottleneck report's figures kept per closed month."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from htsd_workflow.extensions import db
from htsd_workflow.jobs.models import JobMixin


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


class ReportPdfJob(JobMixin, db.Model):
    """A large report's PDF (the targets of a whole province: some 18 pages) built by the
    worker with a progress bar. The page's printable HTML is made in the request (it needs the
    reader's territory, filters and language) and kept here; the worker lays it out and writes
    the PDF. ``total`` and ``done`` count the two steps: laying out the pages, writing the file."""

    __tablename__ = "report_pdf_jobs"
    ACTIVE = ("queued", "running")

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    #: the file's name without ".pdf" ("chi-tieu")
    name: Mapped[str] = mapped_column(String(60))
    #: where the reader came from (the report with its filters), for the "back" link
    back: Mapped[str | None] = mapped_column(String(500))
    html: Mapped[str | None] = mapped_column(Text, deferred=True)
    #: the pages laid out, once known
    pages: Mapped[int | None] = mapped_column(Integer)
    #: why a run stopped (status "failed")
    error: Mapped[str | None] = mapped_column(Text)
    pdf: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
