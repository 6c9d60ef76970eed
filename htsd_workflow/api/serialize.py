"""How the API shows a case: the summary of a list row and the full detail (facts, sign-offs,
part claims, assessment items, allowed triggers), and the helpers the resources share."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import Integer, String, bindparam, select
from sqlalchemy.orm import aliased

from htsd_workflow.auth.models import User
from htsd_workflow.auth.scope import in_scope
from htsd_workflow.cases.engine import get_registry
from htsd_workflow.cases.models import AssessmentItem, Case, PartClaim, SignOff
from htsd_workflow.cases.operations import (
    allowed_triggers,
)
from htsd_workflow.core.errors import NotFound
from htsd_workflow.criteria.scoring import compute_result
from htsd_workflow.extensions import db
from htsd_workflow.geography.models import Unit
from htsd_workflow.geography.queries import unit_is_dbkk_in
from htsd_workflow.subjects.models import Subject


def _case_unit_code(case: Case) -> str:
    return case.commune_code or case.district_code or case.province_code


def _summary(case: Case, subject: dict, claimed_by: str | None) -> dict:
    return {
        "id": case.id,
        "subject": subject,
        "title": case.title,
        "year": case.year,
        "state": case.state,
        "version": case.version,
        "unit_code": _case_unit_code(case),
        "due_at": case.due_at,
        "claimed_by": claimed_by,
        "is_escalated": bool(case.is_escalated),
    }


def case_summary(case: Case) -> dict:
    """A case in a list (its subject and claimant loaded with it)."""
    return _summary(
        case,
        {"id": case.subject.id, "name": case.subject.name, "kind": case.subject.kind},
        case.claimed_by.username if case.claimed_by_id else None,
    )


_claimer = aliased(User)


_signer = aliased(User)


#: what a case's answer shows beyond the case row: its subject, who claimed it, whether its
#: commune is ĐBKK, and its sign-offs (at most one per department, so at most a few rows)
_CASE_FACTS = (
    select(
        Subject.id,
        Subject.name,
        Subject.kind,
        select(_claimer.username)
        .where(_claimer.id == bindparam("claimed_by_id", type_=Integer))
        .scalar_subquery(),
        select(unit_is_dbkk_in(bindparam("year", type_=Integer)))
        .where(Unit.code == bindparam("commune_code", type_=String))
        .scalar_subquery(),
        SignOff.department,
        _signer.username,
        SignOff.at,
    )
    .select_from(Subject)
    .outerjoin(SignOff, SignOff.case_id == bindparam("case_id", type_=Integer))
    .outerjoin(_signer, _signer.id == SignOff.user_id)
    .where(Subject.id == bindparam("subject_id", type_=Integer))
    .order_by(SignOff.id)
)


_CASE_ITEMS = select(
    AssessmentItem.code,
    AssessmentItem.score,
    AssessmentItem.evidence,
    AssessmentItem.reviewed_score,
    AssessmentItem.review_note,
).where(AssessmentItem.case_id == bindparam("case_id", type_=Integer))


def case_detail(case: Case, user: User) -> dict:
    """The full case as the API answers it, in two statements whatever the number of items
    and sign-offs (the case's own columns come from ``case`` as it is: after a transition,
    the locked row the operation returns)."""
    # Core statements on the session's connection (inside its transaction): plain rows, none
    # of the ORM's per-statement work; flushed first, as the session's autoflush would
    db.session.flush()
    connection = db.session.connection()
    facts = connection.execute(
        _CASE_FACTS,
        {
            "case_id": case.id,
            "subject_id": case.subject_id,
            "claimed_by_id": case.claimed_by_id,
            "commune_code": case.commune_code,
            "year": case.year,
        },
    ).all()
    subject_id, subject_name, subject_kind, claimed_by, is_dbkk = facts[0][:5]
    subject = {"id": subject_id, "name": subject_name, "kind": subject_kind}
    items = {row.code: row for row in connection.execute(_CASE_ITEMS, {"case_id": case.id})}
    cset = get_registry().criteria_set(case.criteria_set_id)
    part_claims = []
    if get_registry().definition_of(case).states[case.state].joint:
        part_claims = [
            {"part": part, "user": username, "at": at}
            for part, username, at in connection.execute(
                select(PartClaim.part, User.username, PartClaim.claimed_at)
                .join(User, User.id == PartClaim.user_id)
                .where(PartClaim.case_id == case.id)
                .order_by(PartClaim.part)
            )
        ]
    result = compute_result(
        cset,
        {
            code: row.reviewed_score if row.reviewed_score is not None else row.score
            for code, row in items.items()
        },
        bool(is_dbkk),
        case.level_applied,
    )
    return {
        **_summary(case, subject, claimed_by),
        "workflow": case.workflow,
        "returned_from": case.returned_from,
        "is_extended": bool(case.is_extended),
        "allowed_triggers": allowed_triggers(case, user),
        "assessment": {
            "criteria_set_id": cset.id,
            "items": [
                {
                    "code": ci.code,
                    "label": ci.label,
                    "max_points": ci.max_points,
                    "score": items[ci.code].score if ci.code in items else None,
                    "evidence": items[ci.code].evidence if ci.code in items else None,
                    "reviewed_score": items[ci.code].reviewed_score if ci.code in items else None,
                    "review_note": items[ci.code].review_note if ci.code in items else None,
                }
                for ci in cset.items
            ],
            "total": result.total,
            "passed": result.passed,
            "missing": list(result.missing),
            "kind": cset.kind,
            "level": (
                {"code": result.level.code, "label": result.level.label} if result.level else None
            ),
            "level_applied": (
                {"code": result.applied.code, "label": result.applied.label}
                if result.applied
                else None
            ),
        },
        "sign_offs": [
            {"department": department, "user": signer, "at": at}
            for *_head, department, signer, at in facts
            if department is not None
        ],
        "part_claims": part_claims,
        "decision": _decision_of(case),
    }


def _decision_of(case: Case) -> dict | None:
    """A recognised (or revoked) case's decision: number, date, and where its certificate is."""
    if case.state not in ("recognized", "revoked"):
        return None
    from htsd_workflow.decisions.queries import entry_of_case

    entry = entry_of_case(case.id)
    if entry is None:
        return None
    return {
        "number": entry.decision.number,
        "date": entry.decision.issued_on,
        "body_name": entry.decision.body_name,
        "certificate": f"/api/v1/cases/{case.id}/certificate",
    }


def _visible_case(case_id: int, user: User) -> Case:
    case = db.session.get(Case, case_id)
    if case is None or not in_scope(user, case):
        raise NotFound(_l("Không tìm thấy hồ sơ trong phạm vi của bạn."))
    return case


def _page(rows, limit):
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (str(rows[-1].id) if more and rows else None)
