"""The village grid on a phone and on an office screen (issue 25): a village head registers
the households of the village, types their paper forms row by row and sends the complete ones;
the commune officer sees the same grid on a 1366×768 screen."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from htsd_workflow.cases.engine import get_registry
from htsd_workflow.cases.models import Case
from htsd_workflow.cases.operations import ensure_round
from htsd_workflow.extensions import db
from tests.factories import COMMUNE_IN_OTHER_DISTRICT, PASSWORD

pytestmark = pytest.mark.browser

#: Đắk Hà's commune: the journeys share one server and database, and theirs count the cases
#: and households of Phường Quang Trung
VILLAGE_COMMUNE = COMMUNE_IN_OTHER_DISTRICT

OFFICE = {"width": 1366, "height": 768}


def _fits(person) -> None:
    """Nothing on the page is wider than the screen (no sideways scrolling of the page), once
    the page has loaded: measured before its stylesheet has arrived (a 304 answered late on a
    busy machine), the grid is a plain table wider than a phone."""
    person.page.wait_for_load_state("load")
    width = person.page.evaluate("document.documentElement.scrollWidth")
    if width > person.page.viewport_size["width"]:
        person.shot("wider than the screen")
        wide = person.page.evaluate(
            "[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right"
            " > window.innerWidth).slice(0, 5).map(e => e.tagName + '.' + e.className + ': '"
            " + (e.innerText || '').slice(0, 80))"
        )
        raise AssertionError(f"{width} px wide: {wide}")


def test_village_head_registers_and_enters_the_grid_on_a_phone(people, live_app, make):
    village = make.subject("community", VILLAGE_COMMUNE, name="Thôn Plei Đôn")
    names = ["Hộ A Blưm", "Hộ Bùi Hương", "Hộ Y Tú"]  # the grid lists them by name
    homes = [
        make.subject("family", VILLAGE_COMMUNE, community_id=village.id, name=n) for n in names
    ]
    head = make.user("village_head", subject_id=village.id, full_name="Trưởng thôn A Nhương")
    officer = make.user("commune_reviewer", VILLAGE_COMMUNE, full_name="Cán bộ xã")
    with live_app.app_context():
        ensure_round("family", 2026)
        db.session.commit()
        cset = get_registry().criteria_for("family", 2026)
        full = {item.code: f"{item.max_points:g}" for item in cset.items}
        first_code = cset.items[0].code
        max_total = f"{cset.max_total:g}"

    phone = people("village-head", phone=True)
    phone.login(head.username, PASSWORD)
    phone.see("Thôn Plei Đôn")
    phone.see("Đăng ký hộ tham gia")
    _fits(phone)
    phone.shot("start page before registration")
    phone.page.check("[data-select-all]")
    assert phone.page.inner_text("[data-selected-count]") == "3"
    phone.page.click("button:has-text('Đăng ký các hộ đã chọn')")
    phone.see("Đã đăng ký 3 hộ")
    phone.see("Bảng nhập điểm")
    _fits(phone)
    phone.shot("grid after registration")

    with live_app.app_context():
        cases = dict(
            db.session.execute(
                select(Case.subject_id, Case.id).where(Case.subject_id.in_([h.id for h in homes]))
            ).all()
        )
    first, second, third = (cases[h.id] for h in homes)
    # the first household in full; Enter jumps to the same criterion of the next household
    for code, score in full.items():
        phone.page.fill(f'[name="score-{first}-{code}"]', score)
    phone.page.focus(f'[name="score-{first}-{first_code}"]')
    phone.page.keyboard.press("Enter")
    focused = phone.page.evaluate("document.activeElement.name")
    assert focused == f"score-{second}-{first_code}"
    row = phone.page.locator(f"#row-{first}")
    assert row.locator("[data-total]").inner_text() == max_total
    assert row.locator("[data-result]").inner_text() == "Đạt"
    # the second a complete form under the mark, the third only begun
    for code in full:
        phone.page.fill(f'[name="score-{second}-{code}"]', "0")
    phone.page.fill(f'[name="score-{third}-{first_code}"]', "1")
    assert phone.page.locator(f"#row-{second} [data-result]").inner_text() == "Chưa đạt"
    assert str(len(full) - 1) in phone.page.locator(f"#row-{third} [data-result]").inner_text()
    _fits(phone)
    phone.shot("grid typed")
    # (the full-page screenshot above leaves the layout of its own taller viewport until
    # the next event: focus the button first, as a keyboard user would, then press it)
    phone.page.focus("button[value=send]")
    phone.page.click("button[value=send]")
    phone.see("Một số hộ chưa lưu hoặc chưa gửi được")
    _fits(phone)
    phone.shot("sent with the incomplete row listed")

    with live_app.app_context():
        states = {c.id: c.state for c in db.session.scalars(select(Case))}
    assert states[first] == "commune_review" and states[second] == "commune_review"
    assert states[third] == "draft"

    office = people("commune-officer")
    office.page.set_viewport_size(OFFICE)
    office.login(officer.username, PASSWORD)
    office.go("/villages")
    office.page.click("a:has-text('Thôn Plei Đôn')")
    office.see("Bảng nhập điểm")
    assert office.page.input_value(f'[name="score-{third}-{first_code}"]') == "1"
    _fits(office)
    office.shot("grid on an office screen")


def _figure(person, name: str) -> int:
    return int(person.page.inner_text(f'[data-figure="{name}"]'))


def test_a_village_s_round_from_registration_to_the_commune_dashboard(people, live_app, make):
    """Done when (issue 25): the village head registers the village's 30 households, the
    commune officer records the village meeting, the head enters the 30 paper forms in the
    grid on a phone and sends them, and the officer's dashboard moves."""
    village = make.subject("community", VILLAGE_COMMUNE, name="Thôn Kon Rlong")
    homes = [
        make.subject(
            "family", VILLAGE_COMMUNE, community_id=village.id, name=f"Hộ Kon Rlong {n:02d}"
        )
        for n in range(1, 31)
    ]
    head = make.user("village_head", subject_id=village.id, full_name="Trưởng thôn A Rê")
    officer = make.user("commune_reviewer", VILLAGE_COMMUNE, full_name="Cán bộ xã Đắk Hà")
    with live_app.app_context():
        ensure_round("family", 2026)
        db.session.commit()
        cset = get_registry().criteria_for("family", 2026)
        full = {item.code: f"{item.max_points:g}" for item in cset.items}

    office = people("commune-officer")
    office.page.set_viewport_size(OFFICE)
    office.login(officer.username, PASSWORD)
    office.see("Tiến độ của xã")
    before = {n: _figure(office, n) for n in ("registered", "submitted", "commune_review")}
    _fits(office)
    office.shot("dashboard before")

    phone = people("village-head", phone=True)
    phone.login(head.username, PASSWORD)
    phone.see("Thôn Kon Rlong")
    phone.page.check("[data-select-all]")
    assert phone.page.inner_text("[data-selected-count]") == "30"
    phone.page.click("button:has-text('Đăng ký các hộ đã chọn')")
    phone.see("Đã đăng ký 30 hộ")
    _fits(phone)
    phone.shot("thirty households registered")

    # the officer records the village meeting on the office screen
    office.go(f"/villages/{village.id}/meeting")
    office.see("Ghi biên bản họp")
    office.page.fill("#chair", "A Blong")
    office.page.fill("#secretary", "Y Nhi")
    office.page.fill("#attendance", "45")
    with live_app.app_context():
        ids = [h.id for h in homes]
    for subject_id in ids:
        office.page.fill(f'[name="for-{subject_id}"]', "40")
        office.page.fill(f'[name="present-{subject_id}"]', "44")
    _fits(office)
    office.page.click("button:has-text('Ghi biên bản họp')")
    office.see("Đã ghi biên bản họp bình xét của thôn")
    _fits(office)
    office.shot("meeting recorded")

    # the head types the thirty paper forms on the phone and sends them
    phone.go("/villages")
    phone.see("Bảng nhập điểm")
    with live_app.app_context():
        cases = list(
            db.session.scalars(select(Case.id).where(Case.subject_id.in_(ids)).order_by(Case.id))
        )
    assert len(cases) == 30
    for case_id in cases:
        for code, score in full.items():
            phone.page.fill(f'[name="score-{case_id}-{code}"]', score)
    assert phone.page.locator(f"#row-{cases[-1]} [data-result]").inner_text() == "Đạt"
    _fits(phone)
    phone.shot("thirty forms typed")
    phone.page.focus("button[value=send]")
    phone.page.click("button[value=send]")
    phone.see("đã gửi 30 hộ")
    _fits(phone)
    phone.shot("thirty sent")
    with live_app.app_context():
        states = set(db.session.scalars(select(Case.state).where(Case.id.in_(cases))))
    assert states == {"commune_review"}

    office.go("/rounds/commune")
    office.see("Tiến độ của xã")
    after = {n: _figure(office, n) for n in ("registered", "submitted", "commune_review")}
    assert after == {n: before[n] + 30 for n in before}
    office.see("Thôn Kon Rlong")
    _fits(office)
    office.shot("dashboard after")
    office.page.set_viewport_size({"width": 390, "height": 844})
    _fits(office)
    office.shot("dashboard on a phone")
