"""Who is told about an event on a case.

- the applicant, at every step (for the commune applying as itself: its commune officers);
- the reviewers of a level when a case reaches their queue (both departments at the joint
  provincial confirmation);
- the previous level when its case is returned or rejected upstream;
- for reminders and escalations, whom the ladder rung names: the level, the supervising level
  (the next stage in the definition), the provincial association, the managers.
"""

from __future__ import annotations

from sqlalchemy import or_, select

from htsd_workflow.auth.models import User
from htsd_workflow.auth.roles import ROLE_LEVEL
from htsd_workflow.auth.scope import TERRITORY_ATTRIBUTE
from htsd_workflow.cases.definitions import WorkflowDefinition
from htsd_workflow.cases.models import Case
from htsd_workflow.core.titles import ONE_PER_COMMUNE
from htsd_workflow.extensions import db


def _users(*conditions) -> list[User]:
    return list(db.session.scalars(select(User).where(User.is_active_user.is_(True), *conditions)))


def applicants_of(case: Case) -> list[User]:
    if case.title in ONE_PER_COMMUNE:
        # the commune applying as itself: its officers stand for the applicant
        return _users(User.role == "commune_reviewer", User.unit_code == case.commune_code)
    return _users(User.role == "applicant", User.subject_id == case.subject_id)


def reviewers_of(case: Case, roles) -> list[User]:
    """Active users of ``roles`` whose territory is the case's unit at the role's level."""
    conditions = []
    for role in roles:
        code = getattr(case, TERRITORY_ATTRIBUTE[ROLE_LEVEL[role]])
        if code:
            conditions.append((User.role == role) & (User.unit_code == code))
    return _users(or_(*conditions)) if conditions else []


def managers_of(case: Case) -> list[User]:
    codes = [c for c in (case.province_code, case.district_code) if c]
    return _users(User.role == "manager", User.unit_code.in_(codes))


def previous_stage(definition: WorkflowDefinition, case: Case, state: str):
    """The reviewing stage before ``state`` that this case went through, if any."""
    stages = definition.review_states
    names = [s.name for s in stages]
    if state not in names:
        return None
    entry = next((s for s in stages if s.level == case.entry_level), stages[0])
    index = names.index(state)
    if index == 0 or names.index(entry.name) >= index:
        return None
    return stages[index - 1]


def recipients(kind: str, payload: dict, case: Case, definition: WorkflowDefinition):
    """Return {user id: user} for an outbox message."""
    found: dict[int, User] = {}

    def add(users):
        for user in users:
            found.setdefault(user.id, user)

    from_state = payload.get("from_state")
    to_state = payload.get("to_state") or case.state
    states = definition.states
    if kind in ("remind", "escalate"):
        stage = states[payload.get("stage") or case.state]
        for target in payload.get("notify", ()):
            if target == "level":
                add(reviewers_of(case, stage.roles))
            elif target == "supervisor":
                add(reviewers_of(case, definition.supervising_roles(stage.name)))
            elif target == "province_officer":
                add(reviewers_of(case, ("province_officer",)))
            elif target == "manager":
                add(managers_of(case))
            elif target == "applicant":
                add(applicants_of(case))
        return found
    add(applicants_of(case))
    if kind == "extend_deadline":
        return found
    if to_state in states and states[to_state].is_review and to_state != from_state:
        add(reviewers_of(case, states[to_state].roles))
    if kind in ("return_to_applicant", "reject") and from_state in states:
        before = previous_stage(definition, case, from_state)
        if before is not None:
            add(reviewers_of(case, before.roles))
    if kind == "withdraw" and from_state in states and states[from_state].is_review:
        add(reviewers_of(case, states[from_state].roles))
    return found
