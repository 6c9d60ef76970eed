"""What a notice says: never "by" a moment already past, nothing to do once a case ended."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from htsd_workflow.cases.engine import get_registry
from htsd_workflow.cases.models import Case
from htsd_workflow.core.time import to_local
from htsd_workflow.extensions import db
from htsd_workflow.notifications.messages import render_message
from htsd_workflow.notifications.operations import dispatch_pending, inbox_for
from htsd_workflow.sla.operations import scan_sla
from tests.factories import COMMUNE

MONDAY = datetime(2026, 12, 7, 2)  # 09:00 local


def test_an_overdue_notice_says_how_long_overdue_never_by_a_past_moment(ctx, make):
    case, _ = make.case_in("commune_review", now=MONDAY)
    reviewer = make.reviewer("commune_reviewer", COMMUNE)
    due = db.session.get(Case, case.id).due_at
    due_text = to_local(due).strftime("%H:%M %d/%m/%Y")
    dispatch_pending()
    arrival = inbox_for(reviewer)[0]
    assert f"trước {due_text}" in arrival.body and f"trước {due_text}" in arrival.title

    assert scan_sla(due + timedelta(days=3)).fired  # three days past the deadline
    dispatch_pending()
    db.session.commit()
    overdue = inbox_for(reviewer)[0]
    assert overdue.id != arrival.id
    for text in (overdue.title, overdue.body):
        assert f"trước {due_text}" not in text
        assert re.search(r"đã quá hạn \d+ ngày làm việc", text), text


def test_a_recognition_notice_asks_the_household_for_nothing(ctx, make):
    case, applicant = make.case_in("commune_review")
    case.state, case.is_open = "recognized", False
    definition = get_registry().definition(case.title)
    title, body, _ = render_message(
        "approve", {"to_state": "recognized"}, case, applicant, definition
    )
    assert "Chúc mừng" in body
    assert "Việc cần làm" not in body and "theo dõi tiến độ" not in body
    assert "Việc cần làm" not in title
    applicant.locale = "en"
    _, body, _ = render_message("approve", {"to_state": "recognized"}, case, applicant, definition)
    assert "Congratulations" in body and "What to do" not in body
