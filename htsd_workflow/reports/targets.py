"""The targets report: registered and recognised against the plans' targets and the
denominators, per area and title."""

from __future__ import annotations

import math
from collections import defaultdict

from flask import current_app
from sqlalchemy import case, func, select

from htsd_workflow.auth.models import User
from htsd_workflow.auth.scope import scope_clause
from htsd_workflow.cases.models import Case
from htsd_workflow.core.errors import rendered
from htsd_workflow.extensions import db
from htsd_workflow.geography.models import Unit
from htsd_workflow.geography.queries import dbkk_communes
from htsd_workflow.reports.definitions import COUNT_TARGET_DEFINITIONS, TARGET_DEFINITIONS, TITLES
from htsd_workflow.reports.filters import _unit_filter, _unit_names, known_unit
from htsd_workflow.reports.models import Denominator
from htsd_workflow.reports.plans import load_plans, plan_for


def plans():
    return load_plans(f"{current_app.config['WORKFLOWS_DIR']}/plans")


def _province_of(user: User) -> str:
    if user.unit_level == "province":
        return user.unit_code
    return db.session.get(Unit, user.unit_code).province_code


def targets(user: User, *, year: int, title: str | None = None, unit: str | None = None) -> dict:
    """Per commune and district of the viewer's territory (and a province total).

    Subjects managed by a district or the province themselves (units such as a district's
    education office) have no commune: they are counted on a "direct" row of that district or
    of the province, against a denominator entered for that level, and in its totals.
    With a count plan (the 2015 pilot) each pilot district's recognised count is compared with
    the plan's count; communes have no count target of their own.
    """
    unit_level = known_unit(unit).level if unit else None
    province = _province_of(user)
    plan = plan_for(plans(), province, year)
    by_count = plan is not None and plan.kind == "count"
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
        scope_clause(user, Case),
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
            groups[(commune.district_code, t)].append(row)
            if whole_province:
                groups[(commune.province_code, t)].append(row)
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
        plan_ref = {"id": plan.id, "label": plan.label, "kind": plan.kind}
    return {
        "rows": totals + rows,
        "plan": plan_ref,
        "year": year,
        "definitions": rendered(COUNT_TARGET_DEFINITIONS if by_count else TARGET_DEFINITIONS),
    }


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
