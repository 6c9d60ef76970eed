"""Tables of the shared plumbing."""

from __future__ import annotations

from datetime import date
from functools import cache

from sqlalchemy import Boolean, Date, String
from sqlalchemy.orm import Mapped, make_transient_to_detached, mapped_column
from sqlalchemy.orm.attributes import set_committed_value

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


def read_rows(statement, params: dict | None = None) -> list:
    """A read's rows through the session's connection (inside its transaction), without the
    ORM's per-statement work (for statements that load no objects, or whose objects
    ``persistent`` makes); flushed first, as the session's autoflush would."""
    db.session.flush()
    return db.session.connection().execute(statement, params).all()


@cache
def _key_names(mapper) -> tuple[str, ...]:
    """The attribute names of a mapped class's primary key."""
    return tuple(mapper.get_property_by_column(column).key for column in mapper.primary_key)


def persistent(model, values: dict):
    """The session's instance of ``model`` for a row read without the ORM (``values``: every
    column attribute by name), filled the way the ORM's loader fills one: no attribute events,
    no SELECT. An instance the session already holds is brought up to date from the row (its
    other attributes reload when used), as a query with ``populate_existing`` would."""
    mapper = model.__mapper__
    session = db.session()
    key = mapper.identity_key_from_primary_key([values[name] for name in _key_names(mapper)])
    instance = session.identity_map.get(key)
    if instance is not None:
        session.expire(instance)
        for name, value in values.items():
            set_committed_value(instance, name, value)
        return instance
    instance = mapper.class_manager.new_instance()
    instance.__dict__.update(values)
    make_transient_to_detached(instance)
    session.add(instance)
    return instance


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
