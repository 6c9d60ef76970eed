"""The managers' start page: their scope's cases by stage and level, overdue counts, and the
way to the reports."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request
from flask_login import current_user
from sqlalchemy import and_, case, func, select
from werkzeug.exceptions import HTTPException

from htsd_workflow.auth.access import access
from htsd_workflow.auth.roles import SUPERVISOR_ROLES
from htsd_workflow.auth.scope import scope_clause
from htsd_workflow.cases.engine import get_registry
from htsd_workflow.cases.models import Case
from htsd_workflow.core.collation import collated
from htsd_workflow.core.labels import direct_row_name
from htsd_workflow.core.text import whole_number
from htsd_workflow.core.time import to_local, utcnow
from htsd_workflow.extensions import db
from htsd_workflow.geography.models import Unit

bp = Blueprint("dashboard", __name__)

#: the reports pages (built in the reports feature), linked when they exist
REPORT_LINKS = (
    ("/reports/bottlenecks", "bottlenecks"),
    ("/reports/targets", "targets"),
)


def _ordered_states(counted) -> list:
    """The states of the default set, in the order the files list them, and every other set's
    state that cases are in (a three-tier case waiting at the district under a two-tier
    default)."""
    registry = get_registry()
    default = {name for d in registry.definitions.values() for name in d.states}
    return [s for s in registry.states_in_force() if s.name in default or s.name in counted]


def _available_reports() -> list[tuple[str, str]]:
    adapter = current_app.url_map.bind("")
    found = []
    for path, name in REPORT_LINKS:
        try:
            adapter.match(path, method="GET")
        except HTTPException:
            continue
        found.append((path, name))
    return found


def _own_unit_name() -> str:
    unit = db.session.get(Unit, current_user.unit_code) if current_user.unit_code else None
    return unit.name if unit else ""


@bp.route("/overview")
@access(*SUPERVISOR_ROLES)
def overview():
    """Counts by stage and level for the year, overdue counts, and a line per district or
    commune of the user's territory."""
    now = utcnow()
    this_year = to_local(now).year
    year = whole_number(request.args.get("year"), 2000, 2100) or this_year
    in_scope = scope_clause(current_user, Case)
    overdue = func.sum(case((and_(Case.is_open, Case.due_at < now), 1), else_=0))
    counts = {
        row.state: row
        for row in db.session.execute(
            select(Case.state, func.count().label("total"), overdue.label("overdue"))
            .where(in_scope, Case.year == year)
            .group_by(Case.state)
        )
    }
    stages = [
        {
            "state": state,
            "total": counts[state.name].total if state.name in counts else 0,
            "overdue": (counts[state.name].overdue or 0) if state.name in counts else 0,
        }
        for state in _ordered_states(counts)
    ]
    child = Case.district_code if current_user.unit_level == "province" else Case.commune_code
    recognized = func.sum(case((Case.state == "recognized", 1), else_=0))
    open_cases = func.sum(case((Case.is_open, 1), else_=0))
    by_unit_rows = db.session.execute(
        select(
            child.label("code"),
            Unit.name,
            func.count().label("total"),
            open_cases.label("open"),
            overdue.label("overdue"),
            recognized.label("recognized"),
        )
        .outerjoin(Unit, Unit.code == child)
        .where(in_scope, Case.year == year)
        .group_by(child, Unit.name)
        .order_by(collated(Unit.name))
    ).all()
    years = sorted(
        set(db.session.scalars(select(Case.year).where(in_scope).distinct())) | {this_year},
        reverse=True,
    )
    return render_template(
        "dashboard/overview.html",
        year=year,
        years=years,
        stages=stages,
        total=sum(s["total"] for s in stages),
        total_overdue=sum(s["overdue"] for s in stages),
        by_unit=by_unit_rows if current_user.unit_level in ("province", "district") else [],
        child_level="district" if current_user.unit_level == "province" else "commune",
        direct_name=direct_row_name(_own_unit_name()),
        reports=_available_reports(),
    )
