"""A commune officer applies for "Cộng đồng học tập cấp xã" on a phone and a desktop: the
commune entered once, its indicators marked, the dossier sent to the district."""

from __future__ import annotations

import pytest

from tests.factories import (
    COMMUNE_IN_OTHER_DISTRICT,
    PASSWORD,
)

pytestmark = pytest.mark.browser

LAPTOP = {"width": 1366, "height": 768}
#: Xã Đắk Blô (huyện Đắk Glei): the browser tests share one database, so the commune's dossier
#: goes to a district no other journey counts (in district 608 it made the district's "all 3
#: cases matching the filter" in test_journeys read 4)
COMMUNE_IN_A_THIRD_DISTRICT = "23344"


@pytest.mark.parametrize(
    "phone, commune",
    [(True, COMMUNE_IN_A_THIRD_DISTRICT), (False, COMMUNE_IN_OTHER_DISTRICT)],
    ids=["phone", "desktop"],
)
def test_a_commune_officer_sends_the_communes_own_dossier(people, make, phone, commune):
    officer = make.reviewer("commune_reviewer", commune)
    person = people("commune-officer", phone=phone)
    if not phone:
        person.page.set_viewport_size(LAPTOP)
    person.login(officer.username, PASSWORD)
    if phone:
        person.page.click(".menu-toggle")
    person.page.click("nav.main a[href='/commune']")
    person.see("Lập đối tượng của xã")
    person.shot("commune page")
    person.page.click("main button[type=submit]")
    person.see("Lập hồ sơ của xã")
    person.shot("the commune as a subject")
    person.page.click("main section.card button[type=submit]")
    person.see("Mức độ 2 – Tốt")
    for select in person.page.locator("select[name^='score-']").all():
        select.select_option("1")
    for box in person.page.locator("textarea[name^='evidence-']").all():
        box.fill("Nghị quyết và báo cáo của xã")
    person.page.select_option("select[name=level_applied]", "level2")
    person.shot("indicators marked")
    person.page.click("button[name=action][value=send]")
    person.see("Chờ huyện thẩm định")
    person.shot("sent to the district")
    person.page.wait_for_load_state("load")  # measured with its stylesheet
    width = person.page.evaluate("document.documentElement.scrollWidth")
    assert width <= (390 if phone else 1366), width
