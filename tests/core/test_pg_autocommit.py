"""``pg.autocommit_cursor``: a read that stands alone, on a pooled connection of its own in
autocommit (the public certificate check). It goes back to the pool out of autocommit, a
connection on which anything failed is discarded, and a driver error is SQLAlchemy's own
(an unreachable database is answered 503 as for any statement)."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import OperationalError

from htsd_workflow.core import pg
from htsd_workflow.extensions import db


def test_sqlite_has_no_such_cursor(ctx):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's answer")
    with pg.autocommit_cursor() as cur:
        assert cur is None


@pytest.mark.postgres_only
def test_the_read_sends_no_begin_and_the_connection_goes_back_out_of_autocommit(ctx):
    with pg.autocommit_cursor() as cur:
        driver = cur.connection
        cur.execute("SELECT now() = statement_timestamp()")  # no transaction around it
        assert cur.fetchone() == (True,)
        assert driver.info.transaction_status.name == "IDLE"
    assert driver.autocommit is False and not driver.closed
    # the session's next transaction on the pool works as before
    assert db.session.execute(db.text("SELECT 1")).scalar() == 1
    db.session.rollback()


@pytest.mark.postgres_only
def test_a_failure_discards_the_connection_and_is_sqlalchemys_error(ctx):
    with pytest.raises(OperationalError) as raised, pg.autocommit_cursor() as cur:
        driver = cur.connection
        (own,) = cur.execute("SELECT pg_backend_pid()").fetchone()
        with db.engine.connect() as other:
            other.execute(db.text("SELECT pg_terminate_backend(:pid)"), {"pid": own})
        cur.execute("SELECT 1")  # the server has closed this connection
    assert raised.value.connection_invalidated
    assert driver.closed  # discarded, never back to the pool
    with pg.autocommit_cursor() as cur:  # the pool opens another
        assert cur.execute("SELECT 1").fetchone() == (1,)


@pytest.mark.postgres_only
def test_an_error_of_the_caller_discards_the_connection_too(ctx):
    with pytest.raises(ValueError), pg.autocommit_cursor() as cur:
        driver = cur.connection
        raise ValueError("the caller's own mistake")
    assert driver.closed  # not back to the pool in autocommit
