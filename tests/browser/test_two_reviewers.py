"""Two reviewers, two browsers, the same case: one wins, the other sees who acted first."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from htsd_workflow.cases.models import Case, CaseEvent
from htsd_workflow.extensions import db
from tests.factories import COMMUNE, PASSWORD, Factory

pytestmark = pytest.mark.browser


def test_the_second_reviewer_sees_the_conflict_page_naming_the_first(people, live_app):
    with live_app.app_context():
        make = Factory()
        case, _ = make.case_in("commune_review", name="Hộ Rơ Mah Hai")
        lan = make.user("commune_reviewer", COMMUNE, full_name="Chị Lan")
        minh = make.user("commune_reviewer", COMMUNE, full_name="Anh Minh")
        case_id, lan_name, minh_name = case.id, lan.username, minh.username

    first, second = people("lan"), people("minh")
    for person, username in ((first, lan_name), (second, minh_name)):
        person.page.on("dialog", lambda dialog: dialog.accept())
        person.login(username, PASSWORD)
        person.go(f"/cases/{case_id}")
        person.see("Hộ Rơ Mah Hai")
        assert person.page.locator("button[name=trigger][value=approve]").count() == 1
    second.shot("both have the case open")

    # Lan approves first
    first.page.click("button[name=trigger][value=approve]")
    first.see("Đã thực hiện")
    first.shot("approved")

    # Minh, on the page he opened before, returns it: refused, and told by whom and what
    second.page.fill("textarea[name=comment]", "Thiếu ảnh giấy khen")
    with second.expecting("status of 409"):
        second.page.click("button[name=trigger][value=return_to_applicant]")
        second.see("Chị Lan")
    body = second.page.inner_text("main")
    assert "Tải lại hồ sơ" in body and "Chờ huyện thẩm định" in body
    second.shot("conflict page")
    second.page.click("text=Tải lại hồ sơ")
    second.see("Chờ huyện thẩm định")
    assert second.page.locator("button[name=trigger][value=return_to_applicant]").count() == 0
    second.shot("reloaded")

    with live_app.app_context():
        assert db.session.get(Case, case_id).state == "district_verification"
        acted = db.session.scalar(
            select(func.count()).where(
                CaseEvent.case_id == case_id,
                CaseEvent.trigger.in_(("approve", "return_to_applicant")),
            )
        )
        assert acted == 1
        db.session.remove()
