"""What a household sees of its own case: plain help, its own history, no office notes."""

from __future__ import annotations

import re

from htsd_workflow.cases.operations import claim_case, release_case
from htsd_workflow.extensions import db
from tests.clients import text
from tests.factories import COMMUNE


def test_the_self_assessment_shows_plain_help_and_no_office_note(as_user, make):
    case, applicant = make.draft("family", COMMUNE)
    page = text(as_user(applicant).get(f"/cases/{case.id}/assessment"))
    assert "giá trị tạm" not in page and "đối chiếu văn bản" not in page
    hints = re.findall(r'<p class="hint">(Điểm cho[^<]*)</p>', page)
    items = page.count('<fieldset class="item')
    assert items >= 6 and len(hints) == items and all("Minh chứng:" in h for h in hints)


def test_the_household_history_leaves_out_the_reviewers_own_work(as_user, make):
    case, applicant = make.case_in("commune_review")
    reviewer = make.reviewer("commune_reviewer", COMMUNE)
    claim_case(case.id, reviewer)
    release_case(case.id, reviewer)
    db.session.commit()
    household = text(as_user(applicant).get(f"/cases/{case.id}"))
    history = household[household.index('<ol class="timeline">') :]
    assert "Nhận xử lý" not in history and "Trả về hàng chờ" not in history
    assert "Bắt buộc khi trả lại" not in household  # no reviewer hint in its action box
    office = text(as_user(reviewer).get(f"/cases/{case.id}"))
    assert "Nhận xử lý" in office[office.index('<ol class="timeline">') :]


def test_no_empty_deadline_label_on_the_households_page(as_user, make):
    case, applicant = make.draft("family", COMMUNE)
    page = text(as_user(applicant).get("/my"))
    assert f"HS-{case.id}" in page
    assert 'data-label="Hạn"' not in page
