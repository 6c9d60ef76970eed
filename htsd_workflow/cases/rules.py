"""The write rules of a case's move, each stated once; every writer renders them.

- ``move_values``: what a move sets on the case row and what it resets (extension,
  escalation rung, claim), when it stamps ``submitted_at`` and ``decided_at``, when it keeps
  ``returned_from``. SQLAlchemy expressions over ``Case``'s columns and the move's values:
  the SQLAlchemy writer runs them as an ``UPDATE``'s values, ``pg_writer`` compiles them for
  PostgreSQL into its statement (``render_set_pg``), and ``writing._case_after`` computes
  them on the locked row in Python (``to_python``) to hand back the case without reading it
  again.
- ``returned_from_after``: which review stage a case remembers it was returned from.
- ``rung_due``: when an escalation rung is due for a case (the portable scan's ``WHERE``, and
  rendered into the PostgreSQL scan's statements); ``rung_visits``, the stage visits it flags
  (likewise); ``rung_data`` and ``rung_payload``, the JSON of its history and outbox rows
  (the PostgreSQL scan binds them, one per case, rather than building JSON in SQL).
- ``close_values`` and ``stray_visit``: what closing a stage visit writes, and which open
  visits of a closing case must not exist (begun at another moment than the case's stay).

The bench's data generator (``bench/data/simulate.py``) imports ``RESET_ON_MOVE``,
``returned_from_after`` and ``CLOSE_BY_PARAMS`` (whether a closed visit was late).
"""

from __future__ import annotations

import operator

from sqlalchemy import and_, bindparam, false, func, literal_column, null, or_, true
from sqlalchemy import case as either
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql import elements, functions
from sqlalchemy.sql.elements import ColumnElement

from htsd_workflow.cases.models import Case, StageVisit

#: what every move resets: a new stage starts with no extension, no escalation and no claim
RESET_ON_MOVE = {
    "is_extended": False,
    "escalation_rung": 0,
    "is_escalated": False,
    "claimed_by_id": None,
    "claimed_at": None,
}


def _sql(value):
    """A constant as SQL the same on every database (no bound parameter)."""
    if isinstance(value, ColumnElement):
        return value
    if value is None:
        return null()
    if value is True:
        return true()
    if value is False:
        return false()
    return literal_column(str(int(value)))


def _choose(condition, then, otherwise):
    """``then`` when ``condition`` holds: decided now for a Python bool, else in SQL."""
    if isinstance(condition, bool):
        return then if condition else otherwise
    return either((condition, then), else_=otherwise)


_CASE = Case.__table__.c
_VISIT = StageVisit.__table__.c


def move_values(*, now, state, is_open, due_at, keep_returned, returned_from, is_final) -> dict:
    """The case columns a move writes, by column name (values: constants or expressions)."""
    return {
        "state": state,
        "is_open": is_open,
        "version": _CASE.version + literal_column("1"),
        "stage_entered_at": now,
        "due_at": due_at,
        **{name: _sql(value) for name, value in RESET_ON_MOVE.items()},
        # the first move out of the draft is the submission
        "submitted_at": func.coalesce(_CASE.submitted_at, now),
        "returned_from": _choose(keep_returned, _CASE.returned_from, returned_from),
        "decided_at": _choose(is_final, now, _CASE.decided_at),
    }


def rung_due(*, title, workflow, stage, rung, entered_before=None, due_before=None) -> list:
    """When an escalation rung is due for a case: open, in ``stage`` of ``title`` running under
    the definition ``workflow`` ("two_tier/family": each set has its own stages and deadlines),
    not yet past ``rung``; entered the stage before ``entered_before`` and due before
    ``due_before`` when those are given (``sla.ladder.rung_thresholds``). Conditions over
    ``cases``, as SQLAlchemy clauses; the PostgreSQL scan renders them with parameters for each
    value."""
    conditions = [
        _CASE.title == title,
        _CASE.workflow == workflow,
        _CASE.state == stage,
        _CASE.is_open,
        _CASE.escalation_rung < rung,
    ]
    if entered_before is not None:
        conditions.append(_CASE.stage_entered_at < entered_before)
    if due_before is not None:
        conditions += [_CASE.due_at.is_not(None), _CASE.due_at < due_before]
    return conditions


def rung_visits(stage, part_prefix, visits=None):
    """The stage visits an escalation flags: the open visit of ``stage`` itself and, at the
    joint confirmation, each department's open part (a stage named ``part_prefix`` and the
    department: ``f"{stage}:"``). Over ``visits`` (``stage_visits`` or an alias of it)."""
    column = (visits if visits is not None else StageVisit.__table__).c
    return and_(
        column.left_at.is_(None), or_(column.stage == stage, column.stage.startswith(part_prefix))
    )


def rung_data(rung, late: int) -> dict:
    """The history row's ``data`` of a fired rung, ``late`` working days after the due moment."""
    return {"rung": rung.rung, "working_days_late": late}


