"""The managers' figures, computed in SQL over stage visits and cases, scoped to the viewer.

Definitions (shown beside the figures):
- waiting: cases in the stage now; arrived / completed: stage entered / left in the period;
- overdue: waiting past the stage's due moment; escalated: waiting or completed-in-period visits
  that the ladder escalated; returned: completed in the period by a return;
- median / p90 days: working days spent by the visits completed in the period;
- one-stop-shop statistics: to handle = arrived in the period + carried over (entered before
  it, still open at its start); late rate = (late in progress + late done) / to handle; on-time
  rate = 100 % − late rate (early counts as on time).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import DateTime, Integer, and_, case, cast, func, literal, or_, select, union_all

from htsd_workflow.auth.models import User
from htsd_workflow.auth.scope import scope_clause, territory
from htsd_workflow.cases.engine import get_registry
from htsd_workflow.cases.models import Case, StageVisit
from htsd_workflow.core.calendar import get_calendar
from htsd_workflow.core.errors import InvalidInput, rendered
from htsd_workflow.core.labels import direct_row_name
from htsd_workflow.core.time import day_start, to_local, utcnow
from htsd_workflow.extensions import db
from htsd_workflow.geography.models import Unit
from htsd_workflow.geography.queries import (
    dbkk_communes,
    predecessor_provinces,
    reform_day_between,
    reform_within,
    unit_exists_between,
)
from htsd_workflow.reports.models import Denominator, MonthlyVisitFigures
from htsd_workflow.reports.months import closed_span
from htsd_workflow.reports.plans import plan_for

TITLES = ("family", "clan", "community", "unit")

BOTTLENECK_DEFINITIONS = {
    "waiting": _l("Hồ sơ đang ở bước này lúc xem báo cáo"),
    "arrived": _l("Hồ sơ đến bước này trong kỳ (mỗi lần đến tính một lần, kể cả khi gửi lại)"),
    "completed": _l("Hồ sơ rời bước này trong kỳ (chuyển tiếp, ký, trả lại, không công nhận, rút)"),
    "overdue": _l("Hồ sơ đang chờ đã quá hạn của bước (đang giải quyết quá hạn)"),
    "escalated": _l(
        "Hồ sơ đang chờ hoặc rời bước trong kỳ mà đã bị báo cáo cấp trên khi ở bước "
        "này (với phần ký của từng Sở: khi Sở đó chưa ký)"
    ),
    "returned": _l("Hồ sơ rời bước trong kỳ vì bị trả lại (cho người nộp hoặc cho cấp dưới)"),
    "median_days": _l("Trung vị số ngày làm việc ở bước, của hồ sơ rời bước trong kỳ"),
    "p90_days": _l("90% hồ sơ rời bước trong kỳ nằm ở bước không quá số ngày làm việc này"),
    "to_handle": _l(
        "Phải giải quyết = nhận trong kỳ + kỳ trước chuyển sang (đến trước kỳ, chưa "
        "rời bước lúc đầu kỳ)"
    ),
    "nearly_late": _l("Đang giải quyết, chưa quá hạn, hạn trong 2 ngày làm việc tới"),
    "not_yet_due": _l("Đang giải quyết, hạn còn hơn 2 ngày làm việc"),
    "withdrawn": _l("Hồ sơ rời bước trong kỳ vì người nộp rút hồ sơ"),
    "late_done": _l(
        "Đã giải quyết trễ: rời bước trong kỳ sau hạn bằng một quyết định (chuyển "
        "tiếp, ký, không công nhận); hồ sơ trả lại và rút tính riêng"
    ),
    "on_time_done": _l(
        "Đã giải quyết đúng hạn: rời bước trong kỳ đúng hoặc trước hạn bằng một "
        "quyết định (trước hạn tính là đúng hạn); hồ sơ trả lại và rút tính riêng"
    ),
    "late_rate": _l(
        "Tỷ lệ trễ hạn = (đang giải quyết quá hạn + đã giải quyết quá hạn) / " "phải giải quyết"
    ),
    "on_time_rate": _l("Tỷ lệ đúng hạn = 100% − tỷ lệ trễ hạn (trước hạn tính là đúng hạn)"),
}
_TARGET_COMMON = {
    "denominator": _l(
        "Tổng số hộ/dòng họ/cộng đồng/đơn vị của địa bàn trong năm, do xã, huyện "
        "nhập; cơ quan, đơn vị do huyện, tỉnh trực tiếp quản lý nhập ở dòng của huyện, tỉnh; "
        "huyện, tỉnh: tổng của các dòng đã có số; thiếu thì để trống, không tính là 0%"
    ),
    "registered": _l("Số đối tượng (không trùng) có hồ sơ danh hiệu của năm đã gửi và không rút"),
    "recognized": _l("Số đối tượng có hồ sơ danh hiệu của năm đã được công nhận"),
    "percent": _l(
        "Tỷ lệ = được công nhận / tổng số; huyện, tỉnh: chỉ tính các xã và dòng trực "
        "thuộc đã có tổng số"
    ),
}
TARGET_DEFINITIONS = {
    **_TARGET_COMMON,
    "target": _l(
        "Chỉ tiêu cuối kỳ (%) của kế hoạch áp dụng; xã ĐBKK theo chỉ tiêu riêng của năm; "
        "huyện, tỉnh: bình quân gia quyền theo tổng số của các xã và dòng trực thuộc"
    ),
    "gap": _l("Còn thiếu = chỉ tiêu − tỷ lệ (điểm phần trăm; âm là vượt)"),
    "gap_count": _l(
        "Số đối tượng (hộ, dòng họ, cộng đồng, đơn vị) cần được công nhận thêm để đạt chỉ tiêu"
    ),
    "path": _l(
        "Lộ trình của năm: chỉ tiêu là của cuối kỳ kế hoạch; giữa kỳ, giá trị trên đường thẳng "
        "từ tỷ lệ đầu kỳ (tỷ lệ được công nhận năm trước kỳ, nếu không có thì số đầu kỳ kế "
        "hoạch nêu) đến chỉ tiêu cuối kỳ; năm cuối kỳ và sau đó bằng chỉ tiêu"
    ),
    "on_track": _l(
        "Đạt khi tỷ lệ ≥ lộ trình của năm; chưa có tỷ lệ đầu kỳ thì so với chỉ tiêu cuối kỳ"
    ),
}
COUNT_TARGET_DEFINITIONS = {
    **_TARGET_COMMON,
    "target": _l(
        "Kế hoạch thí điểm giao số lượng, không phải %: mỗi huyện thí điểm 2 đơn vị, "
        "2 cộng đồng (ở 1 xã thí điểm), 1 dòng họ, 20 gia đình; tỉnh: số đó nhân số huyện thí "
        "điểm; xã và huyện không thí điểm không có chỉ tiêu"
    ),
    "gap": _l("Còn thiếu = chỉ tiêu − số được công nhận ở các huyện thí điểm (số lượng)"),
    "on_track": _l("Đạt khi số được công nhận ≥ chỉ tiêu"),
}


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


def _settings_for_aggregates() -> None:
    """For the rest of this transaction (PostgreSQL): no JIT compilation — compiling the
    report's expressions costs more than it saves on these scans — and the memory to hash its
    groups (the planner cannot tell how few (stage, unit, days) groups there are and would
    otherwise sort every visit on disk)."""
    if db.engine.dialect.name == "postgresql":
        db.session.execute(
            select(func.set_config("jit", "off", True), func.set_config("work_mem", "32MB", True))
        )


def bottleneck_visits(user: User, filters: Filters, *, skip_months=None):
    """The bottleneck report's rows to count: the visits in ``user``'s scope and the filters
    that overlap the period, each with the unit it is counted under; and that unit's column.
    ``skip_months`` (first month, month after the last): leave out the visits that left in
    those months (the report reads them from their monthly cells).

    Each branch (open visits; visits that left since the period's start) also says what it
    knows of its rows — open or not, completed in the period or not, arrived in it or carried
    over — so that the report tests each once per visit, not in every count.
    """
    start, end = _start(filters.date_from), _start(filters.date_to + timedelta(days=1))
    column_name, code = _group_level(user, filters.unit)
    conditions = [_scope_across_reform(user, StageVisit, subject_column=StageVisit.case_id)]
    if code:
        conditions.append(_unit_filter(StageVisit, code))
    if filters.title:
        conditions.append(StageVisit.title == filters.title)
    if filters.stage:
        conditions.append(StageVisit.stage == filters.stage)
    columns = [
        StageVisit.stage,
        getattr(StageVisit, column_name).label("unit_code"),
        StageVisit.due_at,
        StageVisit.outcome,
        StageVisit.working_days,
        StageVisit.is_late,
        StageVisit.is_escalated,
        # every row entered before the period's end (both branches say so): it arrived in
        # the period, or was carried over into it
        (StageVisit.entered_at >= start).label("arrived"),
    ]
    visits = _overlapping(
        columns,
        conditions,
        start,
        end,
        open_only=(literal(True).label("open_now"), literal(False).label("completed")),
        left_only=(literal(False).label("open_now"), (StageVisit.left_at < end).label("completed")),
        skip=skip_months and (_start(skip_months[0]), _start(skip_months[1])),
    )
    return column_name, visits


def _closed_month_groups(user: User, filters: Filters, months):
    """The groups of ``bottlenecks`` by district, with the same columns, from the monthly
    cells of the visits that left in ``months`` — all completed in the period and to handle
    in it, none waiting. The histogram comes from the ``days`` cells (the groups with days),
    the counts from the ``outcome`` cells; "arrived" leaves out the ``entry`` cells of visits
    that entered before the period (a negative count, summed with the rest)."""
    m = MonthlyVisitFigures

    def total(kind, *conditions):
        return func.coalesce(func.sum(m.visits).filter(m.kind == kind, *conditions), 0)

    none = literal(0)
    counted = total("outcome")
    decided = m.outcome.not_in((*get_registry().return_triggers, "withdraw"))
    conditions = [_scope_across_reform(user, m), m.month >= months[0], m.month < months[1]]
    if filters.unit:
        conditions.append(m.province_code == filters.unit)
    if filters.title:
        conditions.append(m.title == filters.title)
    if filters.stage:
        conditions.append(m.stage == filters.stage)
    return (
        select(
            m.stage,
            m.district_code.label("unit_code"),
            m.working_days.label("days"),
            total("days").label("visits"),
            none.label("waiting"),
            (counted - total("entry", m.entered_on < filters.date_from)).label("arrived"),
            counted.label("completed"),
            none.label("overdue"),
            total("outcome", m.is_escalated).label("escalated"),
            total("outcome", m.outcome.in_(get_registry().return_triggers)).label("returned"),
            counted.label("to_handle"),
            none.label("nearly_late"),
            none.label("not_yet_due"),
            total("outcome", m.outcome == "withdraw").label("withdrawn"),
            total("outcome", decided, m.is_late.is_(True)).label("late_done"),
            total("outcome", decided, m.is_late.is_not(True)).label("on_time_done"),
        )
        .where(*conditions)
        .group_by(m.stage, m.district_code, m.working_days)
    )


def bottlenecks(user: User, filters: Filters, *, now: datetime | None = None) -> dict:
    """Rows per stage and unit with waiting, flow, time in stage and deadline statistics.

    One grouped scan of the visits overlapping the period: the counts per (stage, unit), split
    by the working days of the visits completed in the period, so that the median and the 90th
    percentile come from those per-value counts (exactly as ``percentile_cont`` over the
    visits would give them) without a second scan and a sort of every completed visit. The
    visits that left in closed months wholly inside the period are read from their monthly
    cells instead (``reports.months``), in the same statement and with the same columns.
    """
    now = now or utcnow()
    soon = get_calendar().due_at(now, 2)
    # the cells are by district: for the rows of a province, and only its staff's
    by_district = _group_level(user, filters.unit)[0] == "district_code"
    months = None
    if by_district and territory(user)[0] == "province_code":
        months = closed_span(filters)
    column_name, visits = bottleneck_visits(user, filters, skip_months=months)
    v = visits.c
    open_now, arrived, completed = v.open_now, v.arrived, v.completed
    late_open = and_(open_now, v.due_at < now)
    # done (late or on time): left in the period by a decision; returns and withdrawals are
    # counted on their own, as the one-stop-shop statistics do
    decided = and_(completed, v.outcome.not_in((*get_registry().return_triggers, "withdraw")))
    # the working days of a visit completed in the period (the percentiles' values), else NULL
    days = case((and_(completed, v.working_days.is_not(None)), v.working_days)).label("days")

    def count(condition):
        # ``count(*) FILTER (WHERE …)``: no CASE and no sum per visit
        return func.count().filter(condition)

    counted = (
        "waiting",
        "arrived",
        "completed",
        "overdue",
        "escalated",
        "returned",
        "to_handle",
        "nearly_late",
        "not_yet_due",
        "withdrawn",
        "late_done",
        "on_time_done",
    )
    _settings_for_aggregates()
    groups = select(
        v.stage,
        v.unit_code,
        days,
        func.count().label("visits"),
        count(open_now).label("waiting"),
        count(arrived).label("arrived"),
        count(completed).label("completed"),
        count(late_open).label("overdue"),
        count(and_(v.is_escalated, or_(open_now, completed))).label("escalated"),
        count(and_(completed, v.outcome.in_(get_registry().return_triggers))).label("returned"),
        # every visit read: arrived in the period or carried over into it
        func.count().label("to_handle"),
        count(and_(open_now, v.due_at >= now, v.due_at <= soon)).label("nearly_late"),
        count(and_(open_now, or_(v.due_at > soon, v.due_at.is_(None)))).label("not_yet_due"),
        count(and_(completed, v.outcome == "withdraw")).label("withdrawn"),
        count(and_(decided, v.is_late.is_(True))).label("late_done"),
        count(and_(decided, v.is_late.is_not(True))).label("on_time_done"),
    ).group_by(v.stage, v.unit_code, days)
    if months:
        groups = union_all(groups, _closed_month_groups(user, filters, months))
    groups = db.session.execute(
        groups.order_by(*(groups.selected_columns[i] for i in (0, 1)))
    ).all()
    # the (stage, unit) rows in the database's order, their counts summed over the day values
    # (a row is stage, unit_code, days, visits, then the counts in ``counted``'s order)
    sums: dict[tuple, list[int]] = {}
    spells: dict[tuple, list] = defaultdict(list)
    for g in groups:
        key = (g[0], g[1])
        row = sums.get(key)
        if row is None:
            row = sums[key] = [0] * len(counted)
        for i, value in enumerate(g[4:]):
            row[i] += value
        if g[2] is not None:
            spells[key].append((g[2], g[3]))
    totals = {key: dict(zip(counted, row, strict=True)) for key, row in sums.items()}
    # subjects a district or the province manages itself have no unit at the rows' level:
    # their rows are named after the area that manages them
    direct = filters.unit or user.unit_code
    names = _unit_names({unit for _stage, unit in totals if unit} | {direct})
    direct_name = direct_row_name(names.get(direct, direct or ""))
    out = []
    for (stage, unit), r in totals.items():
        median = p90 = None
        if spells[(stage, unit)]:
            median = percentile_of_counts(spells[(stage, unit)], 0.5)
            p90 = percentile_of_counts(spells[(stage, unit)], 0.9)
        late = r["overdue"] + r["late_done"]
        to_handle = r["to_handle"]
        late_rate = late / to_handle if to_handle else None
        out.append(
            {
                "stage": stage,
                "unit_code": unit or "",
                "unit_name": names.get(unit, unit) if unit else direct_name,
                "waiting": r["waiting"],
                "arrived": r["arrived"],
                "completed": r["completed"],
                "overdue": r["overdue"],
                "escalated": r["escalated"],
                "returned": r["returned"],
                "median_days": median,
                "p90_days": p90,
                "to_handle": to_handle,
                "late_in_progress": r["overdue"],
                "nearly_late": r["nearly_late"],
                "not_yet_due": r["not_yet_due"],
                "withdrawn": r["withdrawn"],
                "late_done": r["late_done"],
                "on_time_done": r["on_time_done"],
                "late_rate": round(late_rate, 4) if late_rate is not None else None,
                "on_time_rate": round(1 - late_rate, 4) if late_rate is not None else None,
            }
        )
    return {
        "rows": out,
        "definitions": rendered(BOTTLENECK_DEFINITIONS),
        "period": {"from": filters.date_from.isoformat(), "to": filters.date_to.isoformat()},
        "group_by": column_name.replace("_code", ""),
        # a period that spans a reorganisation shows old units' rows and new ones'
        "reform_day": _reform_day(filters.date_from, filters.date_to),
    }


def _reform_day(start: date, end: date) -> str | None:
    day = reform_day_between(start, end)
    return day.isoformat() if day else None


def percentile(values: list[float], fraction: float) -> float:
    """Linear interpolation between closest ranks, as PostgreSQL's percentile_cont."""
    return percentile_of_counts(Counter(values).items(), fraction)


def percentile_of_counts(counts, fraction: float) -> float:
    """``percentile`` of the values given as (value, how many times) pairs, in any order.

    The same arithmetic as PostgreSQL's ``percentile_cont`` (lo + fraction × (hi − lo) between
    the ranks either side of ``fraction × (n − 1)``), so the figures are identical.
    """
    ordered = sorted(counts)
    total = sum(n for _value, n in ordered)
    position = fraction * (total - 1)
    low = int(position)
    high = min(low + 1, total - 1)

    def at(rank):
        seen = 0
        for value, n in ordered:
            seen += n
            if rank < seen:
                return value
        raise IndexError(rank)

    low_value, high_value = at(low), at(high)
    return float(low_value + (high_value - low_value) * (position - low))


def _unit_names(codes) -> dict[str, str]:
    if not codes:
        return {}
    return dict(db.session.execute(select(Unit.code, Unit.name).where(Unit.code.in_(codes))).all())


def longest_waiting(user: User, filters: Filters, limit: int = 10) -> list:
    conditions = [
        _scope_across_reform(user, Case),
        Case.is_open.is_(True),
        Case.due_at.is_not(None),
    ]
    if filters.unit:
        conditions.append(_unit_filter(Case, filters.unit))
    if filters.title:
        conditions.append(Case.title == filters.title)
    return db.session.scalars(
        select(Case).where(*conditions).order_by(Case.stage_entered_at).limit(limit)
    ).all()


def _week_index(column, start: datetime):
    """Which week (0, 1, …) after ``start`` a moment falls in, in SQL (moments ≥ start)."""
    if db.engine.dialect.name == "postgresql":
        # date_part is a double (extract's numeric division costs twice as much per visit);
        # exact here: whole seconds on a week's boundary divide exactly
        seconds = func.date_part("epoch", column - literal(start, DateTime))
        return cast(func.floor(seconds / 604800), Integer)
    return cast(
        (func.julianday(column) - func.julianday(literal(start.isoformat(sep=" ")))) / 7,
        Integer,
    )


def weekly_trend(user: User, filters: Filters) -> list[dict]:
    """Per week of the period: arrivals, completions, and the overdue backlog at week's end.

    One grouped scan of the visits overlapping the weeks, however many weeks: the backlog at a
    week's end is the backlog at the period's start plus the visits that fell overdue since,
    minus those that left while overdue (a running sum over per-week counts). Each visit is
    counted by the weeks it arrived, left and fell overdue in; the groups are summed here.
    """
    conditions = [
        _scope_across_reform(user, StageVisit, subject_column=StageVisit.case_id),
        ~StageVisit.stage.contains(":"),
    ]
    if filters.unit:
        conditions.append(_unit_filter(StageVisit, filters.unit))
    if filters.title:
        conditions.append(StageVisit.title == filters.title)
    first = filters.date_from - timedelta(days=filters.date_from.weekday())
    days = []
    day = first
    while day <= filters.date_to and len(days) < 60:
        days.append(day)
        day += timedelta(days=7)
    start, end = _start(first), _start(days[-1] + timedelta(days=7))
    # every visit counted below overlaps the weeks: it arrives, leaves or is overdue in them
    visits = _overlapping(
        [StageVisit.entered_at, StageVisit.left_at, StageVisit.due_at], conditions, start, end
    )
    v = visits.c
    # a visit is overdue from the later of its due moment and its arrival until it leaves
    overdue_from = case((v.entered_at > v.due_at, v.entered_at), else_=v.due_at)
    ever_overdue = and_(v.due_at.is_not(None), or_(v.left_at.is_(None), v.left_at > overdue_from))

    def week_of(column, *where):
        """The week ``column`` falls in when in the weeks (and ``where`` holds), else NULL."""
        return case((and_(*where, column >= start, column < end), _week_index(column, start)))

    keys = (
        week_of(v.entered_at).label("arrived"),
        week_of(v.left_at).label("completed"),
        week_of(overdue_from, ever_overdue).label("fell_overdue"),
        case((ever_overdue, 1), else_=0).label("overdue"),
        case((and_(ever_overdue, overdue_from < start), 1), else_=0).label("backlog"),
    )
    arrived, completed = defaultdict(int), defaultdict(int)
    fell_overdue, left_overdue = defaultdict(int), defaultdict(int)
    backlog = 0
    _settings_for_aggregates()
    for g in db.session.execute(select(*keys, func.count().label("visits")).group_by(*keys)):
        if g.arrived is not None:
            arrived[g.arrived] += g.visits
        if g.completed is not None:
            completed[g.completed] += g.visits
            if g.overdue:
                left_overdue[g.completed] += g.visits
        if g.fell_overdue is not None:
            fell_overdue[g.fell_overdue] += g.visits
        if g.backlog:
            backlog += g.visits
    weeks = []
    # a week that runs past today or past the period counts fewer days: the chart marks it
    last_full_day = min(filters.date_to, to_local(utcnow()).date())
    for index, week in enumerate(days):
        backlog += fell_overdue[index] - left_overdue[index]
        weeks.append(
            {
                "week": week.isoformat(),
                "arrived": arrived[index],
                "completed": completed[index],
                "overdue_backlog": backlog,
                "is_partial": week + timedelta(days=6) > last_full_day,
            }
        )
    return weeks


# --- targets ------------------------------------------------------------------------------


def plans():
    """The plans in force, loaded and validated at start-up (``create_app``)."""
    return current_app.extensions["htsd_plans"]


def _province_of(user: User) -> str:
    if user.unit_level == "province":
        return user.unit_code
    return db.session.get(Unit, user.unit_code).province_code


def _scope_across_reform(user: User, model, **kw):
    """The user's territory, and for a whole-province viewer the history of the provinces
    merged into theirs (Kon Tum's old units and cases for today's Quảng Ngãi)."""
    clause = scope_clause(user, model, **kw)
    if user.unit_level != "province" or user.role == "applicant":
        return clause
    merged = predecessor_provinces(user.unit_code)
    return or_(clause, model.province_code.in_(merged)) if merged else clause


def targets(
    user: User,
    *,
    year: int,
    title: str | None = None,
    unit: str | None = None,
    with_path: bool = True,
) -> dict:
    """Per commune and district of the viewer's territory (and a province total).

    Subjects managed by a district or the province themselves (units such as a district's
    education office) have no commune: they are counted on a "direct" row of that district or
    of the province, against a denominator entered for that level, and in its totals.
    With a count plan (the 2015 pilot) each pilot district's recognised count is compared with
    the plan's count; communes have no count target of their own.

    A percentage plan's targets are for the end of its period: each row also carries the path
    value of ``year`` (``Plan.path_value``) from its baseline — the row's own recognised share
    in the year before the period starts, else the baseline the plan states — and "on track"
    compares the share with that path (``with_path=False``: the baseline's own run, no path).
    """
    unit_level = known_unit(unit).level if unit else None
    province = _province_of(user)
    plan = plan_for(plans(), province, year)
    by_count = plan is not None and plan.kind == "count"
    titles = [title] if title else list(TITLES)
    first_day, last_day = date(year, 1, 1), date(year, 12, 31)
    communes = db.session.scalars(
        select(Unit)
        .where(
            Unit.level == "commune",
            _scope_across_reform(user, Unit) if user.role != "applicant" else Unit.code == "",
            # the communes that existed in the year: old ones before a reorganisation, new
            # ones after it, both for a year that spans it
            unit_exists_between(first_day, last_day),
        )
        .order_by(Unit.code)
    ).all()
    reform_day = reform_within(communes, first_day, last_day)
    if unit:
        communes = [c for c in communes if unit in (c.code, c.district_code, c.province_code)]
    codes = {c.code for c in communes}
    # areas whose directly-managed subjects are in view: districts (and the province itself)
    direct_areas = sorted(
        {c.district_code for c in communes if c.district_code} if unit_level != "commune" else set()
    )
    if user.unit_level == "province" and unit in (None, province):
        direct_areas.append(province)
    dbkk = dbkk_communes(codes, year)
    denominators = {
        (d.unit_code, d.title): d.count
        for d in db.session.scalars(
            select(Denominator).where(
                Denominator.year == year,
                Denominator.unit_code.in_([*codes, *direct_areas]),
                Denominator.title.in_(titles),
            )
        )
    }
    counts = defaultdict(lambda: [0, 0])
    conditions = [
        _scope_across_reform(user, Case),
        Case.year == year,
        Case.title.in_(titles),
        Case.submitted_at.is_not(None),
        Case.state != "withdrawn",
    ]
    if unit:
        conditions.append(_unit_filter(Case, unit))
    for district, commune, case_title, registered, recognized in db.session.execute(
        select(
            Case.district_code,
            Case.commune_code,
            Case.title,
            func.count(func.distinct(Case.subject_id)),
            func.count(func.distinct(case((Case.state == "recognized", Case.subject_id)))),
        )
        .where(*conditions)
        .group_by(Case.district_code, Case.commune_code, Case.title)
    ):
        area = commune or district or province
        counts[(area, case_title)] = [registered, recognized]
    # a province total only for whom sees the whole province: a district's figures under the
    # province's name would read as the province's
    whole_province = user.unit_level == "province" and unit in (None, province)
    rows = []
    groups = defaultdict(list)
    for commune in communes:
        for t in titles:
            den = denominators.get((commune.code, t))
            registered, recognized = counts[(commune.code, t)]
            target = plan.target(t, commune.code in dbkk) if plan and not by_count else None
            row = _target_row(
                commune.code, commune.name, "commune", t, den, registered, recognized, target
            )
            row["is_dbkk"] = commune.code in dbkk
            rows.append(row)
            if commune.district_code:  # none since 2025: communes report to the province
                groups[(commune.district_code, t)].append(row)
            if whole_province:  # a merged province's old communes count in the viewer's
                groups[(province, t)].append(row)
    names = _unit_names({k[0] for k in groups} | set(direct_areas) | {province})
    for area in direct_areas:
        for t in titles:
            den = denominators.get((area, t))
            registered, recognized = counts[(area, t)]
            if den is None and not registered:
                continue  # nothing managed directly there for this title
            target = plan.target(t, False) if plan and not by_count else None
            row = _target_row(
                area, names.get(area, area), "direct", t, den, registered, recognized, target
            )
            row["is_dbkk"] = False
            rows.append(row)
            if area != province:
                groups[(area, t)].append(row)
            if whole_province:
                groups[(province, t)].append(row)
    totals = []
    # the province total first, then each district (code order), each with its titles
    for (code, t), members in sorted(groups.items(), key=lambda g: (g[0][0] != province, g[0])):
        level = "province" if code == province else "district"
        known = [m for m in members if m["denominator"] is not None]
        den = sum(m["denominator"] for m in known) if known else None
        registered = sum(m["registered"] for m in members)
        recognized = sum(m["recognized"] for m in members)
        if by_count:
            row = _count_row(
                code,
                names.get(code, code),
                level,
                t,
                den,
                registered,
                recognized,
                plan,
                groups,
                known,
            )
            row["missing_denominators"] = len(members) - len(known)
            totals.append(row)
            continue
        weighted = [m for m in known if m["target"] is not None]
        target = (
            (
                sum(m["target"] * m["denominator"] for m in weighted)
                / sum(m["denominator"] for m in weighted)
            )
            if weighted and den
            else None
        )
        row = _target_row(
            code,
            names.get(code, code),
            level,
            t,
            den,
            registered,
            recognized,
            round(target, 2) if target is not None else None,
            recognized_known=sum(m["recognized"] for m in known),
        )
        row["missing_denominators"] = len(members) - len(known)
        totals.append(row)
    plan_ref = None
    if plan:
        plan_ref = {
            "id": plan.id,
            "label": plan.label,
            "kind": plan.kind,
            "period": {"from": plan.period_from, "to": plan.period_to},
            "carried_past_end": plan.carried_past_end(year),
        }
        if with_path and not by_count:
            _on_path(totals + rows, plan, year, user, title, unit)
    return {
        "rows": totals + rows,
        "plan": plan_ref,
        "year": year,
        "definitions": rendered(COUNT_TARGET_DEFINITIONS if by_count else TARGET_DEFINITIONS),
        # a year that spans a reorganisation: the table holds old units (to the day before)
        # and new ones (from the day)
        "reform_day": reform_day.isoformat() if reform_day else None,
    }


def _on_path(rows: list[dict], plan, year: int, user: User, title, unit) -> None:
    """Give each row its baseline, the path value of ``year`` and "on track" against it."""
    starts = plan.period_from - 1
    shares = {}
    if plan.period_to is None or year < plan.period_to:
        # the recognised share when the period starts: the report of the year before
        before = targets(user, year=starts, title=title, unit=unit, with_path=False)
        shares = {(r["unit_code"], r["level"], r["title"]): r["percent"] for r in before["rows"]}
    for row in rows:
        baseline = shares.get((row["unit_code"], row["level"], row["title"]))
        if baseline is None:
            baseline = plan.baseline.get(row["title"])
        row["baseline"] = baseline
        row["path"] = plan.path_value(row["target"], baseline, year)
        mark = row["path"] if row["path"] is not None else row["target"]
        if row["percent"] is not None and mark is not None:
            row["on_track"] = row["percent"] >= mark


def _count_row(code, name, level, title, den, registered, recognized, plan, groups, known):
    """A district or province total under a count plan: recognised subjects against counts.

    A pilot district is compared with the plan's count; the province with that count times its
    pilot districts in view, against the subjects recognised in those districts.
    """
    if level == "district":
        pilot = [code] if code in plan.districts else []
    else:
        pilot = [d for d in plan.districts if (d, title) in groups]
    compared = sum(m["recognized"] for d in pilot for m in groups[(d, title)])
    row = _target_row(
        code,
        name,
        level,
        title,
        den,
        registered,
        recognized,
        None,
        recognized_known=sum(m["recognized"] for m in known),
    )
    if pilot and title in plan.targets:
        target = plan.targets[title] * len(pilot)
        row["target"] = float(target)
        row["gap"] = float(max(target - compared, 0))
        row["on_track"] = compared >= target
    return row


def _target_row(
    code, name, level, title, den, registered, recognized, target, *, recognized_known=None
):
    base = recognized if recognized_known is None else recognized_known
    percent = round(100 * base / den, 2) if den else None
    gap = round(target - percent, 2) if percent is not None and target is not None else None
    # the gap in subjects: how many more recognitions reach the target's share of ``den``
    gap_count = None
    if gap is not None:
        gap_count = max(math.ceil(target * den / 100 - 1e-9) - base, 0)
    return {
        "unit_code": code,
        "unit_name": name,
        "level": level,
        "title": title,
        "denominator": den,
        "registered": registered,
        "recognized": recognized,
        "percent": percent,
        "target": target,
        "gap": gap,
        "gap_count": gap_count,
        "on_track": (percent >= target) if percent is not None and target is not None else None,
    }
