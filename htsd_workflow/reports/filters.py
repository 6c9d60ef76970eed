"""The reports' filters (period, title, area) from a request, and the scoping helpers the
figures share: grouping level, unit filter, visits overlapping the period."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, or_, select, union_all

from htsd_workflow.auth.models import User
from htsd_workflow.auth.scope import scope_clause
from htsd_workflow.cases.models import StageVisit
from htsd_workflow.core.collation import collated
from htsd_workflow.core.errors import InvalidInput
from htsd_workflow.core.time import day_start, to_local, utcnow
from htsd_workflow.extensions import db
from htsd_workflow.geography.models import Unit
from htsd_workflow.geography.queries import predecessor_provinces, unit_exists_between
from htsd_workflow.reports.definitions import TITLES


@dataclass
class Filters:
    date_from: date
    date_to: date
    title: str | None = None
    unit: str | None = None
    stage: str | None = None


#: the first and last day a report's period may cover
REPORT_DAYS = (date(2000, 1, 1), date(2100, 12, 31))


def parse_filters(args) -> Filters:
    """Filters from a query string; a clear 422 for bad values."""
    today = to_local(utcnow()).date()
    try:
        date_from = date.fromisoformat(args.get("from") or f"{today.year}-01-01")
        date_to = date.fromisoformat(args.get("to") or today.isoformat())
    except ValueError as exc:
        raise InvalidInput(
            _l("Ngày không hợp lệ (dạng 2026-01-31)."),
            details={"from": _l("YYYY-MM-DD"), "to": _l("YYYY-MM-DD")},
        ) from exc
    # a period reaching the calendar's edges (0001-01-01, 9999-12-31) overflows the day
    # arithmetic; the reports' years are those of the plans, as everywhere else
    for name, day in (("from", date_from), ("to", date_to)):
        if not REPORT_DAYS[0] <= day <= REPORT_DAYS[1]:
            raise InvalidInput(
                _l("Ngày phải trong khoảng năm 2000 đến năm 2100."),
                details={name: _l("Từ 2000-01-01 đến 2100-12-31")},
            )
    if date_to < date_from:
        raise InvalidInput(
            _l("Ngày kết thúc phải sau ngày bắt đầu."), details={"to": _l("Sau ngày bắt đầu")}
        )
    title = args.get("title") or None
    if title and title not in TITLES:
        raise InvalidInput(_l("Danh hiệu không hợp lệ."), details={"title": ", ".join(TITLES)})
    unit = args.get("unit") or None
    if unit:
        known_unit(unit)
    return Filters(date_from, date_to, title, unit, args.get("stage") or None)


def known_unit(code: str) -> Unit:
    """The unit of a report's ``unit`` filter; a clear 422 naming the code if there is none."""
    unit = db.session.get(Unit, code)
    if unit is None:
        raise InvalidInput(
            _l("Không có đơn vị mã “%(code)s”.", code=code[:20]), details={"unit": _l("Mã GSO")}
        )
    return unit


def _start(day: date) -> datetime:
    return day_start(day)


def _group_level(user: User, unit: str | None) -> tuple[str, str | None]:
    """Which unit column the rows count by, and the filter code."""
    if unit:
        level = db.session.get(Unit, unit).level
        return ("commune_code" if level in ("district", "commune") else "district_code"), unit
    if user.unit_level == "province":
        return "district_code", None
    return "commune_code", None


def _unit_filter(model, code):
    return or_(model.province_code == code, model.district_code == code, model.commune_code == code)


def _overlapping(
    columns,
    conditions,
    start: datetime,
    end: datetime,
    *,
    open_only=(),
    left_only=(),
    skip: tuple[datetime, datetime] | None = None,
):
    """The visits overlapping [start, end): open, or left since ``start``; entered before ``end``
    — but for those that left within ``skip`` (counted elsewhere), if given.

    Branches (open visits, visits that left since ``start``) rather than one ``OR``: on
    PostgreSQL each is an index-only scan of a covering index that holds just those visits
    (``ix_stage_visits_open_report``, ``ix_stage_visits_left_report``), instead of a
    sequential scan of every visit ever made; ``skip`` splits the second into the ranges
    either side of it. ``open_only`` and ``left_only`` are more columns, the same labels in
    the same order, that each branch gives its own way.
    """
    left = [StageVisit.left_at >= start]
    if skip:
        left = [and_(StageVisit.left_at >= start, StageVisit.left_at < skip[0])]
        left.append(StageVisit.left_at >= skip[1])
    return union_all(
        select(*columns, *open_only).where(
            *conditions, StageVisit.left_at.is_(None), StageVisit.entered_at < end
        ),
        *(
            select(*columns, *left_only).where(*conditions, since, StageVisit.entered_at < end)
            for since in left
        ),
    ).subquery("visits")


def _unit_names(codes) -> dict[str, str]:
    if not codes:
        return {}
    return dict(db.session.execute(select(Unit.code, Unit.name).where(Unit.code.in_(codes))).all())


def units_of_period(user: User, start: date, end: date) -> tuple[list, list]:
    """(districts, communes) a report of ``start``–``end`` may be filtered by: the units of the
    user's territory, a merged province's included, that existed in the period (old ones before
    a reorganisation, new ones after it, both for a period that spans it)."""
    rows = db.session.execute(
        select(Unit.code, Unit.name, Unit.level, Unit.district_code)
        .where(
            _scope_across_reform(user, Unit),
            Unit.level.in_(("district", "commune")),
            unit_exists_between(start, end),
        )
        .order_by(collated(Unit.name), Unit.code)
    ).all()
    return [u for u in rows if u.level == "district"], [u for u in rows if u.level == "commune"]


def _scope_across_reform(user: User, model, **kw):
    """The user's territory, and for a whole-province viewer the history of the provinces
    merged into theirs (Kon Tum's old units and cases for today's Quảng Ngãi)."""
    clause = scope_clause(user, model, **kw)
    if user.unit_level != "province" or user.role == "applicant":
        return clause
    merged = predecessor_provinces(user.unit_code)
    return or_(clause, model.province_code.in_(merged)) if merged else clause
