"""Decisions: drafting, issuing (history and notifications), never changed after issue, one
decision per case, revocation, and what a verification code shows."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from htsd_workflow.cases.models import CaseEvent
from htsd_workflow.cases.operations import fire_trigger
from htsd_workflow.core.errors import Conflict, InvalidInput, NotAllowed, NotFound
from htsd_workflow.decisions.models import Decision, DecisionEntry
from htsd_workflow.decisions.operations import (
    draft_decision,
    format_code,
    issue_decision,
    remove_from_draft,
)
from htsd_workflow.decisions.queries import verification
from htsd_workflow.extensions import db
from htsd_workflow.notifications.models import OutboxMessage
from tests.factories import COMMUNE, DISTRICT, OTHER_COMMUNE_SAME_DISTRICT

pytestmark = pytest.mark.pinned_clock  # drafts and rounds of 2026, dates of that December

YEAR = 2026


def _draft(make, unit=COMMUNE):
    officer = make.reviewer("commune_reviewer", unit)
    decision = draft_decision("family", YEAR, unit, officer)
    db.session.commit()
    return decision, officer


def test_a_draft_lists_the_recognised_cases_of_its_commune_only(ctx, make, recognised):
    mine, _ = recognised()
    other, _ = recognised(OTHER_COMMUNE_SAME_DISTRICT)
    make.case_in("commune_review")  # not recognised: not listed
    decision, _ = _draft(make)
    assert [e.case_id for e in decision.entries] == [mine.id]
    assert decision.status == "draft" and decision.level == "commune"
    assert decision.body_name.startswith("Ủy ban nhân dân ")
    assert all(len(e.code) == 16 and str(e.case_id) not in e.code for e in decision.entries)
    assert other.id not in {e.case_id for e in decision.entries}


def test_only_the_issuing_level_drafts_and_only_a_manager_issues(ctx, make, recognised):
    recognised()
    district_officer = make.reviewer("district_reviewer", DISTRICT)
    with pytest.raises(InvalidInput):  # the family title is decided at commune level
        draft_decision("family", YEAR, DISTRICT, district_officer)
    applicant_case, applicant = recognised()
    with pytest.raises(NotFound):
        draft_decision("family", YEAR, COMMUNE, applicant)
    decision, officer = _draft(make)
    with pytest.raises(NotAllowed):
        issue_decision(decision.id, "12", date(2026, 12, 20), "Nguyễn Văn A", officer)


def test_issuing_writes_a_history_row_and_a_notification_per_case(ctx, make, recognised):
    first, _ = recognised()
    second, _ = recognised()
    decision, _ = _draft(make)
    manager = make.user("manager", DISTRICT)
    issued = issue_decision(decision.id, "12", date(2026, 12, 20), "Nguyễn Văn A", manager)
    db.session.commit()
    assert issued.status == "issued" and issued.number == "12/QĐ-UBND"
    for case in (first, second):
        event = db.session.scalars(
            select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id.desc())
        ).first()
        assert event.trigger == "decision_issued"
        assert event.data["number"] == "12/QĐ-UBND" and event.data["date"] == "20/12/2026"
        message = db.session.scalar(select(OutboxMessage).where(OutboxMessage.event_id == event.id))
        assert message.kind == "decision_issued" and message.case_id == case.id


def test_an_issued_decision_cannot_be_issued_again_nor_changed(ctx, make, recognised):
    case, _ = recognised()
    recognised()
    decision, officer = _draft(make)
    manager = make.user("manager", DISTRICT)
    issue_decision(decision.id, "12", date(2026, 12, 20), "Nguyễn Văn A", manager)
    db.session.commit()
    with pytest.raises(Conflict):
        issue_decision(decision.id, "13", date(2026, 12, 21), "Trần Thị B", manager)
    db.session.rollback()
    with pytest.raises(Conflict):
        remove_from_draft(decision.id, [case.id], officer)
    db.session.rollback()
    again = db.session.get(Decision, decision.id)
    assert (again.number, again.signer_name, len(again.entries)) == (
        "12/QĐ-UBND",
        "Nguyễn Văn A",
        2,
    )
    events = db.session.scalars(
        select(CaseEvent).where(CaseEvent.trigger == "decision_issued")
    ).all()
    assert len(events) == 2  # the refused second issue wrote nothing


def test_a_case_is_in_one_decision_at_most(ctx, make, recognised):
    case, _ = recognised()
    first, officer = _draft(make)
    second = draft_decision("family", YEAR, COMMUNE, officer)
    db.session.commit()
    assert [e.case_id for e in first.entries] == [case.id]
    assert second.entries == []
    with pytest.raises(IntegrityError):
        db.session.add(
            DecisionEntry(
                decision_id=second.id, case_id=case.id, position=1, code="A" * 16, name="x"
            )
        )
        db.session.flush()
    db.session.rollback()


def test_a_removed_case_goes_into_a_later_draft(ctx, make, recognised):
    case, _ = recognised()
    kept, _ = recognised()
    decision, officer = _draft(make)
    remove_from_draft(decision.id, [case.id], officer)
    db.session.commit()
    assert [e.case_id for e in db.session.get(Decision, decision.id).entries] == [kept.id]
    later = draft_decision("family", YEAR, COMMUNE, officer)
    assert [e.case_id for e in later.entries] == [case.id]


def test_issuing_a_draft_without_number_or_signer_is_refused(ctx, make, recognised):
    recognised()
    decision, _ = _draft(make)
    manager = make.user("manager", DISTRICT)
    with pytest.raises(InvalidInput) as refused:
        issue_decision(decision.id, "  ", date(2026, 12, 20), "", manager)
    assert set(refused.value.details) == {"number", "signer_name"}


def _issued(make, recognised, count=2):
    cases = [recognised()[0] for _ in range(count)]
    decision, _ = _draft(make)
    manager = make.user("manager", DISTRICT)
    issue_decision(decision.id, "7", date(2026, 12, 1), "Nguyễn Văn A", manager)
    db.session.commit()
    return db.session.get(Decision, decision.id), cases


def test_a_verification_code_shows_its_own_case_only(ctx, make, recognised):
    decision, cases = _issued(make, recognised)
    seen = set()
    for entry in decision.entries:
        found = verification(entry.code)
        assert found["name"] == entry.name and found["status"] == "valid"
        assert found["decision_number"] == "7/QĐ-UBND" and found["year"] == YEAR
        assert set(found) == {
            "code",
            "title",
            "name",
            "commune",
            "year",
            "decision_number",
            "decision_date",
            "valid_until",
            "status",
        }
        seen.add(found["name"])
        # typed in groups, lower case: the same certificate
        assert verification(format_code(entry.code).lower())["name"] == entry.name
    assert len(seen) == 2
    assert verification("A" * 16) is None
    assert verification("not a code") is None
    assert verification(str(cases[0].id)) is None


def test_a_draft_code_verifies_nothing(ctx, make, recognised):
    recognised()
    decision, _ = _draft(make)
    assert verification(decision.entries[0].code) is None


def test_revocation_is_a_transition_and_the_certificate_says_revoked(ctx, make, recognised):
    decision, cases = _issued(make, recognised)
    officer = make.reviewer("commune_reviewer", COMMUNE)
    with pytest.raises(InvalidInput):  # a reason is required
        fire_trigger(cases[0].id, "revoke", officer)
    db.session.rollback()
    revoked = fire_trigger(cases[0].id, "revoke", officer, comment="Khai sai sự thật")
    db.session.commit()
    assert revoked.state == "revoked"
    entry = next(e for e in decision.entries if e.case_id == cases[0].id)
    assert verification(entry.code)["status"] == "revoked"
    other = next(e for e in decision.entries if e.case_id == cases[1].id)
    assert verification(other.code)["status"] == "valid"
    assert db.session.get(Decision, decision.id).number == "7/QĐ-UBND"  # stays as issued
    message = db.session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.case_id == cases[0].id)
        .order_by(OutboxMessage.id.desc())
    ).first()
    assert message.kind == "revoke"


def test_a_title_expires_after_its_valid_months(ctx, make, recognised):
    decision, _ = _issued(make, recognised, count=1)
    code = decision.entries[0].code
    db.session.execute(
        Decision.__table__.update().values(issued_on=date(2025, 1, 1))
    )  # twelve months for a family: over by TEST_NOW (2026-12-07)
    db.session.commit()
    assert verification(code)["status"] == "expired"
