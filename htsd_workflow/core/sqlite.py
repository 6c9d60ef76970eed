"""The embedded SQLite default: writers that read first serialise as they do on PostgreSQL.

PostgreSQL's ``SELECT … FOR UPDATE`` locks the rows an operation is about to change, so a
second writer waits and then reads the first one's result. SQLite has no row locks, and
SQLAlchemy leaves ``FOR UPDATE`` out of its SQL; the driver (pysqlite) runs SELECTs outside any
transaction and opens a deferred one only at the first INSERT/UPDATE/DELETE. Two requests could
therefore both read "not yet signed" and both write. Here a locking read takes SQLite's write
lock first (``BEGIN IMMEDIATE``): the second writer waits (the connection's busy timeout) and
then reads what the first committed — PostgreSQL's outcome. Plain reads (pages, lists) take no
lock, as before.
"""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.engine import Engine


def _ensure_write_lock(conn, clauseelement, multiparams, params, execution_options):
    if getattr(clauseelement, "_for_update_arg", None) is None:
        return
    if not conn.connection.driver_connection.in_transaction:
        # (a deferred transaction already open began with a write, so it holds the lock;)
        # through SQLAlchemy, so that a lock still held by another writer after the busy
        # timeout is its OperationalError, which the pages and the API answer with 503
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def begin_before_savepoint(connection) -> None:
    """Open the transaction before a savepoint (no-op elsewhere than SQLite): a ``SAVEPOINT``
    run outside a transaction starts one that its ``RELEASE`` commits, which would end the
    request's transaction in the middle. With the write lock, as a locking read takes it."""
    if connection.dialect.name != "sqlite":
        return
    if not connection.connection.driver_connection.in_transaction:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def serialise_locking_reads(engine: Engine) -> None:
    """Make ``with_for_update()`` take SQLite's write lock on ``engine`` (no-op elsewhere)."""
    if engine.dialect.name != "sqlite":
        return
    if not event.contains(engine, "before_execute", _ensure_write_lock):
        event.listen(engine, "before_execute", _ensure_write_lock)
