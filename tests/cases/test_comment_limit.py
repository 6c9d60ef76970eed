"""One length limit for comments, on the pages as in the API: a comment goes into the
append-only history and into every notification of the move, so a longer one is refused with
nothing written."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from htsd_workflow.cases.models import MAX_COMMENT_LENGTH, Case, CaseEvent
from htsd_workflow.extensions import db
from htsd_workflow.notifications.models import OutboxMessage
from htsd_workflow.queues.models import BulkJob
from tests.factories import COMMUNE

TOO_LONG = "Thiếu minh chứng. " * (MAX_COMMENT_LENGTH // 18 + 1)


def _written(case_id: int) -> tuple[int, int, str]:
    db.session.expire_all()
    events = db.session.scalar(
        select(func.count()).select_from(CaseEvent).where(CaseEvent.case_id == case_id)
    )
    outbox = db.session.scalar(select(func.count()).select_from(OutboxMessage))
    return events, outbox, db.session.get(Case, case_id).state


def test_a_comment_over_the_limit_is_refused_on_the_case_page(make, as_user):
    assert len(TOO_LONG.strip()) > MAX_COMMENT_LENGTH
    case, _applicant = make.case_in("commune_review")
    before = _written(case.id)
    officer = as_user(make.reviewer("commune_reviewer", COMMUNE))
    form = {"trigger": "return_to_applicant", "comment": TOO_LONG, "version": case.version}
    answer = officer.post(f"/cases/{case.id}/actions", form)
    assert answer.status_code == 422
    assert str(MAX_COMMENT_LENGTH) in answer.get_data(as_text=True).replace(".", "")
    assert _written(case.id) == before
    # at the limit it goes through
    form["comment"] = "x" * MAX_COMMENT_LENGTH
    assert officer.post(f"/cases/{case.id}/actions", form).status_code == 302
    assert _written(case.id)[2] == "returned"


def test_a_bulk_comment_over_the_limit_is_refused_before_any_job(make, as_user):
    case, _applicant = make.case_in("commune_review")
    officer = as_user(make.reviewer("commune_reviewer", COMMUNE))
    answer = officer.post(
        "/queue/bulk",
        {"case_id": [str(case.id)], "trigger": "return_to_applicant", "comment": TOO_LONG},
    )
    assert answer.status_code == 422
    assert db.session.scalar(select(func.count()).select_from(BulkJob)) == 0


def test_the_operations_refuse_a_long_comment_whoever_calls_them(make):
    from htsd_workflow.cases.operations import fire_bulk, fire_trigger
    from htsd_workflow.core.errors import InvalidInput

    case, _applicant = make.case_in("commune_review")
    officer = make.reviewer("commune_reviewer", COMMUNE)
    for fire in (
        lambda: fire_trigger(case.id, "return_to_applicant", officer, comment=TOO_LONG),
        lambda: fire_bulk([case.id], "return_to_applicant", officer, comment=TOO_LONG),
    ):
        with pytest.raises(InvalidInput) as refused:
            fire()
        assert "comment" in refused.value.details
        db.session.rollback()
