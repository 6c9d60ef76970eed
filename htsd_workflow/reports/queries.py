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

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from flask import current_app
from sqlalchemy import and_, case, func, literal, or_, select

from htsd_workflow.auth.models import User
from htsd_workflow.auth.scope import scope_clause
from htsd_workflow.cases.models import Case, StageVisit
from htsd_workflow.core.calendar import get_calendar
from htsd_workflow.core.errors import InvalidInput
from htsd_workflow.core.time import LOCAL_TZ, to_local, to_utc_naive, utcnow
from htsd_workflow.extensions import db
from htsd_workflow.geography.models import DbkkPeriod, Unit
from htsd_workflow.reports.models import Denominator
from htsd_workflow.reports.plans import load_plans, plan_for

RETURN_TRIGGERS = ("return_to_applicant", "return_to_district", "return_to_commune")
TITLES = ("family", "clan", "community", "unit")

BOTTLENECK_DEFINITIONS = {
    "waiting": "Hồ sơ đang ở bước này lúc xem báo cáo",
    "arrived": "Hồ sơ đến bước này trong kỳ",
    "completed": "Hồ sơ rời bước này trong kỳ (chuyển tiếp, trả lại, không công nhận, rút)",
    "overdue": "Hồ sơ đang chờ đã quá hạn",
    "escalated": "Hồ sơ (đang chờ hoặc đã xử lý trong kỳ) đã bị báo cáo cấp trên",
    "returned": "Hồ sơ bị trả lại trong kỳ",
    "median_days": "Trung vị số ngày làm việc ở bước, của hồ sơ đã xử lý trong kỳ",
    "p90_days": "90% hồ sơ đã xử lý trong kỳ nằm ở bước không quá số ngày làm việc này",
    "to_handle": "Phải giải quyết = nhận trong kỳ + kỳ trước chuyển sang",
    "late_rate": "Tỷ lệ trễ hạn = (đang giải quyết quá hạn + đã giải quyết quá hạn) / "
    "phải giải quyết",
    "on_time_rate": "Tỷ lệ đúng hạn = 100% − tỷ lệ trễ hạn (trước hạn tính là đúng hạn)",
}
TARGET_DEFINITIONS = {
    "registered": "Số đối tượng đã gửi hồ sơ danh hiệu trong năm (không tính hồ sơ đã rút)",
    "recognized": "Số đối tượng được công nhận trong năm",
    "percent": "Tỷ lệ công nhận = được công nhận / tổng số (mẫu số) của địa bàn",
    "target": "Chỉ tiêu của kế hoạch; xã ĐBKK theo chỉ tiêu riêng; huyện, tỉnh: bình quân "
    "gia quyền theo mẫu số của các xã",
    "gap": "Còn thiếu so với chỉ tiêu (điểm phần trăm)",
    "denominator": "Tổng số hộ/dòng họ/cộng đồng/đơn vị do xã, huyện nhập; thiếu thì để trống",
}


@dataclass
class Filters:
    date_from: date
    date_to: date
    title: str | None = None
    unit: str | None = None
    stage: str | None = None


def parse_filters(args) -> Filters:
    """Filters from a query string; a clear 422 for bad values."""
    today = to_local(utcnow()).date()
    try:
        date_from = date.fromisoformat(args.get("from") or f"{today.year}-01-01")
        date_to = date.fromisoformat(args.get("to") or today.isoformat())
    except ValueError as exc:
        raise InvalidInput(
            "Ngày không hợp lệ (dạng 2026-01-31).",
            details={"from": "YYYY-MM-DD", "to": "YYYY-MM-DD"},
        ) from exc
    if date_to < date_from:
        raise InvalidInput(
            "Ngày kết thúc phải sau ngày bắt đầu.", details={"to": "Sau ngày bắt đầu"}
        )
    title = args.get("title") or None
    if title and title not in TITLES:
        raise InvalidInput("Danh hiệu không hợp lệ.", details={"title": ", ".join(TITLES)})
    unit = args.get("unit") or None
    if unit and db.session.get(Unit, unit) is None:
        raise InvalidInput(f"Không có đơn vị mã “{unit}”.", details={"unit": "Mã GSO"})
    return Filters(date_from, date_to, title, unit, args.get("stage") or None)


def _start(day: date) -> datetime:
    return to_utc_naive(datetime.combine(day, time(0), tzinfo=LOCAL_TZ))


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


