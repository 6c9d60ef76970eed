"""Reports before, after and across the reform: the units that existed in the period."""

from __future__ import annotations

from datetime import datetime

from htsd_workflow.auth.models import User
from htsd_workflow.cases.operations import fire_trigger
from htsd_workflow.extensions import db
from htsd_workflow.reports.operations import areas_for
from htsd_workflow.reports.queries import bottlenecks, parse_filters, targets
from tests.factories import Factory

QUANG_TRUNG, KON_TUM_CITY = "23281", "608"
IN_2024 = datetime(2024, 10, 1, 3, 0)  # 10:00 in Kon Tum


def run(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


def communes(data) -> set[str]:
    return {r["unit_code"] for r in data["rows"] if r["level"] == "commune"}


def recognised(data, code) -> int:
    return sum(r["recognized"] for r in data["rows"] if r["unit_code"] == code)


def test_targets_read_old_units_before_new_after_and_both_across(fresh):
    assert run(fresh, "geo", "import", "--province", "62").exit_code == 0
    make = Factory()
    case, _ = make.case_in("provincial_confirmation", unit=QUANG_TRUNG, now=IN_2024)
    fire_trigger(case.id, "sign", make.reviewer("education_reviewer", "62"), now=IN_2024)
    fire_trigger(case.id, "sign", make.reviewer("culture_reviewer", "62"), now=IN_2024)
    manager = make.user("manager", KON_TUM_CITY)
    head = make.user("manager", "62")
    db.session.commit()
    result = run(fresh, "geo", "reform", "--province", "51", "--effective", "2025-07-01")
    assert result.exit_code == 0, result.output
    head, manager = db.session.get(User, head.id), db.session.get(User, manager.id)
    assert head.unit_code == "51" and manager.is_active_user  # a manager keeps reading

    before = targets(head, year=2024)
    assert QUANG_TRUNG in communes(before) and "23293.2025" not in communes(before)
    assert recognised(before, QUANG_TRUNG) == 1 and before["reform_day"] is None
    assert len(communes(before)) == 102  # Kon Tum's old communes, read from today's province

    after = targets(head, year=2026)
    assert "23293.2025" in communes(after) and QUANG_TRUNG not in communes(after)
    assert len(communes(after)) == 96 and after["reform_day"] is None
    assert not any(r["unit_code"] is None for r in after["rows"])

    across = targets(head, year=2025)
    assert {QUANG_TRUNG, "23293.2025"} <= communes(across)
    assert across["reform_day"] == "2025-07-01"

    # time in stage: Kon Tum's old districts' rows for 2024, read from today's province
    old_rows = bottlenecks(head, parse_filters({"from": "2024-01-01", "to": "2024-12-31"}))
    assert KON_TUM_CITY in {r["unit_code"] for r in old_rows["rows"]}
    assert old_rows["reform_day"] is None
    spanning = bottlenecks(head, parse_filters({"from": "2025-01-01", "to": "2025-12-31"}))
    assert spanning["reform_day"] == "2025-07-01"

    # the old district's manager still reads its district's history
    district = targets(manager, year=2024)
    assert QUANG_TRUNG in communes(district) and recognised(district, QUANG_TRUNG) == 1


def test_denominator_areas_are_the_units_of_the_year(fresh):
    """The new communes need their own figures from 2025; the old ones keep theirs before."""
    assert run(fresh, "geo", "import", "--province", "51", "--before-2025").exit_code == 0
    assert (
        run(fresh, "geo", "reform", "--province", "51", "--effective", "2025-07-01").exit_code == 0
    )
    admin = Factory().user("admin", "51")
    old = {a.unit.code for a in areas_for(admin, 2024) if a.unit.level == "commune"}
    new = {a.unit.code for a in areas_for(admin, 2026) if a.unit.level == "commune"}
    assert len(old) == 170 and "21025" in old and "21025.2025" not in old
    assert len(new) == 96 and "21025.2025" in new and not old & new
