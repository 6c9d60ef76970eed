"""The PostgreSQL path of the escalation scan: fewer statements, each doing more.

``sla.operations`` walks the ladder the same way on every database; on PostgreSQL (psycopg 3)
each rung of a stage is

1. one query for the ids of the open cases it is due for (a range scan of
   ``ix_cases_sla_scan``: open cases by title, stage and due date, with the stage entry);
2. per batch of those ids, one conditional ``UPDATE`` that claims them (``escalation_rung <
   rung`` and the rung's other conditions, checked again on the row's latest version, so a case
   a concurrent scan or transition got to first is left alone), returning their due moments;
3. after each claimed case's working days late are counted on the calendar (in Python, the same
   ``working_days_late`` as the portable path) and its history and outbox JSON made by the same
   functions (``rules.rung_data``, ``rules.rung_payload``, serialised by ``json.dumps`` as the
   ORM's JSON type does), one statement (a chain of data-modifying CTEs fed by arrays) that
   flags the open stage visits (``rules.rung_visits``) and writes the history and outbox rows.

All run on the session's connection, inside its transaction. The rows written are the same as
the portable path's (``cases.escalation.fire_rung``), JSON texts included; when a rung is due
is ``cases.rules.rung_due``, rendered here with a parameter for each value.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache

from sqlalchemy import bindparam

from htsd_workflow.cases.definitions import RungDef
from htsd_workflow.cases.models import StageVisit
from htsd_workflow.cases.rules import render_pg, rung_data, rung_due, rung_payload, rung_visits
from htsd_workflow.core.calendar import WorkingCalendar
from htsd_workflow.core.pg import bind_rows, row_source

#: the row source of the write statement: the claimed cases and the JSON texts of their history
#: and outbox rows (``rules.rung_data``, ``rules.rung_payload``, serialised as the ORM does)
_FIRED = (
    ("case_id_", "case_id", "integer", "case_id"),
    ("data_", "data", "text", "data"),
    ("payload_", "payload", "text", "payload"),
)

#: the open stage visit an escalation flags, as the lateral lookup names it
_OPEN = StageVisit.__table__.alias("open_visit")


@lru_cache(maxsize=4)
def _conditions(by_entry: bool, by_due: bool) -> str:
    """``rung_due`` as PostgreSQL text, each value a parameter of the same name."""
    conditions = rung_due(
        title=bindparam("title"),
        workflow=bindparam("workflow"),
        stage=bindparam("stage"),
        rung=bindparam("rung"),
        entered_before=bindparam("entered_before") if by_entry else None,
        due_before=bindparam("due_before") if by_due else None,
    )
    return " AND ".join(render_pg(condition) for condition in conditions)


def _rung_params(title, workflow, stage, rung, entered_before, due_before) -> dict:
    return {
        "title": title,
        "workflow": workflow,
        "stage": stage,
        "rung": rung.rung,
        "entered_before": entered_before,
        "due_before": due_before,
    }


@lru_cache(maxsize=4)
def _due_sql(by_entry: bool, by_due: bool) -> str:
    return f"SELECT id FROM cases WHERE {_conditions(by_entry, by_due)} ORDER BY id"


def due_cases(
    cur,
    *,
    title: str,
    workflow: str,
    stage: str,
    rung: RungDef,
    entered_before: datetime | None,
    due_before: datetime | None,
) -> list[int]:
    """The ids of the open cases ``rung`` is due for, in order (``ix_cases_sla_scan``)."""
    cur.execute(
        _due_sql(entered_before is not None, due_before is not None),
        _rung_params(title, workflow, stage, rung, entered_before, due_before),
    )
    return [row[0] for row in cur.fetchall()]


@lru_cache(maxsize=8)
def _claim_sql(escalate: bool, by_entry: bool, by_due: bool) -> str:
    flag = ", is_escalated = true" if escalate else ""
    return (
        f"UPDATE cases SET escalation_rung = %(rung)s{flag} "
        f"WHERE cases.id = ANY(%(ids)s::integer[]) AND {_conditions(by_entry, by_due)} "
        "RETURNING cases.id, cases.due_at"
    )


def claim(
    cur,
    ids: list[int],
    *,
    title: str,
    workflow: str,
    stage: str,
    rung: RungDef,
    entered_before: datetime | None,
    due_before: datetime | None,
) -> list:
    """Claim those of the cases ``ids`` that ``rung`` is still due for (on their latest
    version: a concurrent scan or transition may have got there first); return the claimed
    cases' (id, due_at)."""
    params = _rung_params(title, workflow, stage, rung, entered_before, due_before)
    params["ids"] = ids
    cur.execute(
        _claim_sql(rung.action == "escalate", entered_before is not None, due_before is not None),
        params,
    )
    return cur.fetchall()


@lru_cache(maxsize=4)
def _write_sql(escalate: bool) -> str:
    parts = [f"fired AS (SELECT * FROM {row_source(_FIRED, 0, True, 'f')})"]
    if escalate:
        # the stage itself and, at the joint confirmation, each department's open part (the
        # same LIKE pattern as the portable path's ``startswith``)
        # looked up case by case (``ix_stage_visits_open``), then updated by primary key: no
        # join for the planner to turn into a hash of every open visit of the stage
        flagged = render_pg(rung_visits(bindparam("stage"), bindparam("part_prefix"), _OPEN))
        parts.append(
            "flagged AS (UPDATE stage_visits SET is_escalated = true "
            "WHERE stage_visits.id = ANY(ARRAY(SELECT visit.id FROM fired "
            "CROSS JOIN LATERAL (SELECT open_visit.id FROM stage_visits AS open_visit "
            f"WHERE open_visit.case_id = fired.case_id AND {flagged} OFFSET 0) AS visit)))"
        )
    parts.append(
        "events AS (INSERT INTO case_events (case_id, at, actor_id, actor_role, trigger, "
        "from_state, to_state, comment, data) "
        "SELECT case_id, %(now)s, NULL, NULL, %(trigger)s, %(stage)s, %(stage)s, NULL, "
        "data::json FROM fired ORDER BY case_id "
        "RETURNING id, case_id)"
    )
    return (
        f"WITH {', '.join(parts)} "
        "INSERT INTO outbox (event_id, case_id, kind, payload, created_at, attempts) "
        "SELECT events.id, events.case_id, %(trigger)s, fired.payload::json, %(now)s, 0 "
        "FROM events JOIN fired ON fired.case_id = events.case_id ORDER BY events.id"
    )


def write(
    cur,
    *,
    stage: str,
    rung: RungDef,
    claimed: list,
    now: datetime,
    calendar: WorkingCalendar,
) -> None:
    """Flag the stage visits, write the history and outbox rows of the ``claimed`` cases."""
    escalate = rung.action == "escalate"
    params = {
        "now": now,
        "stage": stage,
        "part_prefix": f"{stage}:",
        "trigger": "escalate" if escalate else "remind",
    }
    working_days_late = calendar.working_days_late
    rows = []
    for case_id, due_at in claimed:
        late = working_days_late(due_at, now) if due_at else 0
        rows.append(
            {
                "case_id": case_id,
                "data": json.dumps(rung_data(rung, late)),
                "payload": json.dumps(rung_payload(stage, rung, late)),
            }
        )
    bind_rows(params, _FIRED, rows, True)
    cur.execute(_write_sql(escalate), params)
