"""Two leaders issue the same draft at once: exactly one wins; the other learns it was issued.
Two officers draft the same territory at once: a case lands in one decision only."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from htsd_workflow.cases.models import CaseEvent
from htsd_workflow.core.errors import Conflict
from htsd_workflow.decisions.models import Decision, DecisionEntry
from htsd_workflow.decisions.operations import draft_decision, issue_decision
from htsd_workflow.extensions import db
from tests.cases.test_concurrency import two_racers
from tests.factories import COMMUNE, DISTRICT

pytestmark = pytest.mark.pinned_clock  # drafts and rounds of 2026, dates of that December


def test_two_leaders_issuing_one_draft_at_once_issue_it_once(app, ctx, make, recognised):
    recognised()
    recognised()
    decision = draft_decision("family", 2026, COMMUNE, make.reviewer("commune_reviewer", COMMUNE))
    first_leader, second_leader = make.user("manager", DISTRICT), make.user("manager", DISTRICT)
    db.session.commit()
    ids = (decision.id, first_leader.id, second_leader.id)

    def issue_as(user_id, number):
        from htsd_workflow.auth.models import User

        return lambda: issue_decision(
            ids[0], number, date(2026, 12, 20), "A", db.session.get(User, user_id)
        ).id

    results = two_racers(app, issue_as(ids[1], "10"), issue_as(ids[2], "11"))
    assert results["first"][0] == "ok"
    assert results["second"][0] == "error" and isinstance(results["second"][1], Conflict)
    db.session.expire_all()
    assert db.session.get(Decision, decision.id).number == "10/QĐ-UBND"
    events = db.session.scalar(
        select(func.count()).select_from(CaseEvent).where(CaseEvent.trigger == "decision_issued")
    )
    assert events == 2


def test_two_drafts_at_once_never_share_a_case(app, ctx, make, recognised):
    case, _ = recognised()
    officer = make.reviewer("commune_reviewer", COMMUNE)
    db.session.commit()

    def draft():
        from htsd_workflow.auth.models import User

        return draft_decision("family", 2026, COMMUNE, db.session.get(User, officer.id)).id

    results = two_racers(app, draft, draft)
    db.session.expire_all()
    listed = db.session.scalars(
        select(DecisionEntry.decision_id).where(DecisionEntry.case_id == case.id)
    ).all()
    assert len(listed) == 1
    assert {outcome for outcome, _ in results.values()} <= {"ok", "error"}
    for outcome, value in results.values():
        if outcome == "error":
            assert isinstance(value, Conflict)
