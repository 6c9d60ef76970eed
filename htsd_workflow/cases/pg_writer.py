"""The PostgreSQL writer of transitions: the same rows as the SQLAlchemy writer, fewer round trips.

``cases.writing`` decides every row a batch of transitions writes, in Python (``Writes``); on
PostgreSQL (psycopg 3) this module sends them as plain statements on the session's own
connection, inside the session's transaction: the row lock, the reads that must follow it
(sign-offs, scored items: read *after* the lock so that they see what a transaction that held
the lock before us committed), and one statement that writes the case updates, stage visits,
sign-offs, history and outbox rows together (a chain of data-modifying CTEs). Statement texts
depend only on the batch's shape, so psycopg prepares them after a few uses.

The rules of what a move writes are not restated here: what a move sets and resets, what
closing a stage visit writes and the stray-visit check are ``cases.rules``' SQLAlchemy
expressions, compiled for PostgreSQL once at import (``_MOVE_SET``, ``_CLOSE_SET``,
``_STRAY``). This module owns only the statement's shape: the row sources, the CTE chain, how
the visits to close are found (by case, see ``_write_sql``). On other databases
``cases.writing._write_with_sqlalchemy`` runs the same rules as SQLAlchemy statements;
``tests/integration/test_writers_agree.py`` checks that both write the same rows.
"""

from __future__ import annotations

import json
from collections import namedtuple
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache

from psycopg.rows import tuple_row
from sqlalchemy import literal_column

from htsd_workflow.cases.models import Case
from htsd_workflow.cases.rules import (
    NOW,
    close_values,
    move_values,
    render_pg,
    render_set_pg,
    stray_visit,
)
from htsd_workflow.core.pg import bind_rows, in_list, in_params, row_source

#: every column of a case, in table order: the lock reads them all, so that the operation can
#: hand back an up-to-date ``Case`` without loading it again
CASE_COLUMNS = tuple(column.name for column in Case.__table__.columns)
#: a locked case row: its columns by name, as the operations read them (one class, built once,
#: where psycopg's ``namedtuple_row`` would look up 25 column names on every statement)
LockedCase = namedtuple("LockedCase", CASE_COLUMNS)


def _locked_case_row(cursor):
    return LockedCase._make


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
    #: department part claims that end: (case_id, part) when a department signs, (case_id,
    #: None) for all of a case's when it leaves a joint stage (written through the session)
    unclaimed: list[tuple[int, str | None]] = field(default_factory=list)
    #: history rows, one per case (case_id, actor_id, actor_role, trigger, from_state,
    #: to_state, comment, data)
    events: list[dict] = field(default_factory=list)
    #: outbox messages, one per history row: case_id, kind, payload
    outbox: list[dict] = field(default_factory=list)


@lru_cache(maxsize=64)
def _lock_sql(count: int) -> str:
    return (
        f"SELECT {', '.join(CASE_COLUMNS)} FROM cases WHERE id IN ({in_list('id', count)}) "
        "ORDER BY id FOR UPDATE"
    )


def lock(cur, case_ids) -> list[LockedCase]:
    """Lock the cases (ordered by id, so two batches cannot deadlock); return their rows."""
    cur.row_factory = _locked_case_row
    try:
        cur.execute(_lock_sql(len(case_ids)), in_params("id", case_ids))
        return cur.fetchall()
    finally:
        cur.row_factory = tuple_row


@lru_cache(maxsize=64)
def _signed_sql(count: int) -> str:
    return (
        f"SELECT case_id, department FROM sign_offs WHERE case_id IN ({in_list('case_id', count)})"
    )


def signed_departments(cur, case_ids) -> list:
    cur.execute(_signed_sql(len(case_ids)), in_params("case_id", case_ids))
    return cur.fetchall()


@lru_cache(maxsize=64)
def _scored_sql(count: int) -> str:
    return (
        "SELECT case_id, code FROM assessment_items "
        f"WHERE case_id IN ({in_list('case_id', count)}) AND score IS NOT NULL"
    )