def bottlenecks(user: User, filters: Filters, *, now: datetime | None = None) -> dict:
    """Rows per stage and unit with waiting, flow, time in stage and deadline statistics."""
    now = now or utcnow()
    start, end = _start(filters.date_from), _start(filters.date_to + timedelta(days=1))
    soon = get_calendar().due_at(now, 2)
    column_name, code = _group_level(user, filters.unit)
    unit_column = getattr(StageVisit, column_name)
    conditions = [scope_clause(user, StageVisit, subject_column=StageVisit.case_id)]
    if code:
        conditions.append(_unit_filter(StageVisit, code))
    if filters.title:
        conditions.append(StageVisit.title == filters.title)
    if filters.stage:
        conditions.append(StageVisit.stage == filters.stage)
    open_now = StageVisit.left_at.is_(None)
    arrived = and_(StageVisit.entered_at >= start, StageVisit.entered_at < end)
    completed = and_(StageVisit.left_at >= start, StageVisit.left_at < end)
    carried = and_(
        StageVisit.entered_at < start,
        or_(StageVisit.left_at.is_(None), StageVisit.left_at >= start),
    )
    late_open = and_(open_now, StageVisit.due_at < now)

    def count(condition):
        return func.sum(case((condition, 1), else_=0))

    rows = db.session.execute(
        select(
            StageVisit.stage,
            unit_column.label("unit_code"),
            count(open_now).label("waiting"),
            count(arrived).label("arrived"),
            count(completed).label("completed"),
            count(late_open).label("overdue"),
            count(and_(StageVisit.is_escalated, or_(open_now, completed))).label("escalated"),
            count(and_(completed, StageVisit.outcome.in_(RETURN_TRIGGERS))).label("returned"),
            count(or_(arrived, carried)).label("to_handle"),
            count(and_(open_now, StageVisit.due_at >= now, StageVisit.due_at <= soon)).label(
                "nearly_late"
            ),
            count(and_(open_now, or_(StageVisit.due_at > soon, StageVisit.due_at.is_(None)))).label(
                "not_yet_due"
            ),
            count(and_(completed, StageVisit.is_late.is_(True))).label("late_done"),
            count(and_(completed, StageVisit.is_late.is_not(True))).label("on_time_done"),
        )
        .where(*conditions, or_(open_now, StageVisit.left_at >= start), StageVisit.entered_at < end)
        .group_by(StageVisit.stage, unit_column)
        .order_by(StageVisit.stage, unit_column)
    ).all()
    durations = _durations(conditions, completed, unit_column)
    names = _unit_names({r.unit_code for r in rows if r.unit_code})
    out = []
    for r in rows:
        median, p90 = durations.get((r.stage, r.unit_code), (None, None))
        late = (r.overdue or 0) + (r.late_done or 0)
        to_handle = r.to_handle or 0
        late_rate = late / to_handle if to_handle else None
        out.append(
            {
                "stage": r.stage,
                "unit_code": r.unit_code or "",
                "unit_name": names.get(r.unit_code, ""),
                "waiting": r.waiting or 0,
                "arrived": r.arrived or 0,
                "completed": r.completed or 0,
                "overdue": r.overdue or 0,
                "escalated": r.escalated or 0,
                "returned": r.returned or 0,
                "median_days": median,
                "p90_days": p90,
                "to_handle": to_handle,
                "late_in_progress": r.overdue or 0,
                "nearly_late": r.nearly_late or 0,
                "not_yet_due": r.not_yet_due or 0,
                "late_done": r.late_done or 0,
                "on_time_done": r.on_time_done or 0,
                "late_rate": round(late_rate, 4) if late_rate is not None else None,
                "on_time_rate": round(1 - late_rate, 4) if late_rate is not None else None,
            }
        )
    return {
        "rows": out,
        "definitions": BOTTLENECK_DEFINITIONS,
        "period": {"from": filters.date_from.isoformat(), "to": filters.date_to.isoformat()},
        "group_by": column_name.replace("_code", ""),
    }


def _durations(conditions, completed, unit_column) -> dict:
    """Median and 90th percentile of working days per (stage, unit), in SQL where possible."""
    base = [*conditions, completed, StageVisit.working_days.is_not(None)]
    if db.engine.dialect.name == "postgresql":
        rows = db.session.execute(
            select(
                StageVisit.stage,
                unit_column,
                func.percentile_cont(0.5).within_group(StageVisit.working_days),
                func.percentile_cont(0.9).within_group(StageVisit.working_days),
            )
            .where(*base)
            .group_by(StageVisit.stage, unit_column)
        ).all()
        return {(s, u): (float(m), float(p)) for s, u, m, p in rows}
    # SQLite (the embedded default) has no percentile function: the same interpolation here
    values = defaultdict(list)
    for stage, unit, days in db.session.execute(
        select(StageVisit.stage, unit_column, StageVisit.working_days).where(*base)
    ):
        values[(stage, unit)].append(days)
    return {key: (percentile(v, 0.5), percentile(v, 0.9)) for key, v in values.items()}


