"""Tables of the shared plumbing."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Boolean, Date, String
from sqlalchemy.orm import Mapped, mapped_column

from htsd_workflow.extensions import db


class CalendarException(db.Model):
    """A day that differs from the normal calendar: an extra day off or a make-up working day."""

    __tablename__ = "calendar_exceptions"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    is_working_day: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str] = mapped_column(String(200), default="")
