"""The PostgreSQL path of the case operations: the same reads and writes, fewer round trips.

``cases.operations`` decides every row a batch of transitions writes in Python (``Writes``);
on PostgreSQL (psycopg 3) this module sends them as plain statements on the session's own
connection — inside the session's transaction — instead of through the ORM: the row lock, the
reads that must follow it (open stage visits, sign-offs, scored items: read *after* the lock so
that they see what a transaction that held the lock before us committed), and one statement
that writes the case updates, stage visits, sign-offs, history and outbox rows together (a
chain of data-modifying CTEs). Statement texts depend only on the batch's shape, so psycopg
prepares them after a few uses.

On the SQLite default the operations use SQLAlchemy statements with the same effect.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache

from psycopg.rows import namedtuple_row

from htsd_workflow.cases.models import Case
from htsd_workflow.extensions import db

#: every column of a case, in table order: the lock reads them all, so that the operation can
#: hand back an up-to-date ``Case`` without loading it again
CASE_COLUMNS = tuple(column.name for column in Case.__table__.columns)


@dataclass
class Writes:
    """Every row a batch of planned changes writes, decided before any statement runs."""

    #: state changes: id, from_state, to_state, is_open, due_at, keep_returned, returned_from,
    #: is_final
    moves: list[dict] = field(default_factory=list)
    #: stays that end, per case: case_id, part (a department's part, or None for all the
    #: case's open visits), outcome, entered_at (when the stay began), working_days
    closes: list[dict] = field(default_factory=list)
    #: stage visits that begin (all columns)
    visits: list[dict] = field(default_factory=list)
    #: sign-offs recorded: case_id, department, user_id
    signs: list[dict] = field(default_factory=list)
    #: cases whose sign-offs are cleared (they left the joint stage, not to a final state)
    cleared: list[int] = field(default_factory=list)
    #: history rows, one per case (case_id, actor_id, actor_role, trigger, from_state,
    #: to_state, comment, data)
    events: list[dict] = field(default_factory=list)
    #: outbox messages, one per history row: case_id, kind, payload
    outbox: list[dict] = field(default_factory=list)


def cursor():
    """A cursor on the session's connection when it is PostgreSQL through psycopg 3, else None.

    Pending ORM changes are flushed first, as a query through the session would.
    """
    connection = db.session.connection()
    dialect = connection.dialect
    if dialect.name != "postgresql" or dialect.driver != "psycopg":
        return None
    db.session.flush()
    return connection.connection.driver_connection.cursor(row_factory=namedtuple_row)


def _in(prefix: str, count: int) -> str:
    return ", ".join(f"%({prefix}_{i})s" for i in range(count))


def _in_params(prefix: str, values) -> dict:
    return {f"{prefix}_{i}": value for i, value in enumerate(values)}


@lru_cache(maxsize=64)
def _lock_sql(count: int) -> str:
    return (
        f"SELECT {', '.join(CASE_COLUMNS)} FROM cases WHERE id IN ({_in('id', count)}) "
        "ORDER BY id FOR UPDATE"
    )


def lock(cur, case_ids) -> list:
    """Lock the cases (ordered by id, so two batches cannot deadlock); return their rows."""
    cur.execute(_lock_sql(len(case_ids)), _in_params("id", case_ids))
    return cur.fetchall()


@lru_cache(maxsize=64)
def _signed_sql(count: int) -> str:
    return f"SELECT case_id, department FROM sign_offs WHERE case_id IN ({_in('case_id', count)})"


def signed_departments(cur, case_ids) -> list:
    cur.execute(_signed_sql(len(case_ids)), _in_params("case_id", case_ids))
    return cur.fetchall()


@lru_cache(maxsize=64)
def _scored_sql(count: int) -> str:
    return (
        "SELECT case_id, code FROM assessment_items "
        f"WHERE case_id IN ({_in('case_id', count)}) AND score IS NOT NULL"
    )


def scored_items(cur, case_ids) -> list:
    cur.execute(_scored_sql(len(case_ids)), _in_params("case_id", case_ids))
    return cur.fetchall()


@lru_cache(maxsize=256)
def _write_sql(moves, versioned, closes, visits, signs, cleared, events) -> str:
    """The one statement that writes a batch of this shape."""
    parts = []
    if moves:
        rows = ", ".join(
            f"(%(id_{i})s::integer, %(from_{i})s::varchar, %(to_{i})s::varchar, "
            f"%(open_{i})s::boolean, %(due_{i})s::timestamp, %(keep_{i})s::boolean, "
            f"%(returned_{i})s::varchar, %(final_{i})s::boolean)"
            for i in range(moves)
        )
        version = " AND cases.version = %(expected_version)s" if versioned else ""
        parts.append(
            "moved AS (UPDATE cases SET state = u.state, is_open = u.is_open, "
            "version = cases.version + 1, stage_entered_at = %(now)s, due_at = u.due_at, "
            "is_extended = false, escalation_rung = 0, is_escalated = false, "
            "claimed_by_id = NULL, claimed_at = NULL, "
            "submitted_at = coalesce(cases.submitted_at, %(now)s), "
            "returned_from = CASE WHEN u.keep_returned THEN cases.returned_from "
            "ELSE u.returned_from END, "
            "decided_at = CASE WHEN u.is_final THEN %(now)s ELSE cases.decided_at END "
            f"FROM (VALUES {rows}) AS u(id, from_state, state, is_open, due_at, keep_returned, "
            "returned_from, is_final) "
            f"WHERE cases.id = u.id AND cases.state = u.from_state{version} RETURNING cases.id)"
        )
    if closes:
        rows = ", ".join(
            f"(%(case_id_x{i})s::integer, %(part_{i})s::varchar, %(outcome_{i})s::varchar, "
            f"%(days_{i})s::integer, %(entered_{i})s::timestamp)"
            for i in range(closes)
        )
        parts.append(f"ending (case_id, part, outcome, days, entered_at) AS (VALUES {rows})")
        parts.append(
            "closed AS (UPDATE stage_visits SET left_at = %(now)s, outcome = e.outcome, "
            "working_days = e.days, is_late = coalesce(stage_visits.due_at < %(now)s, false) "
            "FROM ending AS e WHERE stage_visits.case_id = e.case_id "
            "AND stage_visits.left_at IS NULL AND stage_visits.entered_at = e.entered_at "
            "AND (e.part IS NULL OR stage_visits.stage = e.part))"
        )
    if visits:
        rows = ", ".join(
            f"(%(case_id_v{i})s::integer, %(stage_{i})s, %(title_{i})s, %(year_{i})s::integer, "
            f"%(province_{i})s, %(district_{i})s, %(commune_{i})s, %(now)s, "
            f"%(visit_due_{i})s::timestamp, false)"
            for i in range(visits)
        )
        parts.append(
            "opened AS (INSERT INTO stage_visits (case_id, stage, title, year, province_code, "
            "district_code, commune_code, entered_at, due_at, is_escalated) "
            f"VALUES {rows})"
        )
    if signs:
        rows = ", ".join(
            f"(%(case_id_s{i})s::integer, %(department_{i})s, %(user_{i})s::integer, %(now)s)"
            for i in range(signs)
        )
        parts.append(
            f"signed AS (INSERT INTO sign_offs (case_id, department, user_id, at) VALUES {rows})"
        )
    if cleared:
        parts.append(
            f"cleared AS (DELETE FROM sign_offs WHERE case_id IN ({_in('case_id_c', cleared)}))"
        )
    rows = ", ".join(
        f"(%(case_id_{i})s::integer, %(now)s, %(actor_id)s::integer, %(actor_role)s, "
        f"%(trigger_{i})s, %(from_state_{i})s, %(to_state_{i})s, %(comment_{i})s, "
        f"%(data_{i})s::json)"
        for i in range(events)
    )
    parts.append(
        "events AS (INSERT INTO case_events (case_id, at, actor_id, actor_role, trigger, "
        f"from_state, to_state, comment, data) VALUES {rows} RETURNING id, case_id)"
    )
    rows = ", ".join(
        f"(%(case_id_{i})s::integer, %(trigger_{i})s, %(payload_{i})s::json)" for i in range(events)
    )
    parts.append(
        "sent AS (INSERT INTO outbox (event_id, case_id, kind, payload, created_at, attempts) "
        "SELECT events.id, events.case_id, o.kind, o.payload, %(now)s, 0 FROM events "
        f"JOIN (VALUES {rows}) AS o(case_id, kind, payload) ON o.case_id = events.case_id)"
    )
    moved = "(SELECT count(*) FROM moved)" if moves else "0"
    # open visits of the closing cases that began at another moment (must be none)
    stray = (
        "(SELECT count(*) FROM stage_visits JOIN ending AS e ON stage_visits.case_id = e.case_id "
        "WHERE stage_visits.left_at IS NULL AND stage_visits.entered_at <> e.entered_at)"
        if closes
        else "0"
    )
    return f"WITH {', '.join(parts)} SELECT {moved} AS moved, {stray} AS stray"


def write(
    cur,
    writes: Writes,
    *,
    now: datetime,
    actor_id: int | None,
    actor_role: str | None,
    expected_version: int | None,
) -> tuple[int, int]:
    """Write a batch in one statement; return how many cases changed state, and how many open
    stage visits of the closing cases began at another moment than their stay (none, unless
    the table was changed behind the operations' back)."""
    params: dict = {"now": now, "actor_id": actor_id, "actor_role": actor_role}
    if expected_version is not None:
        params["expected_version"] = expected_version
    for i, move in enumerate(writes.moves):
        params[f"id_{i}"] = move["id"]
        params[f"from_{i}"] = move["from_state"]
        params[f"to_{i}"] = move["to_state"]
        params[f"open_{i}"] = move["is_open"]
        params[f"due_{i}"] = move["due_at"]
        params[f"keep_{i}"] = move["keep_returned"]
        params[f"returned_{i}"] = move["returned_from"]
        params[f"final_{i}"] = move["is_final"]
    for i, close in enumerate(writes.closes):
        params[f"case_id_x{i}"] = close["case_id"]
        params[f"part_{i}"] = close["part"]
        params[f"outcome_{i}"] = close["outcome"]
        params[f"days_{i}"] = close["working_days"]
        params[f"entered_{i}"] = close["entered_at"]
    for i, visit in enumerate(writes.visits):
        params[f"case_id_v{i}"] = visit["case_id"]
        params[f"stage_{i}"] = visit["stage"]
        params[f"title_{i}"] = visit["title"]
        params[f"year_{i}"] = visit["year"]
        params[f"province_{i}"] = visit["province_code"]
        params[f"district_{i}"] = visit["district_code"]
        params[f"commune_{i}"] = visit["commune_code"]
        params[f"visit_due_{i}"] = visit["due_at"]
    for i, sign in enumerate(writes.signs):
        params[f"case_id_s{i}"] = sign["case_id"]
        params[f"department_{i}"] = sign["department"]
        params[f"user_{i}"] = sign["user_id"]
    params.update(_in_params("case_id_c", writes.cleared))
    for i, (event, message) in enumerate(zip(writes.events, writes.outbox, strict=True)):
        params[f"case_id_{i}"] = event["case_id"]
        params[f"trigger_{i}"] = event["trigger"]
        params[f"from_state_{i}"] = event["from_state"]
        params[f"to_state_{i}"] = event["to_state"]
        params[f"comment_{i}"] = event["comment"]
        params[f"data_{i}"] = None if event["data"] is None else json.dumps(event["data"])
        params[f"payload_{i}"] = json.dumps(message["payload"])
    sql = _write_sql(
        len(writes.moves),
        expected_version is not None,
        len(writes.closes),
        len(writes.visits),
        len(writes.signs),
        len(writes.cleared),
        len(writes.events),
    )
    cur.execute(sql, params)
    moved, stray = cur.fetchone()
    return moved, stray