def rung_payload(stage: str, rung, late: int) -> dict:
    """The outbox row's ``payload`` of a fired rung."""
    return {
        "stage": stage,
        "rung": rung.rung,
        "notify": list(rung.notify),
        "working_days_late": late,
    }


def returned_from_after(source_kind: str, dest_kind: str, from_state: str):
    """(keep the case's ``returned_from``, else its new value) after a move between stages of
    these kinds: a review stage returning to the applicant is remembered until the case is
    next under review."""
    if dest_kind == "applicant" and source_kind == "review":
        return False, from_state
    if dest_kind == "review":
        return False, None
    return True, None


def close_values(*, now, outcome, working_days) -> dict:
    """The stage-visit columns closing a visit writes: late when its due moment has passed."""
    return {
        "left_at": now,
        "outcome": outcome,
        "working_days": working_days,
        "is_late": func.coalesce(_VISIT.due_at < now, false()),
    }


def stray_visit(stay_began):
    """An open visit that began at another moment than its case's stay (must be none)."""
    return and_(_VISIT.left_at.is_(None), _VISIT.entered_at != stay_began)


#: PostgreSQL with psycopg's parameter style (``%(name)s``); binds are not cast, as in the
#: statements written by hand around the rendered parts
_PG = postgresql.dialect(paramstyle="pyformat")


def render_pg(value) -> str:
    """``value`` as PostgreSQL text for a psycopg statement: ``bindparam("now")`` becomes
    ``%(now)s``; ``literal_column("u.x")`` stays as written."""
    return str(_sql(value).compile(dialect=_PG))


def render_set_pg(values: dict) -> str:
    """A ``SET`` list from ``{column: value}``."""
    return ", ".join(f"{name} = {render_pg(value)}" for name, value in values.items())


_COMPARISONS = (operator.lt, operator.le, operator.gt, operator.ge, operator.eq, operator.ne)


def to_python(value):
    """``value`` as a Python function of ``(row, params)``: columns read from ``row``,
    ``bindparam``s from ``params`` (only the forms the rules use: constants, columns, +,
    comparisons, coalesce, CASE). Built once, so a hot path pays no SQLAlchemy per call."""
    if not isinstance(value, ColumnElement):
        return lambda row, params: value
    if isinstance(value, elements.BindParameter):  # a named one, or a constant SQLAlchemy bound
        key, constant = value.key, value.value
        return lambda row, params: params.get(key, constant)
    if isinstance(value, elements.Null):
        return lambda row, params: None
    if isinstance(value, elements.True_ | elements.False_):
        constant = isinstance(value, elements.True_)
        return lambda row, params: constant
    if isinstance(value, elements.ColumnClause) and value.is_literal:
        constant = int(value.name)
        return lambda row, params: constant
    if isinstance(value, elements.ColumnClause):
        name = value.name
        return lambda row, params: row[name]
    if isinstance(value, elements.BinaryExpression) and value.operator is operator.add:
        left, right = to_python(value.left), to_python(value.right)
        return lambda row, params: left(row, params) + right(row, params)
    if isinstance(value, elements.BinaryExpression) and value.operator in _COMPARISONS:
        left, right, compare = to_python(value.left), to_python(value.right), value.operator

        def comparison(row, params):
            a, b = left(row, params), right(row, params)
            return None if a is None or b is None else compare(a, b)  # SQL's NULL

        return comparison
    if isinstance(value, functions.coalesce):
        clauses = [to_python(clause) for clause in value.clauses]

        def coalesce(row, params):
            for clause in clauses:
                found = clause(row, params)
                if found is not None:
                    return found
            return None

        return coalesce
    if isinstance(value, elements.Case):
        whens = [(to_python(when), to_python(then)) for when, then in value.whens]
        otherwise = to_python(value.else_)

        def either_(row, params):
            for when, then in whens:
                if when(row, params):
                    return then(row, params)
            return otherwise(row, params)

        return either_
    raise TypeError(f"no Python form for {value!r}")  # pragma: no cover - a new form: add it


#: the moment of the write, as the statements name it
NOW = bindparam("now")

#: a move's values with the move's own fields as parameters (``Writes.moves``' keys and
#: ``now``): what ``to_python`` turns into the Python form
MOVE_BY_PARAMS = move_values(
    now=NOW,
    state=bindparam("to_state"),
    is_open=bindparam("is_open"),
    due_at=bindparam("due_at"),
    keep_returned=bindparam("keep_returned"),
    returned_from=bindparam("returned_from"),
    is_final=bindparam("is_final"),
)

#: closing a visit with the close's own fields as parameters (``now``, ``outcome``,
#: ``working_days``) over the visit's columns (``due_at``): what the bench's data generator
#: evaluates with ``to_python``
CLOSE_BY_PARAMS = close_values(
    now=NOW, outcome=bindparam("outcome"), working_days=bindparam("working_days")
)
