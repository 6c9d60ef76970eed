"""What a reviewer and a manager see on a 390×844 phone and a 1366×768 desktop (issue 21):
a folded menu with the unread count, a one-line inbox, the queue as cards, report tables that
keep their header and first column in view, and chart text that can be read."""

from __future__ import annotations

import pytest

from htsd_workflow.extensions import db
from htsd_workflow.notifications.operations import dispatch_pending, unread_count
from tests.factories import COMMUNE, PASSWORD, PROVINCE

pytestmark = pytest.mark.browser

LAPTOP = {"width": 1366, "height": 768}


@pytest.fixture
def reviewer_with_mail(live_app, make):
    """A commune reviewer with three cases waiting and a message about each."""
    for number in range(3):
        make.case_in("commune_review", name=f"Hộ Lê Thị Xem {number}")
    reviewer = make.reviewer("commune_reviewer", COMMUNE)
    with live_app.app_context():
        dispatch_pending()
        db.session.commit()
        # (earlier tests' cases in the same commune may have told this reviewer too)
        reviewer.unread = unread_count(reviewer)
    assert reviewer.unread >= 3
    return reviewer


def _person(people, name, phone):
    person = people(name, phone=phone)
    if not phone:
        person.page.set_viewport_size(LAPTOP)
    return person


@pytest.mark.parametrize("phone", [True, False], ids=["phone", "desktop"])
def test_a_reviewer_reads_the_menu_the_inbox_and_the_queue(people, reviewer_with_mail, phone):
    officer = _person(people, "reviewer", phone)
    officer.login(reviewer_with_mail.username, PASSWORD)
    officer.go("/queue")
    officer.see("Hộ Lê Thị Xem 0")
    header = officer.page.locator("header.site").bounding_box()
    if phone:
        # the menu folds behind one button that shows the unread count
        assert header["height"] < 844 / 6, header
        assert not officer.page.locator("nav.main").is_visible()
        toggle = officer.page.locator(".menu-toggle")
        assert toggle.inner_text().split()[-1] == str(reviewer_with_mail.unread)
        officer.shot("queue with folded menu")
        toggle.click()
        assert officer.page.locator("nav.main").is_visible()
        officer.shot("menu open")
        # the queue rows are cards: nothing runs off the side of the screen
        officer.page.wait_for_load_state("load")  # measured with its stylesheet
        width = officer.page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, width
        assert officer.page.locator("table.queue thead").is_hidden()
    else:
        assert not officer.page.locator(".menu-toggle").is_visible()
        unread = officer.page.locator("nav.main [data-unread]").inner_text()
        assert unread == str(reviewer_with_mail.unread)
        officer.shot("queue")
    officer.page.click("nav.main a[href='/notifications']")
    officer.see("thông báo chưa đọc")
    rows = officer.page.locator("ul.inbox > li")
    assert rows.count() == min(reviewer_with_mail.unread, 50)
    officer.shot("inbox")
    for index in range(3):  # one line each (two at most on a phone), not a letter each
        assert rows.nth(index).bounding_box()["height"] < (130 if phone else 60)
    assert not officer.page.locator("pre.message").first.is_visible()
    officer.page.locator("ul.inbox summary").first.click()
    assert officer.page.locator("pre.message").first.is_visible()
    officer.shot("one message open")
    officer.page.click("text=Đánh dấu tất cả là đã đọc")
    officer.see(f"Đã đánh dấu {reviewer_with_mail.unread} thông báo")
    assert officer.page.locator("[data-unread]").count() == 0
    officer.shot("all read")


@pytest.mark.parametrize("phone", [True, False], ids=["phone", "desktop"])
def test_a_manager_reads_report_tables_and_charts(people, make, reviewer_with_mail, phone):
    manager = make.user("manager", PROVINCE)
    leader = _person(people, "manager", phone)
    leader.login(manager.username, PASSWORD)
    leader.go("/reports/bottlenecks")
    leader.see("Bảng chi tiết theo bước và đơn vị")
    leader.page.locator("svg.trend").wait_for(timeout=10000)
    leader.shot("bottlenecks")
    # chart text is at least 12 px (9 pt) as shown, on the phone too
    for selector in ("svg.chart:not(.trend) text", "svg.trend text"):
        sizes = leader.page.eval_on_selector_all(
            selector,
            "els => els.map(e => e.getBoundingClientRect().height)",
        )
        assert sizes and min(sizes) >= 12, (selector, sizes)
    # the table scrolls inside itself; its header row and first column stay in view
    wrap = leader.page.locator(".table-wrap:has(> table)").first
    wrap.scroll_into_view_if_needed()
    before = leader.page.eval_on_selector(
        ".table-wrap:has(> table)",
        """w => { w.scrollLeft = 400; w.scrollTop = 0;
                  const td = w.querySelector('tbody td'), th = w.querySelector('thead th');
                  return [td.getBoundingClientRect().left - w.getBoundingClientRect().left,
                          w.scrollLeft]; }""",
    )
    if phone:
        assert before[1] > 0, "the table does not scroll sideways on a phone"
    assert abs(before[0]) < 2, before
    leader.shot("table scrolled sideways")
