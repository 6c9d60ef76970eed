"""Read-only questions about administrative units that other features ask."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import and_, exists, false, or_, select

from htsd_workflow.extensions import db
from htsd_workflow.geography.models import DbkkPeriod, Unit


def units_within(level: str | None, code):
    """SQL: the ``Unit`` row lies in the territory of the unit ``code`` of ``level`` (a
    province, district or commune; the unit itself included). ``code`` may be a bound
    parameter. Nothing for another level.

    The one rule for "the units of a territory": every unit row carries its province's and
    district's codes (a district's own row included), so the territory is one indexed column.
    """
    if level == "province":
        return Unit.province_code == code
    if level == "district":
        return Unit.district_code == code
    if level == "commune":
        return Unit.code == code
    return false()


def unit_is_dbkk_in(year):
    """SQL: the ``Unit`` row is an ĐBKK commune in ``year`` (a number or a bound parameter).

    The one rule for scoring, the queue and the reports: a commune with listed periods is
    ĐBKK in the years they cover; one with no period at all falls back to its flag.
    """
    has_periods = exists().where(DbkkPeriod.unit_code == Unit.code)
    covered = exists().where(
        DbkkPeriod.unit_code == Unit.code,
        DbkkPeriod.from_year <= year,
        or_(DbkkPeriod.to_year.is_(None), DbkkPeriod.to_year >= year),
    )
    return or_(covered, and_(~has_periods, Unit.is_dbkk.is_(True)))


def dbkk_communes(codes: Iterable[str], year: int) -> set[str]:
    """The communes of ``codes`` that are ĐBKK in ``year`` (``unit_is_dbkk_in``)."""
    codes = {c for c in codes if c}
    if not codes:
        return set()
    return set(
        db.session.scalars(select(Unit.code).where(Unit.code.in_(codes), unit_is_dbkk_in(year)))
    )


def is_dbkk_commune(code: str | None, year: int) -> bool:
    """Whether the commune ``code`` is ĐBKK in ``year``."""
    return bool(code) and code in dbkk_communes([code], year)
