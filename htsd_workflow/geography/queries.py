"""Read-only questions about administrative units that other features ask."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from functools import cache

from sqlalchemy import and_, bindparam, exists, false, func, or_, select

from htsd_workflow.extensions import db
from htsd_workflow.geography.models import DbkkPeriod, Unit, UnitSuccession


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


@cache
def _dbkk_statement():
    """``dbkk_communes``' statement, built once (the queue asks it on every page)."""
    return select(Unit.code).where(
        Unit.code.in_(bindparam("codes", expanding=True)), unit_is_dbkk_in(bindparam("year"))
    )


def dbkk_communes(codes: Iterable[str], year: int) -> set[str]:
    """The communes of ``codes`` that are ĐBKK in ``year`` (``unit_is_dbkk_in``)."""
    codes = {c for c in codes if c}
    if not codes:
        return set()
    return set(db.session.scalars(_dbkk_statement(), {"codes": sorted(codes), "year": year}))


def is_dbkk_commune(code: str | None, year: int) -> bool:
    """Whether the commune ``code`` is ĐBKK in ``year``."""
    return bool(code) and code in dbkk_communes([code], year)


def unit_exists_between(start: date, end: date):
    """SQL: the ``Unit`` row existed on some day from ``start`` to ``end`` (a unit of unknown
    period counts as always there)."""
    return and_(
        or_(Unit.valid_from.is_(None), Unit.valid_from <= end),
        or_(Unit.valid_to.is_(None), Unit.valid_to >= start),
    )


def reform_within(units, start: date, end: date) -> date | None:
    """The first day of a reorganisation inside ``start``–``end`` (some of ``units`` end in the
    period and others begin in it), else None: a report of that period shows both."""
    began = [u.valid_from for u in units if u.valid_from and start < u.valid_from <= end]
    ended = [u.valid_to for u in units if u.valid_to and start <= u.valid_to < end]
    return min(began) if began and ended else None


def predecessor_provinces(code: str) -> list[str]:
    """Provinces merged into province ``code`` (Kon Tum "62" for today's Quảng Ngãi "51")."""
    return list(
        db.session.scalars(
            select(UnitSuccession.predecessor_code)
            .join(Unit, Unit.code == UnitSuccession.predecessor_code)
            .where(UnitSuccession.successor_code == code, Unit.level == "province")
        )
    )


def reform_day_between(start: date, end: date) -> date | None:
    """The first day of a reorganisation inside ``start``–``end`` among the units held (units
    ending in the period and others beginning in it), else None."""
    began = db.session.scalar(
        select(func.min(Unit.valid_from)).where(Unit.valid_from > start, Unit.valid_from <= end)
    )
    if began is None:
        return None
    ended = db.session.scalar(
        select(func.count()).where(Unit.valid_to >= start, Unit.valid_to < end)
    )
    return began if ended else None