def scored_items(cur, case_ids) -> list:
    cur.execute(_scored_sql(len(case_ids)), in_params("case_id", case_ids))
    return cur.fetchall()


#: the row sources of the write statement: (parameter prefix, column, SQL type, key of the
#: value in the rows ``Writes`` holds) per column
_MOVE = (
    ("id_", "id", "integer", "id"),
    ("from_", "from_state", "varchar", "from_state"),
    ("to_", "state", "varchar", "to_state"),
    ("open_", "is_open", "boolean", "is_open"),
    ("due_", "due_at", "timestamp", "due_at"),
    ("keep_", "keep_returned", "boolean", "keep_returned"),
    ("returned_", "returned_from", "varchar", "returned_from"),
    ("final_", "is_final", "boolean", "is_final"),
)
_CLOSE = (
    ("case_id_x", "case_id", "integer", "case_id"),
    ("part_", "part", "varchar", "part"),
    ("outcome_", "outcome", "varchar", "outcome"),
    ("days_", "days", "integer", "working_days"),
    ("entered_", "entered_at", "timestamp", "entered_at"),
)
_VISIT = (
    ("case_id_v", "case_id", "integer", "case_id"),
    ("stage_", "stage", "varchar", "stage"),
    ("title_", "title", "varchar", "title"),
    ("year_", "year", "integer", "year"),
    ("province_", "province_code", "varchar", "province_code"),
    ("district_", "district_code", "varchar", "district_code"),
    ("commune_", "commune_code", "varchar", "commune_code"),
    ("visit_due_", "due_at", "timestamp", "due_at"),
)
_SIGN = (
    ("case_id_s", "case_id", "integer", "case_id"),
    ("department_", "department", "varchar", "department"),
    ("user_", "user_id", "integer", "user_id"),
)
_CLEAR = (("case_id_c", "case_id", "integer", "case_id"),)
_EVENT = (
    ("case_id_", "case_id", "integer", "case_id"),
    ("trigger_", "trigger", "varchar", "trigger"),
    ("from_state_", "from_state", "varchar", "from_state"),
    ("to_state_", "to_state", "varchar", "to_state"),
    ("comment_", "comment", "text", "comment"),
    ("data_", "data", "json", "data"),
    ("payload_", "payload", "json", "payload"),
)


def _u(name: str):
    return literal_column(f"u.{name}")


#: the rules of ``cases.rules``, rendered for PostgreSQL once: a move's SET list (over the
#: moves' row source ``u``), a closing visit's (over the closes' ``e``), the stray-visit check
_MOVE_SET = render_set_pg(
    move_values(
        now=NOW,
        state=_u("state"),
        is_open=_u("is_open"),
        due_at=_u("due_at"),
        keep_returned=_u("keep_returned"),
        returned_from=_u("returned_from"),
        is_final=_u("is_final"),
    )
)
_CLOSE_SET = render_set_pg(
    close_values(
        now=NOW, outcome=literal_column("e.outcome"), working_days=literal_column("e.days")
    )
)
_STRAY = render_pg(stray_visit(literal_column("e.entered_at")))


