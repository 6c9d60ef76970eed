"""Read models: a decision's facts, a certificate's facts, what a verification shows."""

from __future__ import annotations

from datetime import date

from dateutil.relativedelta import relativedelta
from sqlalchemy import select

from htsd_workflow.cases.models import Case
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


def verification(typed_code: str | None) -> dict | None:
    """What anyone may learn from a certificate's code: None for a code that is not the code
    of an issued certificate, malformed or unknown alike (no way to tell them apart)."""
    code = normalise_code(typed_code)
    if code is None:
        return None
    row = db.session.execute(
        select(DecisionEntry, Decision, Case.state)
        .join(Decision, Decision.id == DecisionEntry.decision_id)
        .join(Case, Case.id == DecisionEntry.case_id)
        .where(DecisionEntry.code == code, Decision.status == "issued")
    ).first()
    if row is None:
        return None
    entry, decision, state = row
    until = valid_until(decision)
    return {
        "code": format_code(entry.code),
        "title": decision.title,
        "name": entry.name,
        "commune": entry.commune,
        "year": decision.year,
        "decision_number": decision.number,
        "decision_date": decision.issued_on,
        "valid_until": until,
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
