"""Personal data on request: an admin exports or erases a household's personal data.

Erasing keeps the cases, scores and history (anonymised figures for the reports) and removes
what identifies people: names, phone, address, codes, evidence notes and the accounts' details.
"""

from __future__ import annotations

import secrets

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from htsd_workflow.audit.operations import record_audit
from htsd_workflow.auth.models import User
from htsd_workflow.auth.operations import revoke_api_tokens
from htsd_workflow.auth.scope import in_scope
from htsd_workflow.cases.assessment import erase_evidence_of
from htsd_workflow.cases.models import Case, CaseEvent
from htsd_workflow.core.errors import NotAllowed, NotFound
from htsd_workflow.core.text import search_key
from htsd_workflow.extensions import db
from htsd_workflow.subjects.models import Subject


def _subject_for_admin(subject_id: int, actor: User) -> Subject:
    if actor.role != "admin":
        raise NotAllowed(_l("Chỉ quản trị hệ thống được xuất hoặc xóa dữ liệu cá nhân."))
    subject = db.session.get(Subject, subject_id)
    if subject is None or not in_scope(actor, subject):
        raise NotFound(_l("Không tìm thấy đối tượng trong phạm vi của bạn."))
    return subject


def export_personal_data(subject_id: int, actor: User) -> dict:
    """Everything the system holds about a subject, as JSON-ready data."""
    subject = _subject_for_admin(subject_id, actor)
    record_audit("personal_data_export", actor=actor, target=f"subject:{subject.id}")
    accounts = db.session.scalars(select(User).where(User.subject_id == subject.id)).all()
    cases = db.session.scalars(select(Case).where(Case.subject_id == subject.id)).all()
    return {
        "subject": {
            "id": subject.id,
            "kind": subject.kind,
            "name": subject.name,
            "head_name": subject.head_name,
            "phone": subject.phone,
            "address": subject.address,
            "external_code": subject.external_code,
            "unit_code": subject.unit_code,
        },
        "accounts": [
            {
                "username": u.username,
                "full_name": u.full_name,
                "email": u.email,
                "phone": u.phone,
                "created_at": u.created_at.isoformat(),
            }
            for u in accounts
        ],
        "cases": [
            {
                "id": case.id,
                "title": case.title,
                "year": case.year,
                "state": case.state,
                "items": [
                    {
                        "code": i.code,
                        "score": i.score,
                        "evidence": i.evidence,
                        "reviewed_score": i.reviewed_score,
                        "review_note": i.review_note,
                    }
                    for i in case.items
                ],
                "history": [
                    {
                        "at": e.at.isoformat(),
                        "trigger": e.trigger,
                        "from_state": e.from_state,
                        "to_state": e.to_state,
                        "comment": e.comment,
                    }
                    for e in db.session.scalars(
                        select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id)
                    )
                ],
            }
            for case in cases
        ],
    }


def erase_personal_data(subject_id: int, actor: User) -> None:
    """Anonymise a subject and its accounts; keep cases and scores for the figures."""
    subject = _subject_for_admin(subject_id, actor)
    record_audit("personal_data_erase", actor=actor, target=f"subject:{subject.id}")
    label = f"(đã ẩn danh #{subject.id})"
    subject.name = label
    subject.name_search = search_key(label)
    subject.head_name = None
    subject.phone = None
    subject.address = None
    subject.external_code = None
    for user in db.session.scalars(select(User).where(User.subject_id == subject.id)):
        user.username = f"an-danh-{user.id}"
        user.full_name = None
        user.email = None
        user.phone = None
        user.is_active_user = False
        user.session_token = secrets.token_hex(8)
        revoke_api_tokens(user.id)
    erase_evidence_of(subject.id)
    db.session.flush()
