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


def assign_changed(row, values: dict) -> bool:
    """Set the attributes of ``row`` that differ from ``values``; whether any did (upserts
    count a row as updated or unchanged by it)."""
    changed = False
    for key, value in values.items():
        if getattr(row, key) != value:
            setattr(row, key, value)
            changed = True
    return changed


def append_only_sql(table: str) -> str:
    """PostgreSQL DDL making ``table`` refuse UPDATE and DELETE, whoever connects.

    Written for ``sqlalchemy.DDL`` (``%%`` stands for ``%``); migrations replace it back.
    """
    return f"""
CREATE OR REPLACE FUNCTION htsd_refuse_{table}_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '{table} is append-only: %% refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS {table}_append_only ON {table};
CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}
    FOR EACH ROW EXECUTE FUNCTION htsd_refuse_{table}_change();
"""
