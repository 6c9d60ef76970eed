"""Screen words read as natural administrative Vietnamese; small frictions gone (issue 21)."""

from __future__ import annotations

import re

from htsd_workflow.cases.models import Case
from htsd_workflow.extensions import db
from tests.factories import COMMUNE, PROVINCE
from tests.web.conftest import text


def _words(page: str) -> str:
    """The page's text, tags out, spaces folded."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))


def test_the_household_is_told_the_stage_without_a_doubled_word(as_user, make):
    case, applicant = make.case_in("commune_review")
    words = _words(text(as_user(applicant).get(f"/cases/{case.id}")))
    assert "Chờ xã xét duyệt" in words
    assert not re.search(r"chờ chờ", words, re.I)


def test_the_current_stage_has_no_doubled_brackets(as_user, make):
    case, _ = make.case_in("provincial_confirmation")
    officer = as_user(make.user("education_reviewer", PROVINCE))
    words = _words(text(officer.get(f"/cases/{case.id}")))
    assert ") (" not in words and "Cấp tỉnh" in words


def test_a_name_equal_to_the_role_is_shown_once_and_menu_names_say_what_they_are(as_user, make):
    admin = make.user("admin", PROVINCE, full_name="Quản trị hệ thống")
    page = text(as_user(admin).get("/admin/users"))
    assert "Quản trị hệ thống · Quản trị hệ thống" not in page
    nav = page[page.index('<nav class="main"') : page.index("</nav>")]
    assert "Thư điện tử gửi không được" in nav and "Thư gửi lỗi" not in nav
    commune = as_user(make.user("commune_reviewer", COMMUNE))
    page = text(commune.get("/queue"))
    nav = page[page.index('<nav class="main"') : page.index("</nav>")]
    assert ">Tổng số theo địa bàn<" in nav


def test_claiming_from_the_queue_opens_the_case(as_user, make):
    case, _ = make.case_in("commune_review")
    officer = make.user("commune_reviewer", COMMUNE)
    claimed = as_user(officer).post(f"/cases/{case.id}/claim", {"back": "/queue"})
    assert claimed.status_code == 302
    assert claimed.headers["Location"].endswith(f"/cases/{case.id}")
    db.session.expire_all()
    assert db.session.get(Case, case.id).claimed_by_id == officer.id
