"""Screen words read as natural administrative Vietnamese; small frictions gone (issue 21)."""

from __future__ import annotations

import re

from htsd_workflow.cases.models import Case
from htsd_workflow.extensions import db
from tests.clients import text
from tests.factories import COMMUNE, PROVINCE


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


def test_an_admin_links_an_applicant_by_a_households_code_or_name(as_user, make):
    from sqlalchemy import select

    from htsd_workflow.auth.models import User

    make.subject("family", COMMUNE, name="Hộ Y Tìm Một", external_code="KT-0001")
    make.subject("family", COMMUNE, name="Hộ Y Tìm Hai")
    wanted = make.subject("family", COMMUNE, name="Hộ Y Tìm Ba", external_code="KT-0003")
    admin = as_user(make.user("admin", PROVINCE))
    page = text(admin.get("/admin/users/new"))
    assert "Mã đối tượng" not in page and 'name="subject_query"' in page
    form = {"username": "chuho-tim", "full_name": "Y Tìm", "role": "applicant", "password": ""}
    # part of a name without diacritics finds three: the page offers them to choose from
    several = admin.post("/admin/users/new", {**form, "subject_query": "y tim"})
    assert several.status_code == 422
    assert "Có 3 đối tượng khớp" in text(several)
    assert text(several).count('type="radio" name="subject_id"') == 3
    assert db.session.scalar(select(User).where(User.username == "chuho-tim")) is None
    # the household's code finds one: the account is made and linked to it
    made = admin.post("/admin/users/new", {**form, "subject_query": "KT-0003"})
    assert made.status_code == 200  # the temporary password, shown once
    user = db.session.scalar(select(User).where(User.username == "chuho-tim"))
    assert user.subject_id == wanted.id
    nothing = admin.post("/admin/users/new", {**form, "username": "x2", "subject_query": "zzz"})
    assert nothing.status_code == 422 and "Không tìm thấy" in text(nothing)
