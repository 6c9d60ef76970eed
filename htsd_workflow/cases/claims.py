"""Claims: a reviewer takes a case (or, at a joint stage, their department's part) and gives
it back; a supervisor takes over; a deactivated user's claims are released."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, insert, select, update

from htsd_workflow.auth.models import User
from htsd_workflow.auth.roles import SUPERVISOR_ROLES
from htsd_workflow.auth.scope import in_scope
from htsd_workflow.cases.engine import get_registry
from htsd_workflow.cases.models import (
    Case,
    CaseEvent,
    PartClaim,
)
from htsd_workflow.cases.permissions import _load_case_for, claim_part
from htsd_workflow.cases.planning import clean_comment
from htsd_workflow.cases.writing import _expire_cases, _record_event
from htsd_workflow.core.errors import (
    Conflict,
    InvalidInput,
    NotAllowed,
)
from htsd_workflow.core.time import utcnow
from htsd_workflow.extensions import db


def _is_supervisor(user: User, case: Case) -> bool:
    definition = get_registry().definition_of(case)
    if not in_scope(user, case):
        return False
    if user.role in SUPERVISOR_ROLES:
        return True
    state = definition.states[case.state]
    return state.is_review and user.role in definition.supervising_roles(case.state)


def claim_case(
    case_id: int, user: User, *, take_over: bool = False, note: str | None = None, now=None
) -> Case:
    """Take a case in the queue; a supervisor may take over someone else's claim with a note.

    At a joint stage the claim holds only the claimant's department's part.
    """
    now = now or utcnow()
    case = _load_case_for(case_id, user, lock=True)
    state = get_registry().definition_of(case).states[case.state]
    if not state.is_review:
        raise Conflict(_l("Chỉ nhận xử lý được hồ sơ đang chờ xét duyệt."))
    works_here = user.role in state.roles
    part = claim_part(user, state)
    if state.joint and part is None:
        raise NotAllowed(
            _l("Ở bước liên ngành, chỉ chuyên viên các sở được nhận phần của sở mình.")
        )
    held = db.session.get(PartClaim, (case.id, part)) if part else None
    holder = held.user_id if held is not None else (None if part else case.claimed_by_id)
    data = {"part": part} if part else None
    if holder == user.id:
        return case
    if holder is not None:
        if not (take_over and _is_supervisor(user, case)):
            raise Conflict(
                _l("Hồ sơ đã có cán bộ khác nhận xử lý."),
                details={"claimed_by": holder, **(data or {})},
            )
        note = clean_comment(note, "note")
        if not note:
            raise InvalidInput(
                _l("Cần ghi lý do khi nhận thay hồ sơ của người khác."),
                details={"note": _l("Bắt buộc")},
            )
        if held is not None:
            held.user_id, held.claimed_at = user.id, now
        else:
            case.claimed_by_id, case.claimed_at = user.id, now
        _record_event(
            case,
            user,
            "take_over",
            comment=note,
            now=now,
            data={"previous_claimant": holder, **(data or {})},
        )
        return case
    if not works_here:
        raise NotAllowed(_l("Chỉ cán bộ xử lý bước này được nhận hồ sơ."))
    if part:
        db.session.add(PartClaim(case_id=case.id, part=part, user_id=user.id, claimed_at=now))
    else:
        case.claimed_by_id = user.id
        case.claimed_at = now
    _record_event(case, user, "claim", comment=None, now=now, data=data)
    return case


def release_case(case_id: int, user: User, *, now=None) -> Case:
    """Give a claimed case back to the queue (the claimant or a supervisor).

    At a joint stage the claimant gives back their department's part; a supervisor, every part.
    """
    now = now or utcnow()
    case = _load_case_for(case_id, user, lock=True)
    held = [(None, case.claimed_by_id)] if case.claimed_by_id is not None else []
    held += [
        (c.part, c.user_id)
        for c in db.session.scalars(
            select(PartClaim).where(PartClaim.case_id == case.id).order_by(PartClaim.part)
        )
    ]
    if not held:
        return case
    own = [(part, holder) for part, holder in held if holder == user.id]
    if not own and not _is_supervisor(user, case):
        raise NotAllowed(_l("Chỉ người đã nhận hồ sơ (hoặc cấp trên) được trả về hàng chờ."))
    for part, previous in own or held:
        if part is None:
            case.claimed_by_id = None
            case.claimed_at = None
        else:
            db.session.execute(
                delete(PartClaim).where(PartClaim.case_id == case.id, PartClaim.part == part)
            )
        data = {"previous_claimant": previous}
        if part:
            data["part"] = part
        _record_event(case, user, "release", comment=None, now=now, data=data)
    return case


def release_claims_of(user_id: int, actor: User | None, *, now=None) -> int:
    """Release every claim a user holds (on deactivation), with a history row each."""
    now = now or utcnow()
    rows = db.session.execute(
        select(Case.id, Case.state).where(Case.claimed_by_id == user_id).with_for_update()
    ).all()
    parts = db.session.execute(
        select(PartClaim.case_id, PartClaim.part, Case.state)
        .join(Case, Case.id == PartClaim.case_id)
        .where(PartClaim.user_id == user_id)
        .order_by(PartClaim.case_id)
        .with_for_update(of=Case)
    ).all()
    if parts:
        db.session.execute(delete(PartClaim).where(PartClaim.user_id == user_id))
        db.session.execute(
            insert(CaseEvent),
            [
                {
                    "case_id": p.case_id,
                    "at": now,
                    "actor_id": actor.id if actor else None,
                    "actor_role": actor.role if actor else None,
                    "trigger": "release",
                    "from_state": p.state,
                    "to_state": p.state,
                    "comment": "Tài khoản người nhận xử lý đã bị khóa",
                    "data": {"previous_claimant": user_id, "part": p.part},
                }
                for p in parts
            ],
        )
    if not rows:
        return len(parts)
    db.session.execute(
        update(Case)
        .where(Case.id.in_([r.id for r in rows]))
        .values(claimed_by_id=None, claimed_at=None)
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        insert(CaseEvent),
        [
            {
                "case_id": r.id,
                "at": now,
                "actor_id": actor.id if actor else None,
                "actor_role": actor.role if actor else None,
                "trigger": "release",
                "from_state": r.state,
                "to_state": r.state,
                "comment": "Tài khoản người nhận xử lý đã bị khóa",
                "data": {"previous_claimant": user_id},
            }
            for r in rows
        ],
    )
    _expire_cases([r.id for r in rows])
    return len(rows) + len(parts)