def percentile(values: list[float], fraction: float) -> float:
    """Linear interpolation between closest ranks, as PostgreSQL's percentile_cont."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return float(ordered[0])
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return float(ordered[low] + (ordered[high] - ordered[low]) * (position - low))


def _unit_names(codes) -> dict[str, str]:
    if not codes:
        return {}
    return dict(db.session.execute(select(Unit.code, Unit.name).where(Unit.code.in_(codes))).all())


def longest_waiting(user: User, filters: Filters, limit: int = 10) -> list:
    conditions = [scope_clause(user, Case), Case.is_open.is_(True), Case.due_at.is_not(None)]
    if filters.unit:
        conditions.append(_unit_filter(Case, filters.unit))
    if filters.title:
        conditions.append(Case.title == filters.title)
    return db.session.scalars(
        select(Case).where(*conditions).order_by(Case.stage_entered_at).limit(limit)
    ).all()


def weekly_trend(user: User, filters: Filters) -> list[dict]:
    """Per week of the period: arrivals, completions, and the overdue backlog at week's end."""
    conditions = [
        scope_clause(user, StageVisit, subject_column=StageVisit.case_id),
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
    if not days:
        return []
    if db.engine.dialect.name == "postgresql":
        counts = _weekly_counts_one_scan(conditions, days)
    else:
        counts = [_week_counts(conditions, d) for d in days]
    return [
        {"week": d.isoformat(), "arrived": a, "completed": c, "overdue_backlog": b}
        for d, (a, c, b) in zip(days, counts, strict=True)
    ]


def _week_counts(conditions, day: date) -> tuple[int, int, int]:
    """(arrived, completed, overdue backlog at the end) of the week starting ``day``."""
    start, end = _start(day), _start(day + timedelta(days=7))
    arrived, done, backlog = db.session.execute(
        select(
            func.sum(
                case(
                    (and_(StageVisit.entered_at >= start, StageVisit.entered_at < end), 1),
                    else_=0,
                )
            ),
            func.sum(
                case((and_(StageVisit.left_at >= start, StageVisit.left_at < end), 1), else_=0)
            ),
            func.sum(
                case(
                    (
                        and_(
                            StageVisit.entered_at < end,
                            StageVisit.due_at < end,
                            or_(StageVisit.left_at.is_(None), StageVisit.left_at >= end),
                        ),
                        1,
                    ),
                    else_=0,
                )
            ),
        ).where(
            *conditions,
            StageVisit.entered_at < end,
            or_(StageVisit.left_at.is_(None), StageVisit.left_at >= start),
        )
    ).one()
    return arrived or 0, done or 0, backlog or 0


def _weekly_counts_one_scan(conditions, days: list[date]) -> list[tuple[int, int, int]]:
    """The same counts as ``_week_counts`` for every week, from one scan (PostgreSQL).

    Each visit falls in the week ("bucket") of a moment: arrivals by ``entered_at``,
    completions by ``left_at``. The backlog at the end of week k counts the visits with
    ``entered_at < end``, ``due_at < end`` and not ``left_at < end``: those whose
    ``greatest(entered_at, due_at)`` falls in a bucket ≤ k, less those whose
    ``greatest(entered_at, due_at, left_at)`` does — two running sums. A visit that left
    before the period, or arrived after it, adds to both sums alike (or to neither), so only the
    visits overlapping the period are scanned. Weeks are 7 × 24 h in UTC: local time has no
    daylight saving.
    """
    origin = _start(days[0])
    period_end = _start(days[-1] + timedelta(days=7))
    visits = (
        select(StageVisit.entered_at, StageVisit.left_at, StageVisit.due_at)
        .where(
            *conditions,
            StageVisit.entered_at < period_end,
            or_(StageVisit.left_at.is_(None), StageVisit.left_at >= origin),
        )
        .cte("visits")
    )

    def bucket(moment):
        return func.floor(func.extract("epoch", moment - origin) / (7 * 86400)).label("bucket")

    def counted(kind, moment, *where):
        number = bucket(moment)
        return (
            select(literal(kind).label("kind"), number, func.count())
            .select_from(visits)
            .where(*where)
            .group_by(number)
        )

    c = visits.c
    reached_due = func.greatest(c.entered_at, c.due_at)
    parts = [
        counted("arrived", c.entered_at),
        counted("completed", c.left_at, c.left_at.is_not(None)),
        counted("due", reached_due, c.due_at.is_not(None)),
        counted(
            "due_left",
            func.greatest(reached_due, c.left_at),
            c.due_at.is_not(None),
            c.left_at.is_not(None),
        ),
    ]
    per = defaultdict(lambda: defaultdict(int))
    for kind, number, count in db.session.execute(parts[0].union_all(*parts[1:])):
        per[kind][int(number)] += count
    before = sum(n for b, n in per["due"].items() if b < 0) - sum(
        n for b, n in per["due_left"].items() if b < 0
    )
    out = []
    backlog = before
    for k in range(len(days)):
        backlog += per["due"].get(k, 0) - per["due_left"].get(k, 0)
        out.append((per["arrived"].get(k, 0), per["completed"].get(k, 0), backlog))
    return out


# --- targets ------------------------------------------------------------------------------


def plans():
    return load_plans(f"{current_app.config['WORKFLOWS_DIR']}/plans")


def dbkk_communes(codes, year: int) -> set[str]:
    """Communes on the ĐBKK list in ``year``: by their listed periods, else by the flag."""
    with_periods = set(db.session.scalars(select(DbkkPeriod.unit_code).distinct()))
    listed = set(
        db.session.scalars(
            select(DbkkPeriod.unit_code).where(
                DbkkPeriod.from_year <= year,
                or_(DbkkPeriod.to_year.is_(None), DbkkPeriod.to_year >= year),
            )
        )
    )
    flagged = set(db.session.scalars(select(Unit.code).where(Unit.is_dbkk.is_(True))))
    return {c for c in codes if c in listed or (c not in with_periods and c in flagged)}


def targets(user: User, *, year: int, title: str | None = None, unit: str | None = None) -> dict:
    """Per commune and district of the viewer's territory (and a province total)."""
    province = (
        user.unit_code
        if user.unit_level == "province"
        else (db.session.get(Unit, user.unit_code).province_code)
    )
    plan = plan_for(plans(), province, year)
    titles = [title] if title else list(TITLES)
    communes = db.session.scalars(
        select(Unit)
        .where(
            Unit.level == "commune",
            scope_clause(user, Unit) if user.role != "applicant" else Unit.code == "",
        )
        .order_by(Unit.code)
    ).all()
    if unit:
        communes = [c for c in communes if unit in (c.code, c.district_code, c.province_code)]
    codes = [c.code for c in communes]
    dbkk = dbkk_communes(codes, year)
    denominators = {
        (d.unit_code, d.title): d.count
        for d in db.session.scalars(
            select(Denominator).where(
                Denominator.year == year,
                Denominator.unit_code.in_(codes),
                Denominator.title.in_(titles),
            )
        )
    }
    counts = defaultdict(lambda: [0, 0])
    for commune, case_title, registered, recognized in db.session.execute(
        select(
            Case.commune_code,
            Case.title,
            func.count(func.distinct(Case.subject_id)),
            func.count(func.distinct(case((Case.state == "recognized", Case.subject_id)))),
        )
        .where(
            Case.year == year,
            Case.title.in_(titles),
            Case.submitted_at.is_not(None),
            Case.state != "withdrawn",
            Case.commune_code.in_(codes),
        )
        .group_by(Case.commune_code, Case.title)
    ):
        counts[(commune, case_title)] = [registered, recognized]
    rows = []
    groups = defaultdict(list)
    for commune in communes:
        for t in titles:
            den = denominators.get((commune.code, t))
            registered, recognized = counts[(commune.code, t)]
            target = plan.target(t, commune.code in dbkk) if plan else None
            row = _target_row(
                commune.code, commune.name, "commune", t, den, registered, recognized, target
            )
            row["is_dbkk"] = commune.code in dbkk
            rows.append(row)
            groups[(commune.district_code, t)].append(row)
            groups[(commune.province_code, t)].append(row)
    names = _unit_names({k[0] for k in groups})
    totals = []
    for (code, t), members in sorted(groups.items()):
        level = "province" if code == province else "district"
        known = [m for m in members if m["denominator"] is not None]
        den = sum(m["denominator"] for m in known) if known else None
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
            sum(m["registered"] for m in members),
            sum(m["recognized"] for m in members),
            round(target, 2) if target is not None else None,
            recognized_known=sum(m["recognized"] for m in known),
        )
        row["missing_denominators"] = len(members) - len(known)
        totals.append(row)
    return {
        "rows": totals + rows,
        "plan": {"id": plan.id, "label": plan.label} if plan else None,
        "year": year,
        "definitions": TARGET_DEFINITIONS,
    }


def _target_row(
    code, name, level, title, den, registered, recognized, target, *, recognized_known=None
):
    base = recognized if recognized_known is None else recognized_known
    percent = round(100 * base / den, 2) if den else None
    gap = round(target - percent, 2) if percent is not None and target is not None else None
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
        "on_track": (percent >= target) if percent is not None and target is not None else None,
    }
