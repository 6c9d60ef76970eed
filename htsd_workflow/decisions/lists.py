"""Lists of those recognised per territory and year, and the two yearly counts: recognitions
made in a year (by the decision's year) and titles valid in a year (a community recognised in
2024 for 36 months still counts in 2026)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from htsd_workflow.cases.models import Case
from htsd_workflow.core.collation import collated
from htsd_workflow.decisions.models import Decision, DecisionEntry
from htsd_workflow.decisions.queries import certificate_status, valid_until
from htsd_workflow.extensions import db


def _territory(unit_code: str | None, unit_level: str | None):
    if not unit_code:
        return []
    column = {
        "province": Case.province_code,
        "district": Case.district_code,
        "commune": Case.commune_code,
    }[unit_level]
    return [column == unit_code]


def recognitions(
    scope, year: int, *, title: str | None = None, unit=None, valid_in: bool = False
) -> list[dict]:
    """The entries of issued decisions inside ``scope`` (a WHERE clause on cases): those of
    ``year``'s decisions, or with ``valid_in`` the titles valid at some time in ``year``
    and not revoked."""
    where = [Decision.status == "issued", scope]
    if valid_in:
        where += [Decision.year <= year, Case.state != "revoked"]
    else:
        where.append(Decision.year == year)
    if title:
        where.append(Decision.title == title)
    if unit is not None:
        where += _territory(unit.code, unit.level)
    rows = db.session.execute(
        select(DecisionEntry, Decision, Case.state)
        .join(Decision, Decision.id == DecisionEntry.decision_id)
        .join(Case, Case.id == DecisionEntry.case_id)
        .where(*where)
        .order_by(
            collated(DecisionEntry.commune),
            collated(DecisionEntry.village),
            collated(DecisionEntry.name),
        )
    ).all()
    out = []
    first, last = date(year, 1, 1), date(year, 12, 31)
    for entry, decision, state in rows:
        until = valid_until(decision)
        if valid_in and not (decision.issued_on <= last and until >= first):
            continue
        out.append(
            {
                "name": entry.name,
                "village": entry.village or "",
                "commune": entry.commune or "",
                "title": decision.title,
                "year": decision.year,
                "decision_number": decision.number,
                "decision_date": decision.issued_on,
                "valid_until": until,
                "status": certificate_status(decision, state),
                "case_id": entry.case_id,
            }
        )
    return out


def yearly_counts(scope, year: int, *, title: str | None = None, unit=None) -> dict:
    """{"made": recognitions by decisions of the year, "valid": titles valid in the year}."""
    made = db.session.scalar(
        select(func.count())
        .select_from(DecisionEntry)
        .join(Decision, Decision.id == DecisionEntry.decision_id)
        .join(Case, Case.id == DecisionEntry.case_id)
        .where(
            Decision.status == "issued",
            Decision.year == year,
            scope,
            *([Decision.title == title] if title else []),
            *(_territory(unit.code, unit.level) if unit is not None else []),
        )
    )
    valid = len(recognitions(scope, year, title=title, unit=unit, valid_in=True))
    return {"made": made or 0, "valid": valid}
