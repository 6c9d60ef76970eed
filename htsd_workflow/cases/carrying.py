"""Carrying running cases to another workflow definition (a province's set changes, a
reorganisation moves them): state mapped, stage left and entered, a history row each."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, insert, update

from htsd_workflow.cases.engine import get_registry, set_of
from htsd_workflow.cases.models import Case, CaseEvent, PartClaim, SignOff, StageVisit
from htsd_workflow.cases.writing import _close_with_sqlalchemy, _expire_cases, _lock
from htsd_workflow.core import pg
from htsd_workflow.core.calendar import get_calendar
from htsd_workflow.core.time import utcnow
from htsd_workflow.extensions import db

#: the history trigger of a case carried to another definition (no workflow file has it)
CARRY_TRIGGER = "carry_definition"


@dataclass
class CarryPlan:
    """What carrying running cases to another definition does (or, dry, would do)."""

    #: (set, from_state, to_state) → number of cases
    moves: dict[tuple[str, str, str], int] = field(default_factory=lambda: defaultdict(int))
    #: case ids whose state has no place in the target definition
    unmapped: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))

    @property
    def total(self) -> int:
        return sum(self.moves.values())


def carry_state_map(from_set: str, title: str, to_set: str, given: dict | None = None) -> dict:
    """The state mapping from ``from_set`` into ``to_set`` for ``title``: the target file's
    ``carried_from`` default, with ``given`` (the command line's) over it."""
    target = get_registry().definition(title, to_set)
    return {**target.carried_from.get(from_set, {}), **(given or {})}


def carry_cases(
    case_ids,
    to_set: str,
    *,
    state_map: dict | None = None,
    comment: str,
    paths: dict[int, tuple[str, str | None, str | None]] | None = None,
    data: dict[int, dict] | None = None,
    dry_run: bool = False,
    now: datetime | None = None,
) -> CarryPlan:
    """Move running cases to the ``to_set`` definition of their title, each with a history row.

    A state is carried by ``state_map`` (over the target file's ``carried_from``), or kept
    when the target has a state of that name; a case whose state has neither is left as it is
    and listed in ``unmapped`` (nothing is written unless every case has a place). ``paths``
    gives a case its new unit path (province, district, commune), ``data`` extra facts for its
    history row. A case that changes state leaves its stage and enters the new one (stage
    visits closed and opened, claims released, deadline from today); one that keeps its state
    keeps its stage, deadline and visits (their unit path follows the case). Finished cases
    are never carried.
    """
    registry = get_registry()
    calendar = get_calendar()
    now = now or utcnow()
    paths = paths or {}
    data = data or {}
    plan = CarryPlan()
    case_ids = list(dict.fromkeys(int(i) for i in case_ids))
    if not case_ids:
        return plan
    rows = _lock(case_ids, pg.cursor())
    changes = []
    for row in rows:
        if not row.is_open:
            continue
        from_set = set_of(row.workflow)
        target = registry.definition(row.title, to_set)
        mapping = carry_state_map(from_set, row.title, to_set, state_map)
        to_state = mapping.get(row.state, row.state)
        unchanged = from_set == to_set and to_state == row.state and row.id not in paths
        if unchanged and row.state in target.states:
            continue  # nothing to carry: a second run changes nothing
        if to_state not in target.states:
            plan.unmapped[row.state].append(row.id)
            continue
        returned_from = row.returned_from and mapping.get(row.returned_from, row.returned_from)
        if returned_from and returned_from not in target.states:
            returned_from = None
        plan.moves[(from_set, row.state, to_state)] += 1
        changes.append((row, target, to_state, returned_from))
    if dry_run or plan.unmapped:
        return plan
    for row, target, to_state, returned_from in changes:
        province, district, commune = paths.get(
            row.id, (row.province_code, row.district_code, row.commune_code)
        )
        values = {
            "workflow": target.ref,
            "returned_from": returned_from,
            "province_code": province,
            "district_code": district,
            "commune_code": commune,
            "version": Case.version + 1,
        }
        dest = target.states[to_state]
        if to_state != row.state:
            due = calendar.due_at(now, dest.sla_days) if dest.is_review else None
            _close_with_sqlalchemy(
                [
                    {
                        "case_id": row.id,
                        "part": None,
                        "outcome": CARRY_TRIGGER,
                        "working_days": calendar.elapsed_working_days(row.stage_entered_at, now),
                    }
                ],
                now,
            )
            values.update(
                state=to_state,
                stage_entered_at=now,
                due_at=due,
                is_extended=False,
                escalation_rung=0,
                is_escalated=False,
                claimed_by_id=None,
                claimed_at=None,
            )
            db.session.execute(delete(PartClaim).where(PartClaim.case_id == row.id))
            if not dest.joint:
                db.session.execute(delete(SignOff).where(SignOff.case_id == row.id))
            if dest.is_review:
                db.session.execute(
                    insert(StageVisit),
                    [
                        {
                            "case_id": row.id,
                            "stage": stage,
                            "title": row.title,
                            "year": row.year,
                            "province_code": province,
                            "district_code": district,
                            "commune_code": commune,
                            "entered_at": now,
                            "due_at": due,
                            "is_escalated": False,
                        }
                        for stage in (dest.name, *(f"{dest.name}:{d}" for d in dest.joint))
                    ],
                )
        else:
            db.session.execute(
                update(StageVisit)
                .where(StageVisit.case_id == row.id, StageVisit.left_at.is_(None))
                .values(province_code=province, district_code=district, commune_code=commune)
                .execution_options(synchronize_session=False)
            )
        db.session.execute(
            update(Case)
            .where(Case.id == row.id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        db.session.execute(
            insert(CaseEvent),
            [
                {
                    "case_id": row.id,
                    "at": now,
                    "actor_id": None,
                    "actor_role": None,
                    "trigger": CARRY_TRIGGER,
                    "from_state": row.state,
                    "to_state": to_state,
                    "comment": comment,
                    "data": {
                        "from_workflow": row.workflow,
                        "to_workflow": values["workflow"],
                        **data.get(row.id, {}),
                    },
                }
            ],
        )
    _expire_cases([row.id for row, *_ in changes])
    db.session.flush()
    return plan
