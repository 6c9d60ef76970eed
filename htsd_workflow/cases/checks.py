"""Cases whose stored facts disagree, and putting them right (``flask cases check``).

What the transitions keep in step — a case's state, its sign-offs, its claims, its open stage
visits — can disagree after a bug, a crash between two writers of an old version, or a hand
edit. ``find_disagreements`` lists them with plain statements; ``repair`` puts each right
through the operation that should have done it (a joint sign-off completes through the
transition writer, a claim is released with a history row), with an audit entry each.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, delete, distinct, exists, false, func, or_, select, true, update

from htsd_workflow.audit.operations import record_audit
from htsd_workflow.cases.engine import TransitionContext, get_registry
from htsd_workflow.cases.models import Case, CaseEvent, PartClaim, SignOff, StageVisit
from htsd_workflow.cases.operations import (
    PlannedChange,
    _apply,
    _lock,
    _record_event,
    _signed_departments,
)
from htsd_workflow.core.calendar import get_calendar
from htsd_workflow.core.pg import cursor
from htsd_workflow.core.time import utcnow
from htsd_workflow.extensions import db

#: the kinds of disagreement, in the order they are checked and repaired
#: (a visit is closed before a sign-off completes, since completing closes the stage's visits)
KINDS = {
    "open_visit": "a stage visit left open after the case left that stage",
    "stray_sign_off": "sign-offs kept after the case left the joint stage for another stage",
    "claim_outside_review": "claimed, but not at a stage anyone works (finished or returned)",
    "case_claim_at_joint_stage": "claimed whole at a joint stage (a claim holds one part there)",
    "stray_part_claim": "a department part claimed where it has no part, or already signed",
    "all_signed_not_recognised": "every department signed, but the case is still waiting",
}


@dataclass
class Disagreement:
    case_id: int
    kind: str
    detail: str = ""

    def __str__(self) -> str:
        text = f"HS-{self.case_id}: {self.kind} - {KINDS[self.kind]}"
        return f"{text} ({self.detail})" if self.detail else text


def _states():
    """Review, joint and final state names of every definition of every set, per definition
    (``Case.workflow``: a case is checked against the set it runs under)."""
    review, joint, final = set(), {}, set()
    for definition in get_registry().every_definition():
        for state in definition.states.values():
            if state.is_review:
                review.add((definition.ref, state.name))
            if state.joint:
                joint[(definition.ref, state.name)] = state.joint
            if state.is_final:
                final.add((definition.ref, state.name))
    return review, joint, final


def _pairs_in(pairs):
    """A clause: (cases.workflow, cases.state) is one of ``pairs``."""
    if not pairs:
        return false()
    return or_(*(and_(Case.workflow == w, Case.state == s) for w, s in sorted(pairs)))


def find_disagreements() -> list[Disagreement]:
    """Every case whose stored facts disagree, by kind (a few statements, no loop over cases)."""
    review, joint, final = _states()
    found: list[Disagreement] = []

    if joint:
        signed = db.session.execute(
            select(Case.id, Case.workflow, Case.state, func.count(distinct(SignOff.department)))
            .join(SignOff, SignOff.case_id == Case.id)
            .where(_pairs_in(joint))
            .group_by(Case.id, Case.workflow, Case.state)
        ).all()
        candidates = [r.id for r in signed if r[3] >= len(joint[(r.workflow, r.state)])]
        by_case = _signed_departments(candidates) if candidates else {}
        for r in signed:
            if r.id in by_case and set(joint[(r.workflow, r.state)]) <= by_case[r.id]:
                found.append(Disagreement(r.id, "all_signed_not_recognised"))

    for case_id, state in db.session.execute(
        select(Case.id, Case.state).where(
            Case.claimed_by_id.is_not(None), ~_pairs_in(review) if review else true()
        )
    ):
        found.append(Disagreement(case_id, "claim_outside_review", state))
    if joint:
        for (case_id,) in db.session.execute(
            select(Case.id).where(Case.claimed_by_id.is_not(None), _pairs_in(joint))
        ):
            found.append(Disagreement(case_id, "case_claim_at_joint_stage"))

    rows = db.session.execute(
        select(PartClaim.case_id, PartClaim.part, Case.workflow, Case.state)
        .join(Case, Case.id == PartClaim.case_id)
        .order_by(PartClaim.case_id, PartClaim.part)
    ).all()
    signed_parts = _signed_departments([r.case_id for r in rows]) if rows else {}
    for r in rows:
        parts = joint.get((r.workflow, r.state), ())
        if r.part not in parts or r.part in signed_parts.get(r.case_id, set()):
            found.append(Disagreement(r.case_id, "stray_part_claim", r.part))

    for (case_id,) in db.session.execute(
        select(distinct(SignOff.case_id))
        .join(Case, Case.id == SignOff.case_id)
        .where(~_pairs_in(set(joint) | final))
        .order_by(SignOff.case_id)
    ):
        found.append(Disagreement(case_id, "stray_sign_off"))

    stray_visit = or_(
        StageVisit.entered_at != Case.stage_entered_at,
        ~_pairs_in(review) if review else true(),
        and_(StageVisit.stage != Case.state, ~StageVisit.stage.startswith(Case.state + ":")),
        exists(
            select(SignOff.id).where(
                SignOff.case_id == Case.id,
                StageVisit.stage == Case.state + ":" + SignOff.department,
            )
        ),
    )
    for case_id, stage in db.session.execute(
        select(StageVisit.case_id, StageVisit.stage)
        .join(Case, Case.id == StageVisit.case_id)
        .where(StageVisit.left_at.is_(None), stray_visit)
        .order_by(StageVisit.case_id, StageVisit.id)
    ):
        found.append(Disagreement(case_id, "open_visit", stage))

    order = list(KINDS)
    return sorted(found, key=lambda d: (d.case_id, order.index(d.kind), d.detail))


REPAIR_NOTE = "Sửa dữ liệu: %s"


def _finish_sign_off(case_id: int, now: datetime) -> None:
    """Take the transition every department's signature allows, as the last signature would
    have: the same writer (state, visits, history, outbox), with no actor."""
    registry = get_registry()
    cur = cursor()
    rows = _lock([case_id], cur)
    snap = rows[0]
    definition = registry.definition_of(snap)
    state = definition.states[snap.state]
    signed = _signed_departments([case_id], cur).get(case_id, set())
    ctx = TransitionContext(
        state=snap.state,
        entry_level=snap.entry_level,
        returned_from=snap.returned_from,
        signed_departments=frozenset(signed),
        joint_departments=state.joint,
    )
    taken = registry.engine_of(snap).run(ctx, "sign")
    if taken is None or ctx.state == snap.state:
        return
    planned = PlannedChange(
        case=snap,
        transition=taken,
        from_state=snap.state,
        to_state=ctx.state,
        comment=REPAIR_NOTE % "mọi sở đã ký xác nhận",
    )
    _apply([planned], None, registry, get_calendar(), now, cur=cur)


def _release(case: Case, part: str | None, now: datetime) -> None:
    if part is None:
        previous = case.claimed_by_id
        case.claimed_by_id = None
        case.claimed_at = None
        data = {"previous_claimant": previous}
    else:
        held = db.session.get(PartClaim, (case.id, part))
        if held is None:
            return
        data = {"previous_claimant": held.user_id, "part": part}
        db.session.delete(held)
    _record_event(
        case, None, "release", comment=REPAIR_NOTE % "trả về hàng chờ", now=now, data=data
    )


def _close_visit(case_id: int, stage: str, now: datetime) -> None:
    """End the open visit when the history says the case (or the department's part) left it:
    the first move out of that stage, or the department's signature, after it began."""
    visit = db.session.scalar(
        select(StageVisit)
        .where(
            StageVisit.case_id == case_id,
            StageVisit.stage == stage,
            StageVisit.left_at.is_(None),
        )
        .order_by(StageVisit.id)
        .limit(1)
    )
    if visit is None:
        return
    base, _, department = stage.partition(":")
    left = select(CaseEvent.at, CaseEvent.trigger).where(
        CaseEvent.case_id == case_id, CaseEvent.at >= visit.entered_at
    )
    moved = db.session.execute(
        left.where(CaseEvent.from_state == base, CaseEvent.to_state != base)
        .order_by(CaseEvent.id)
        .limit(1)
    ).first()
    signed = None
    if department:
        signed = db.session.scalar(
            select(SignOff.at).where(SignOff.case_id == case_id, SignOff.department == department)
        )
    ends = [(at, trigger) for at, trigger in ([moved] if moved else [])]
    if signed is not None:
        ends.append((signed, "sign"))
    left_at, outcome = min(ends) if ends else (now, "repair")
    left_at = max(left_at, visit.entered_at)
    db.session.execute(
        update(StageVisit)
        .where(StageVisit.id == visit.id)
        .values(
            left_at=left_at,
            outcome=outcome,
            working_days=get_calendar().elapsed_working_days(visit.entered_at, left_at),
            is_late=bool(visit.due_at is not None and visit.due_at < left_at),
        )
        .execution_options(synchronize_session=False)
    )


def repair(found: list[Disagreement], *, now: datetime | None = None) -> int:
    """Put each disagreement right, with an audit entry each; return how many were repaired.

    Flushes, never commits. Each case is locked first (so a request acting on it meanwhile
    waits), and each repair checks again that it is still needed.
    """
    now = now or utcnow()
    done = 0
    for item in found:
        _lock([item.case_id])
        case = db.session.get(Case, item.case_id)
        before = case.state
        if item.kind == "all_signed_not_recognised":
            _finish_sign_off(item.case_id, now)
            db.session.expire(case)
        elif item.kind in ("claim_outside_review", "case_claim_at_joint_stage"):
            _release(case, None, now)
        elif item.kind == "stray_part_claim":
            _release(case, item.detail, now)
        elif item.kind == "stray_sign_off":
            db.session.execute(delete(SignOff).where(SignOff.case_id == item.case_id))
        elif item.kind == "open_visit":
            _close_visit(item.case_id, item.detail, now)
        record_audit(
            "case_repaired",
            target=f"case:{item.case_id}",
            details={
                "problem": item.kind,
                "detail": item.detail or None,
                "state_before": before,
                "state_after": case.state,
            },
            province_code=case.province_code,
        )
        done += 1
    db.session.flush()
    return done
