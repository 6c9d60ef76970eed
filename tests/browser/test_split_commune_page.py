"""After the 2025 reform: a province officer places a split commune's households under its
successors, on a 1366×768 office screen and on a phone (390×844)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from htsd_workflow.extensions import db
from htsd_workflow.geography.models import UnitSuccession
from htsd_workflow.subjects.models import Subject
from tests.browser.conftest import browser_app, served
from tests.factories import PASSWORD, Factory

pytestmark = pytest.mark.browser

TRA_BUI = "21142"  # old Xã Trà Bui, split between two new communes
OFFICE = {"width": 1366, "height": 768}
NAMES = ["Hộ Hồ Văn Bình", "Hộ Đinh Thị Lan", "Dòng họ Hồ Trà Bui"]


@pytest.fixture(scope="module")
def live_app(tmp_path_factory):
    """A server of its own: today's Quảng Ngãi carried from the old one (the other journeys
    share Kon Tum as it was)."""
    app = browser_app(tmp_path_factory.mktemp("reform-browser"))
    with app.app_context():
        runner = app.test_cli_runner()
        imported = runner.invoke(args=["geo", "import", "--province", "51", "--before-2025"])
        assert imported.exit_code == 0, imported.output
        make = Factory()
        make.case_in("commune_review", unit=TRA_BUI, name=NAMES[0])
        make.subject("family", TRA_BUI, name=NAMES[1])
        make.subject("clan", TRA_BUI, name=NAMES[2])
        result = runner.invoke(
            args=["geo", "reform", "--province", "51", "--effective", "2025-07-01"]
        )
        assert result.exit_code == 0, result.output
        app.config["PEOPLE"] = {
            "officer": make.user("province_officer", "51", full_name="Hội Khuyến học").username,
            "admin": make.user("admin", "51").username,
        }
        db.session.commit()
    with served(app):
        yield app


def _fits(person) -> None:
    person.page.wait_for_load_state("load")  # measured with its stylesheet
    width = person.page.evaluate("document.documentElement.scrollWidth")
    assert width <= person.page.viewport_size["width"], width


def _places(live_app) -> dict[str, str]:
    with live_app.app_context():
        return dict(
            db.session.execute(
                select(Subject.name, Subject.unit_code).where(Subject.name.in_(NAMES))
            ).all()
        )


def test_officer_places_a_split_commune_s_subjects(people, live_app):
    with live_app.app_context():
        default, second = db.session.scalars(
            select(UnitSuccession.successor_code)
            .where(UnitSuccession.predecessor_code == TRA_BUI)
            .order_by(UnitSuccession.is_default.desc())
        ).all()

    office = people("admin-office")
    office.page.set_viewport_size(OFFICE)
    office.login(live_app.config["PEOPLE"]["admin"], PASSWORD)
    office.go("/reform/subjects")
    office.see("Chỉ định xã mới cho đối tượng của xã bị chia tách")
    for name in NAMES:
        office.see(name)
    office.see("xã mặc định theo bảng chuyển đổi chính thức")
    _fits(office)
    office.shot("split commune subjects")
    # ticked without a commune: refused with the reason, nothing placed
    with office.expecting("422"):
        office.page.check(f"#pick-{_id(live_app, NAMES[1])}")
        office.page.click("main button[type=submit]")
        office.see("Chọn xã mới cho các đối tượng đã đánh dấu.")
    office.shot("ticked without a commune")
    assert set(_places(live_app).values()) == {TRA_BUI}

    phone = people("officer-phone", phone=True)
    phone.login(live_app.config["PEOPLE"]["officer"], PASSWORD)
    phone.go("/reform/subjects")
    phone.see(NAMES[0])
    _fits(phone)
    phone.shot("split commune subjects on a phone")
    phone.page.select_option(f"select[name='unit-{_id(live_app, NAMES[0])}']", second)
    phone.page.check(f"#pick-{_id(live_app, NAMES[1])}")
    phone.page.check(f"#pick-{_id(live_app, NAMES[2])}")
    phone.page.select_option(f"#bulk-{TRA_BUI}", default)
    phone.shot("chosen")
    phone.page.click("main button[type=submit]")
    phone.see("Đã chỉ định xã mới cho 3 đối tượng.")
    phone.see("Không còn đối tượng nào")
    _fits(phone)
    phone.shot("placed")
    assert _places(live_app) == {NAMES[0]: second, NAMES[1]: default, NAMES[2]: default}


def _id(live_app, name: str) -> int:
    with live_app.app_context():
        return db.session.scalar(select(Subject.id).where(Subject.name == name))
