"""Who may act on a case: role, level, territory and claim (refusals as domain errors)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from htsd_workflow.auth.issuers import acts_for_issuing_level
from htsd_workflow.auth.models import User
from htsd_workflow.auth.roles import DEPARTMENT_OF_ROLE, REVIEWER_ROLES
from htsd_workflow.auth.scope import in_scope
from htsd_workflow.cases.definitions import WorkflowDefinition
from htsd_workflow.cases.engine import get_registry
from htsd_workflow.cases.models import (
    Case,
    PartClaim,
)
from htsd_workflow.core import labels
from htsd_workflow.core.errors import (
    Conflict,
    NotAllowed,
    NotFound,
    later,
)
from htsd_workflow.decisions.models import Decision, DecisionEntry
from htsd_workflow.extensions import db


def actor_department(user: User) -> str | None:
    return DEPARTMENT_OF_ROLE.get(user.role)


def _require_active(user: User | None) -> None:
    if user is None or not user.is_active:
        raise NotAllowed(_l("Tài khoản không còn hoạt động."))


def claim_part(user: User, state) -> str | None:
    """The part of a joint stage a user works: their department, if the stage lists it."""
    department = actor_department(user)
    return department if department in state.joint else None


def part_claims_of(case_ids) -> dict[tuple[int, str], int]:
    """Who holds each claimed department part of these cases: (case id, part) -> user id."""
    if not case_ids:
        return {}
    rows = db.session.execute(
        select(PartClaim.case_id, PartClaim.part, PartClaim.user_id).where(
            PartClaim.case_id.in_(case_ids)
        )
    )
    return {(case_id, part): user_id for case_id, part, user_id in rows}


def claim_holder(case, user: User, state, part_claims: dict | None) -> int | None:
    """Who holds what ``user`` would act on: at a joint stage their department's part (the
    other department's claim does not hold it), elsewhere the whole case."""
    if state.joint:
        part = claim_part(user, state)
        if part is None:
            return None
        if part_claims is None:
            part_claims = part_claims_of([case.id])
        return part_claims.get((case.id, part))
    return case.claimed_by_id


def _check_actor(
    user: User,
    case,
    definition: WorkflowDefinition,
    specs,
    part_claims: dict | None = None,
    *,
    scoped: bool = False,
) -> None:
    """Refuse unless the actor's role, level, territory and claim allow acting on the case
    (``scoped``: the caller has already found the case in the actor's territory)."""
    _require_active(user)
    if not scoped and not in_scope(user, case):
        raise NotFound(_l("Không tìm thấy hồ sơ trong phạm vi của bạn."))
    roles = {role for spec in specs for role in spec.roles}
    state = definition.states[case.state]
    reviewing = state.is_review and user.role != "applicant"
    if reviewing and user.role not in state.roles and user.role in REVIEWER_ROLES:
        # a reviewer of another stage: the case has moved on (or is not yet theirs)
        raise Conflict(
            _l(
                "Hồ sơ hiện ở bước “%(state)s”, không còn trong hàng chờ của bạn.",
                state=later(labels.state_label, case.state, definition),
            ),
            details={"state": case.state},
        )
    if user.role not in roles or (reviewing and user.role not in state.roles):
        raise NotAllowed(
            _l(
                "Vai trò của bạn không được thực hiện thao tác này khi hồ sơ ở bước “%(state)s”.",
                state=later(labels.state_label, case.state, definition),
            )
        )
    if any(spec.issuing_level for spec in specs):
        level, path = issuing_territory(case)
        if not acts_for_issuing_level(user, level, path):
            raise NotAllowed(
                _l(
                    "Chỉ cán bộ hoặc lãnh đạo của cấp đã ban hành quyết định công nhận, "
                    "trên địa bàn của quyết định, mới được thực hiện thao tác này."
                )
            )
    holder = claim_holder(case, user, state, part_claims) if state.is_review else None
    if holder is not None and holder != user.id and user.role != "applicant":
        raise NotAllowed(_l("Hồ sơ đang do cán bộ khác nhận xử lý; chỉ người đó được thao tác."))


def issuing_territory(case) -> tuple[str, tuple[str, str | None, str | None]]:
    """The level and territory (unit path) that issued the decision listing ``case`` or, while
    no decision lists it, that will issue it: the ``decision:`` block of its province's set, by
    the level that manages its subject."""
    row = db.session.execute(
        select(
            Decision.level, Decision.province_code, Decision.district_code, Decision.commune_code
        )
        .join(DecisionEntry, DecisionEntry.decision_id == Decision.id)
        .where(DecisionEntry.case_id == case.id)
    ).first()
    if row is not None:
        return row.level, (row.province_code, row.district_code, row.commune_code)
    from htsd_workflow.cases.starting import workflow_set_of  # starting imports this module

    definition = get_registry().definition(case.title, workflow_set_of(case.province_code))
    level = definition.issuing_level(case.entry_level)
    return level, (
        case.province_code,
        case.district_code if level != "province" else None,
        case.commune_code if level == "commune" else None,
    )


def _load_case_for(case_id: int, user: User, *, lock: bool = False) -> Case:
    statement = select(Case).where(Case.id == case_id)
    if lock:
        statement = statement.with_for_update(of=Case).execution_options(populate_existing=True)
    case = db.session.scalar(statement)
    if case is None or not in_scope(user, case):
        raise NotFound(_l("Không tìm thấy hồ sơ trong phạm vi của bạn."))
    return case
