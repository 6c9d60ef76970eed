"""/reports/denominators on a 390×844 phone and a 1366×768 desktop: every number column can be
reached (the table scrolls sideways inside itself), and the unit's name and the header row stay
in view while it does."""

from __future__ import annotations

import pytest

from tests.factories import DISTRICT, PASSWORD

pytestmark = pytest.mark.browser

LAPTOP = {"width": 1366, "height": 768}


@pytest.mark.parametrize("phone", [True, False], ids=["phone", "desktop"])
def test_every_number_column_of_the_denominators_can_be_reached(people, make, phone):
    officer = make.user("district_reviewer", DISTRICT)
    person = people("huyen", phone=phone)
    if not phone:
        person.page.set_viewport_size(LAPTOP)
    person.login(officer.username, PASSWORD)
    person.go("/reports/denominators?year=2026")
    person.see("Nhập trên màn hình")
    person.shot("denominators")
    table = "table.denominators"
    headers = person.page.eval_on_selector_all(f"{table} thead th", "els => els.length")
    assert headers == 5  # the unit, then households, clans, villages, agencies
    # scrolled to its right end, the table shows its last number column inside its frame, and
    # the unit's name (first column) and the header row are still where they were
    shown = person.page.eval_on_selector(
        table,
        """t => { const w = t.parentElement;
                  w.scrollIntoView(); w.scrollLeft = w.scrollWidth; w.scrollTop = 40;
                  const frame = w.getBoundingClientRect();
                  const last = t.querySelector('thead th:last-child').getBoundingClientRect();
                  const name = t.querySelector('tbody th').getBoundingClientRect();
                  const head = t.querySelector('thead th').getBoundingClientRect();
                  const input = t.querySelector('tbody tr:last-child td:last-child');
                  return {right: last.right - frame.right, left: last.left - frame.left,
                          name: name.left - frame.left, head: head.top - frame.top,
                          width: frame.width, scrolled: w.scrollLeft,
                          nameWidth: name.width}; }""",
    )
    assert shown["right"] <= 1 and shown["left"] >= shown["nameWidth"] - 1, shown
    assert abs(shown["name"]) < 2 and abs(shown["head"]) < 2, shown
    if phone:
        assert shown["scrolled"] > 0, "the table does not scroll sideways on a phone"
    person.shot("scrolled to the last column")
    # an input of the last column takes a number there
    last_input = person.page.locator(f"{table} tbody tr td:last-child input").first
    if last_input.count():
        last_input.fill("12")
        assert last_input.input_value() == "12"
    assert not person.problems, person.problems
