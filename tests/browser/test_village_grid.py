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
from tests.factories import COMMUNE_IN_OTHER_DISTRICT, PASSWORD, Factory

pytestmark = pytest.mark.browser

#: Đắk Hà's commune: the journeys share one server and database, and theirs count the cases
#: and households of Phường Quang Trung
VILLAGE_COMMUNE = COMMUNE_IN_OTHER_DISTRICT

OFFICE = {"width": 1366, "height": 768}


@pytest.fixture
def make(live_app):
    with live_app.app_context():
        yield Factory()


def _fits(person) -> None:
    """Nothing on the page is wider than the screen (no sideways scrolling of the page)."""
    width = person.page.evaluate("document.documentElement.scrollWidth")
    assert width <= person.page.viewport_size["width"], width


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
