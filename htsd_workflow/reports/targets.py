"""The targets report: registered and recognised against the plans' targets and the
denominators, per area and title."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from datetime import date

from flask import current_app
from sqlalchemy import case, func, select

from htsd_workflow.auth.models import User
from htsd_workflow.cases.engine import get_registry
from htsd_workflow.cases.models import Case
from htsd_workflow.cases.planning import score_results
from htsd_workflow.core.errors import rendered
from htsd_workflow.core.titles import ONE_PER_COMMUNE
from htsd_workflow.extensions import db
from htsd_workflow.geography.models import Unit
from htsd_workflow.geography.queries import (
    dbkk_communes,
    reform_within,
    unit_exists_between,
)
from htsd_workflow.reports.definitions import COUNT_TARGET_DEFINITIONS, TARGET_DEFINITIONS, TITLES
from htsd_workflow.reports.filters import (
    _scope_across_reform,
    _unit_filter,
    _unit_names,
    known_unit,
)
from htsd_workflow.reports.models import Denominator
from htsd_workflow.reports.plans import plan_for


def plans():
    """The plans in force, loaded and validated at start-up (``create_app``)."""
    return current_app.extensions["htsd_plans"]


def _province_of(user: User) -> str:
    if user.unit_level == "province":
        return user.unit_code
    return db.session.get(Unit, user.unit_code).province_code


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
    reached, level_labels = _levels_reached(conditions, province)
    # a province total only for whom sees the whole province: a district's figures under the
    # province's name would read as the province's
    whole_province = user.unit_level == "province" and unit in (None, province)
    rows = []
    groups = defaultdict(list)
    for commune in communes:
        for t in titles:
            # the commune's own title counts the commune itself: one, entered by no one
            den = 1 if t in ONE_PER_COMMUNE else denominators.get((commune.code, t))
            registered, recognized = counts[(commune.code, t)]
            target = plan.target(t, commune.code in dbkk) if plan and not by_count else None
            row = _target_row(
                commune.code, commune.name, "commune", t, den, registered, recognized, target
            )
            row["is_dbkk"] = commune.code in dbkk
            row["levels"] = dict(reached.get((commune.code, t), {}))
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
            row["levels"] = dict(reached.get((area, t), {}))
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
            row["levels"] = _sum_levels(members)
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
        row["levels"] = _sum_levels(members)
        totals.append(row)
    plan_ref = None
    if plan:
        plan_ref = {
            "id": plan.id,
            "label": plan.label,
            "label_en": plan.label_en,
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
        "missing_denominators": _missing_denominators(communes, rows),
        "definitions": rendered(COUNT_TARGET_DEFINITIONS if by_count else TARGET_DEFINITIONS),
        # the levels (mức độ) recognised cases of a levels set reached, counted per row
        "levels": level_labels,
        # a year that spans a reorganisation: the table holds old units (to the day before)
        # and new ones (from the day)
        "reform_day": reform_day.isoformat() if reform_day else None,
    }


def _missing_denominators(communes, rows: list[dict]) -> list[dict]:
    """The communes of the year with no denominator for a title in view, each with those
    titles and the day it was formed when a reorganisation formed it (a new commune needs
    its own figures from then on; an old one keeps its own for the years before)."""
    missing: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        if row["level"] == "commune" and row["denominator"] is None:
            missing[row["unit_code"]].append(row["title"])
    return [
        {
            "unit_code": c.code,
            "unit_name": c.name,
            "titles": missing[c.code],
            "formed_on": c.valid_from.isoformat() if c.valid_from else None,
        }
        for c in communes
        if c.code in missing
    ]


def _levels_reached(conditions: list, province: str):
    """Recognised cases of a levels set (TT 24/2023, TT 25/2023) by the level they reached,
    per (area, title); and the levels' codes and labels, lowest first. A case's level is its
    result with the reviewers' corrections (``score_results``)."""
    sets = [s for s in get_registry().criteria_sets.values() if s.kind == "levels"]
    labels: dict[str, str] = {}
    for cset in sets:
        for level in cset.levels:
            labels.setdefault(level.code, level.label)
    if not sets:
        return {}, []
    cases = db.session.execute(
        select(Case.id, Case.criteria_set_id, Case.title, Case.district_code, Case.commune_code)
        .where(
            *conditions,
            Case.state == "recognized",
            Case.criteria_set_id.in_([s.id for s in sets]),
        )
        .order_by(Case.id)
    ).all()
    results = score_results(cases)
    reached: dict[tuple, Counter] = defaultdict(Counter)
    for case_ in cases:
        level = results[case_.id].level
        area = case_.commune_code or case_.district_code or province
        reached[(area, case_.title)][level.code if level else "none"] += 1
    return reached, [{"code": code, "label": label} for code, label in labels.items()]


def _sum_levels(members: list[dict]) -> dict[str, int]:
    total: Counter = Counter()
    for member in members:
        total.update(member["levels"])
    return dict(total)


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


def commune_target(commune_code: str, title: str, year: int) -> dict:
    """One commune's line of the targets report (its recognised share of the households —
    or clans, villages, units — against the plan's target for ``year``), for the commune
    officer's start page: the plan (or None) and the row as ``targets`` gives it."""
    commune = db.session.get(Unit, commune_code)
    province = commune.province_code if commune is not None else None
    plan = plan_for(plans(), province, year) if province else None
    by_count = plan is not None and plan.kind == "count"
    target = (
        plan.target(title, commune_code in dbkk_communes({commune_code}, year))
        if plan and not by_count
        else None
    )
    den = db.session.scalar(
        select(Denominator.count).where(
            Denominator.unit_code == commune_code,
            Denominator.year == year,
            Denominator.title == title,
        )
    )
    registered, recognized = db.session.execute(
        select(
            func.count(func.distinct(Case.subject_id)),
            func.count(func.distinct(case((Case.state == "recognized", Case.subject_id)))),
        ).where(
            Case.commune_code == commune_code,
            Case.year == year,
            Case.title == title,
            Case.submitted_at.is_not(None),
            Case.state != "withdrawn",
        )
    ).one()
    name = commune.name if commune is not None else commune_code
    row = _target_row(commune_code, name, "commune", title, den, registered, recognized, target)
    return {
        "row": row,
        "plan": {"label": plan.label, "label_en": plan.label_en} if plan else None,
    }