@lru_cache(maxsize=256)
def _write_sql(moves, versioned, closes, visits, signs, cleared, events, arrays) -> str:
    """The one statement that writes a batch of this shape."""
    parts = []
    if moves:
        version = " AND cases.version = %(expected_version)s" if versioned else ""
        parts.append(
            f"moved AS (UPDATE cases SET {_MOVE_SET} "
            f"FROM {row_source(_MOVE, moves, arrays, 'u')} "
            f"WHERE cases.id = u.id AND cases.state = u.from_state{version} RETURNING cases.id)"
        )
    if closes:
        parts.append(f"ending AS (SELECT * FROM {row_source(_CLOSE, closes, arrays, 'e')})")
        # The visits to close are found by case (``ix_stage_visits_open``: case_id, left_at);
        # the stay's start is only checked. Written as ``IS NOT DISTINCT FROM`` (the same for
        # these non-null moments) so that it cannot be an index condition: with ``=`` the
        # planner may pick the reports' index on open visits by ``entered_at`` instead, and
        # read every visit a bulk call opened at that same moment for each visit it closes.
        parts.append(
            f"closed AS (UPDATE stage_visits SET {_CLOSE_SET} "
            "FROM ending AS e WHERE stage_visits.case_id = e.case_id "
            "AND stage_visits.left_at IS NULL "
            "AND stage_visits.entered_at IS NOT DISTINCT FROM e.entered_at "
            "AND (e.part IS NULL OR stage_visits.stage = e.part))"
        )
    if visits:
        parts.append(
            "opened AS (INSERT INTO stage_visits (case_id, stage, title, year, province_code, "
            "district_code, commune_code, entered_at, due_at, is_escalated) "
            "SELECT v.case_id, v.stage, v.title, v.year, v.province_code, v.district_code, "
            "v.commune_code, %(now)s, v.due_at, false "
            f"FROM {row_source(_VISIT, visits, arrays, 'v')})"
        )
    if signs:
        parts.append(
            "signed AS (INSERT INTO sign_offs (case_id, department, user_id, at) "
            f"SELECT s.case_id, s.department, s.user_id, %(now)s "
            f"FROM {row_source(_SIGN, signs, arrays, 's')})"
        )
    if cleared:
        parts.append(
            "cleared AS (DELETE FROM sign_offs USING "
            f"{row_source(_CLEAR, cleared, arrays, 'c')} WHERE sign_offs.case_id = c.case_id)"
        )
    parts.append(f"happened AS (SELECT * FROM {row_source(_EVENT, events, arrays, 'h')})")
    parts.append(
        "events AS (INSERT INTO case_events (case_id, at, actor_id, actor_role, trigger, "
        "from_state, to_state, comment, data) "
        "SELECT h.case_id, %(now)s, %(actor_id)s::integer, %(actor_role)s, h.trigger, "
        "h.from_state, h.to_state, h.comment, h.data FROM happened AS h RETURNING id, case_id)"
    )
    parts.append(
        "sent AS (INSERT INTO outbox (event_id, case_id, kind, payload, created_at, attempts) "
        "SELECT events.id, events.case_id, h.trigger, h.payload, %(now)s, 0 "
        "FROM events JOIN happened AS h ON h.case_id = events.case_id)"
    )
    moved = "(SELECT count(*) FROM moved)" if moves else "0"
    # open visits of the closing cases that began at another moment (must be none)
    stray = (
        "(SELECT count(*) FROM stage_visits JOIN ending AS e ON stage_visits.case_id = e.case_id "
        f"WHERE {_STRAY})"
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
    arrays = len(writes.events) > 1
    params: dict = {"now": now, "actor_id": actor_id, "actor_role": actor_role}
    if expected_version is not None:
        params["expected_version"] = expected_version
    bind_rows(params, _MOVE, writes.moves, arrays)
    bind_rows(params, _CLOSE, writes.closes, arrays)
    bind_rows(params, _VISIT, writes.visits, arrays)
    bind_rows(params, _SIGN, writes.signs, arrays)
    bind_rows(params, _CLEAR, [{"case_id": case_id} for case_id in writes.cleared], arrays)
    bind_rows(
        params,
        _EVENT,
        [
            {
                "case_id": e["case_id"],
                "trigger": e["trigger"],
                "from_state": e["from_state"],
                "to_state": e["to_state"],
                "comment": e["comment"],
                "data": None if e["data"] is None else json.dumps(e["data"]),
                "payload": json.dumps(m["payload"]),
            }
            for e, m in zip(writes.events, writes.outbox, strict=True)
        ],
        arrays,
    )
    sql = _write_sql(
        len(writes.moves),
        expected_version is not None,
        len(writes.closes),
        len(writes.visits),
        len(writes.signs),
        len(writes.cleared),
        len(writes.events),
        arrays,
    )
    cur.execute(sql, params)
    moved, stray = cur.fetchone()
    return moved, stray
