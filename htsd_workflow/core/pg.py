"""PostgreSQL plumbing for the hand-rendered fast paths (cases' writer, the escalation scan, the
public certificate check).

A cursor on the session's own connection (inside its transaction), one on a pooled connection
of its own in autocommit (a read that stands alone), and the parameter-binding
toolkit their statements use: ``IN`` lists of numbered parameters, and row sources given either
as ``VALUES`` rows of scalar parameters or as one array per column (``unnest``).

A row source is described by its columns: ``(parameter prefix, column, SQL type, key of the
value in the rows)`` per column.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from psycopg.rows import tuple_row
from sqlalchemy.exc import DBAPIError

from htsd_workflow.extensions import db

#: the key, in a pooled connection's ``info``, of the cursor the fast paths reuse on it
CURSOR_KEY = "htsd_pg_cursor"


def cursor():
    """A cursor on the session's connection when it is PostgreSQL through psycopg 3, else None.

    Pending ORM changes are flushed first, as a query through the session would. The cursor
    is made once per database connection and kept in the pooled connection's ``info`` (a
    connection serves one session, hence one thread, at a time); a cursor of another (say
    reconnected) driver connection, or a closed one, is replaced.
    """
    session = db.session()
    connection = session.connection()
    if not is_psycopg(connection.dialect):
        return None
    session.flush()
    return _kept_cursor(connection.connection)


def _kept_cursor(pooled):
    """The cursor kept on a pooled connection (made anew for another driver connection, or
    once closed)."""
    cur = pooled.info.get(CURSOR_KEY)
    driver = pooled.driver_connection
    if cur is None or cur.closed or cur.connection is not driver:
        cur = driver.cursor(row_factory=tuple_row)
        pooled.info[CURSOR_KEY] = cur
    return cur


def is_psycopg(dialect) -> bool:
    """Whether ``dialect`` is PostgreSQL through psycopg 3 (the fast paths' driver)."""
    return dialect.name == "postgresql" and dialect.driver == "psycopg"


@contextmanager
def autocommit_cursor() -> Iterator:
    """A cursor on a pooled connection of its own, in autocommit, for a read that stands alone
    (the public certificate check: one statement, nothing else of the request's transaction):
    no BEGIN and ROLLBACK round trips, and none of SQLAlchemy's execution per statement. None
    when the database is not PostgreSQL through psycopg 3.

    The connection comes from the pool as any other (pre-pinged) and goes back to it out of
    autocommit; one on which anything failed is discarded rather than returned (the pool opens
    another). A driver error is raised as SQLAlchemy raises it — an unreachable database is a
    ``sqlalchemy.exc.OperationalError`` — so the error pages answer as for any statement (503).
    """
    engine = db.engine
    if not is_psycopg(engine.dialect):
        yield None
        return
    driver_error = engine.dialect.loaded_dbapi.Error
    try:
        pooled = engine.raw_connection()
    except driver_error as exc:
        raise DBAPIError.instance(None, None, exc, driver_error) from exc
    try:
        driver = pooled.driver_connection
        driver.autocommit = True
        yield _kept_cursor(pooled)
        driver.autocommit = False
    except BaseException as exc:
        # never back to the pool in autocommit, nor broken
        pooled.invalidate(exc if isinstance(exc, Exception) else None)
        if isinstance(exc, driver_error):
            raise DBAPIError.instance(
                None, None, exc, driver_error, connection_invalidated=True
            ) from exc
        raise
    finally:
        pooled.close()


def in_list(prefix: str, count: int) -> str:
    """``count`` numbered parameters for an ``IN (...)`` list: ``%(prefix_0)s, ...``."""
    return ", ".join(f"%({prefix}_{i})s" for i in range(count))


def in_params(prefix: str, values) -> dict:
    """The parameters of ``in_list(prefix, len(values))``."""
    return {f"{prefix}_{i}": value for i, value in enumerate(values)}


def row_source(columns, count: int, arrays: bool, alias: str) -> str:
    """Rows to read from: ``count`` rows of scalar parameters, or one array per column.

    Scalars keep a one-case statement simple (and replayable by pgbench); arrays keep a
    500-case statement at a few dozen parameters, which PostgreSQL parses and plans quickly.
    """
    names = ", ".join(column for _, column, _, _ in columns)
    if arrays:
        unnest = ", ".join(f"%({prefix.rstrip('_')})s::{kind}[]" for prefix, _, kind, _ in columns)
        return f"unnest({unnest}) AS {alias}({names})"
    rows = ", ".join(
        "(" + ", ".join(f"%({prefix}{i})s::{kind}" for prefix, _, kind, _ in columns) + ")"
        for i in range(count)
    )
    return f"(VALUES {rows}) AS {alias}({names})"


@lru_cache(maxsize=1024)
def _row_names(columns, index: int) -> tuple[tuple[str, str], ...]:
    """(parameter name, key in the row) of each column of row ``index`` of a scalar source."""
    return tuple((f"{prefix}{index}", key) for prefix, _, _, key in columns)


def bind_rows(params: dict, columns, rows: list[dict], arrays: bool) -> None:
    """Bind rows given as dicts (each value under its column's key): one parameter per value,
    or one array per column; no tuple made per row nor parameter name formatted per value."""
    if arrays:
        for prefix, _, _, key in columns:
            params[prefix.rstrip("_")] = [row[key] for row in rows]
        return
    for index, row in enumerate(rows):
        for name, key in _row_names(columns, index):
            params[name] = row[key]
