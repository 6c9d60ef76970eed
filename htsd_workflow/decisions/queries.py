"""Read models: a decision's facts, a certificate's facts, what a verification shows."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace

from dateutil.relativedelta import relativedelta
from sqlalchemy import String, bindparam, select
from sqlalchemy.dialects import postgresql

from htsd_workflow.cases.models import Case
from htsd_workflow.core import pg
from htsd_workflow.core.time import to_local, utcnow
from htsd_workflow.decisions.models import Decision, DecisionEntry
from htsd_workflow.decisions.operations import format_code, normalise_code
from htsd_workflow.extensions import db

VERIFY_STATUSES = ("valid", "expired", "revoked")


def valid_until(decision: Decision) -> date | None:
    """The last day the title is valid: the decision's date plus the title's months."""
    if decision.issued_on is None:
        return None
    return decision.issued_on + relativedelta(months=decision.valid_months) - relativedelta(days=1)


def today() -> date:
    return to_local(utcnow()).date()


def certificate_status(decision: Decision, case_state: str, on: date | None = None) -> str:
    if case_state == "revoked":
        return "revoked"
    until = valid_until(decision)
    if until is not None and (on or today()) > until:
        return "expired"
    return "valid"


def entry_of_case(case_id: int) -> DecisionEntry | None:
    """The case's place in an issued decision (None while no decision is issued)."""
    return db.session.scalar(
        select(DecisionEntry)
        .join(Decision, Decision.id == DecisionEntry.decision_id)
        .where(DecisionEntry.case_id == case_id, Decision.status == "issued")
    )


#: a verification's one indexed look-up (``decision_entries.code`` is unique), columns only, made
#: once: the public page is the app's busiest and answers from this alone
_VERIFY = (
    select(
        DecisionEntry.code,
        DecisionEntry.name,
        DecisionEntry.commune,
        Decision.title,
        Decision.year,
        Decision.number,
        Decision.issued_on,
        Decision.valid_months,
        Case.state,
    )
    .join(Decision, Decision.id == DecisionEntry.decision_id)
    .join(Case, Case.id == DecisionEntry.case_id)
    .where(DecisionEntry.code == bindparam("code", type_=String), Decision.status == "issued")
)


#: the same statement as psycopg text, rendered once, for PostgreSQL's own path
_VERIFY_PG = _VERIFY.compile(dialect=postgresql.dialect(paramstyle="pyformat"))
_VERIFY_PG_SQL, _VERIFY_PG_PARAMS = str(_VERIFY_PG), dict(_VERIFY_PG.params)


def _verification_row(code: str) -> tuple | None:
    """The certificate's row, by one statement on a connection of its own in autocommit (no
    BEGIN and ROLLBACK round trips; the public page reads nothing else); on PostgreSQL through
    psycopg's cursor, without SQLAlchemy's execution."""
    with pg.autocommit_cursor() as cur:
        if cur is not None:
            cur.execute(_VERIFY_PG_SQL, {**_VERIFY_PG_PARAMS, "code": code})
            return cur.fetchone()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        return connection.execute(_VERIFY, {"code": code}).first()


def verification(typed_code: str | None) -> dict | None:
    """What anyone may learn from a certificate's code: None for a code that is not the code
    of an issued certificate, malformed or unknown alike (no way to tell them apart)."""
    code = normalise_code(typed_code)
    if code is None:
        return None
    row = _verification_row(code)
    if row is None:
        return None
    stored, name, commune, title, year, number, issued_on, valid_months, state = row
    decision = SimpleNamespace(issued_on=issued_on, valid_months=valid_months)
    return {
        "code": format_code(stored),
        "title": title,
        "name": name,
        "commune": commune,
        "year": year,
        "decision_number": number,
        "decision_date": issued_on,
        "valid_until": valid_until(decision),
        "status": certificate_status(decision, state),
    }


def decision_summary(decision: Decision, *, count: int | None = None) -> dict:
    return {
        "id": decision.id,
        "title": decision.title,
        "year": decision.year,
        "level": decision.level,
        "unit_code": decision.unit_code,
        "status": decision.status,
        "body_name": decision.body_name,
        "signer_title": decision.signer_title,
        "number": decision.number,
        "date": decision.issued_on,
        "signer_name": decision.signer_name,
        "valid_until": valid_until(decision),
        "is_signed": bool(decision.is_signed) if decision.is_issued else False,
        "count": count if count is not None else len(decision.entries),
    }


def decision_detail(decision: Decision) -> dict:
    summary = decision_summary(decision)
    summary["bases"] = decision.bases_list
    summary["cases"] = [
        {
            "position": e.position,
            "case_id": e.case_id,
            "name": e.name,
            "village": e.village,
            "commune": e.commune,
        }
        for e in decision.entries
    ]
    return summary
