"""Administration operations: the working-day calendar's exception days. Flush, never commit."""

from __future__ import annotations

from datetime import date

from htsd_workflow.audit.operations import record_audit
from htsd_workflow.core.calendar import invalidate_calendar
from htsd_workflow.core.models import CalendarException
from htsd_workflow.extensions import db


def set_calendar_exception(day: date, is_working_day: bool, note: str = "", actor=None) -> None:
    """Add or change an exception day (flushes; the caller commits); the audit log keeps it
    with ``actor`` (None from the command line)."""
    row = db.session.get(CalendarException, day) or CalendarException(day=day)
    row.is_working_day = is_working_day
    row.note = note
    db.session.add(row)
    db.session.flush()
    record_audit(
        "calendar_exception",
        actor=actor,
        target=f"day:{day.isoformat()}",
        details={"is_working_day": is_working_day, "note": note},
    )
    invalidate_calendar()
