"""An admin exports and erases a household's personal data; the figures stay."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from htsd_workflow.api.framework import issue_token
from htsd_workflow.audit.models import AuditEntry
from htsd_workflow.audit.operations import audit_entries
from htsd_workflow.auth.models import ApiToken, User
from htsd_workflow.cases.models import AssessmentItem, Case
from htsd_workflow.core.errors import NotAllowed
from htsd_workflow.extensions import db
from htsd_workflow.subjects.models import Subject
from htsd_workflow.subjects.privacy import erase_personal_data, export_personal_data


def test_export_then_erase_keeps_the_case_and_removes_the_person(ctx, make):
    case, applicant = make.case_in("commune_review", name="Hộ Y Blong Bí Mật")
    admin = make.user("admin", "62")
    exported = export_personal_data(case.subject_id, admin)
    assert exported["subject"]["name"] == "Hộ Y Blong Bí Mật"
    assert exported["cases"][0]["history"][0]["to_state"] == "draft"
    erase_personal_data(case.subject_id, admin)
    db.session.commit()
    subject = db.session.get(Subject, case.subject_id)
    assert "Bí Mật" not in subject.name and subject.head_name is None
    account = db.session.get(User, applicant.id)
    assert not account.is_active and account.username.startswith("an-danh-")
    assert db.session.get(Case, case.id).state == "commune_review"
    evidence = db.session.scalars(
        select(AssessmentItem.evidence).where(AssessmentItem.case_id == case.id)
    ).all()
    assert set(evidence) == {None}
    scores = db.session.scalars(
        select(AssessmentItem.score).where(AssessmentItem.case_id == case.id)
    ).all()
    assert None not in scores


def test_only_admins_may_export_or_erase(ctx, make):
    case, _ = make.case_in("draft")
    officer = make.user("commune_reviewer", "23281")
    with pytest.raises(NotAllowed):
        export_personal_data(case.subject_id, officer)
    with pytest.raises(NotAllowed):
        erase_personal_data(case.subject_id, officer)


def test_privacy_actions_are_audited_and_the_log_cannot_be_edited(ctx, make):
    case, _ = make.case_in("draft")
    admin = make.user("admin", "62")
    export_personal_data(case.subject_id, admin)
    erase_personal_data(case.subject_id, admin)
    db.session.commit()
    actions = [e.action for e in audit_entries(admin) if e.action.startswith("personal")]
    assert actions == ["personal_data_erase", "personal_data_export"]
    with pytest.raises(NotAllowed):
        audit_entries(make.user("manager", "62"))
    if db.engine.dialect.name == "postgresql":
        with pytest.raises(Exception, match="append-only"):
            db.session.execute(AuditEntry.__table__.delete())
        db.session.rollback()


def test_erasing_a_household_revokes_its_accounts_api_tokens(ctx, make):
    case, applicant = make.case_in("commune_review")
    admin = make.user("admin", "62")
    issue_token(applicant)
    db.session.commit()
    erase_personal_data(case.subject_id, admin)
    db.session.commit()
    revoked = db.session.scalars(
        select(ApiToken.revoked_at).where(ApiToken.user_id == applicant.id)
    ).all()
    assert revoked and None not in revoked
