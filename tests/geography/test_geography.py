"""Both structures import offline: today's two-tier list and the pre-2025 three-tier one."""

from __future__ import annotations

from sqlalchemy import func, select

from htsd_workflow.extensions import db
from htsd_workflow.geography import sources
from htsd_workflow.geography.models import Unit


def run(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


def levels(province: str, structure: str) -> dict[str, int]:
    return dict(
        db.session.execute(
            select(Unit.level, func.count())
            .where(Unit.province_code == province, Unit.structure == structure)
            .group_by(Unit.level)
        ).all()
    )


def test_today_s_quang_ngai_has_96_communes_and_no_district(fresh):
    result = run(fresh, "geo", "import", "--province", "51")
    assert result.exit_code == 0, result.output
    assert "không có cấp huyện" in result.output and "created 97" in result.output
    assert levels("51", "two_tier") == {"province": 1, "commune": 96}
    kon_tum = db.session.get(Unit, "23293")
    assert kon_tum.name == "Phường Kon Tum" and kon_tum.parent_code == "51"
    assert kon_tum.district_code is None and kon_tum.valid_from.isoformat() == "2025-07-01"
    assert db.session.get(Unit, "51").workflow_set == "two_tier"
    again = run(fresh, "geo", "import", "--province", "51")
    assert "created 0, updated 0, unchanged 97" in again.output


def test_kon_tum_is_not_in_today_s_list_so_it_comes_as_it_was(fresh):
    result = run(fresh, "geo", "import", "--province", "62")
    assert result.exit_code == 0, result.output
    assert "không có trong danh mục hiện hành" in result.output
    assert levels("62", "three_tier") == {"province": 1, "district": 10, "commune": 102}
    assert db.session.get(Unit, "23293").name == "Phường Thắng Lợi"
    assert db.session.get(Unit, "62").workflow_set is None  # the default set: three_tier


def test_old_and_new_units_of_one_code_stay_two_units(fresh):
    assert run(fresh, "geo", "import", "--province", "62").exit_code == 0
    assert run(fresh, "geo", "import", "--province", "51", "--before-2025").exit_code == 0
    assert levels("51", "three_tier") == {"province": 1, "district": 13, "commune": 170}
    assert run(fresh, "geo", "import", "--province", "51").exit_code == 0
    old, new = db.session.get(Unit, "23293"), db.session.get(Unit, "23293.2025")
    assert (old.name, old.gso_code, old.district_code) == ("Phường Thắng Lợi", "23293", "608")
    assert (new.name, new.gso_code, new.district_code) == ("Phường Kon Tum", "23293", None)
    # the province continues: its structure changes with the reform, not with a list
    assert db.session.get(Unit, "51").structure == "three_tier"
    assert levels("51", "two_tier") == {"commune": 96}


def test_a_code_in_neither_list_is_a_clear_error(fresh):
    for code in ("99", "abc", "123"):
        result = run(fresh, "geo", "import", "--province", code)
        assert isinstance(result.exception, SystemExit), result.exception  # no traceback
        assert result.exit_code == 1 and "Error:" in result.output
    assert db.session.scalar(select(func.count()).select_from(Unit)) == 0


def test_codes_are_zero_padded_as_the_statistics_office_writes_them(fresh):
    assert run(fresh, "geo", "import", "--province", "1", "--before-2025").exit_code == 0
    hanoi = db.session.get(Unit, "01")
    assert hanoi.level == "province" and db.session.get(Unit, "001").parent_code == "01"
    assert db.session.get(Unit, "00004").district_code == "001"


def test_the_conversion_table_covers_every_old_unit_of_quang_ngai_and_kon_tum():
    """Checked against the package's own data: 272 old communes (102 of Kon Tum) + Lý Sơn."""
    found = sources.successions("51")
    old_communes = {
        w.code
        for code in ("51", "62")
        for d in sources.old_province(code).children
        for w in d.children
    }
    assert len(old_communes) == 272
    assert {s.old_code for s in found if s.old_level == "commune"} == old_communes
    assert {s.new_code for s in found} == {c.code for c in sources.new_province("51").children}
    split = [s for s in found if s.is_split]
    assert len({s.old_code for s in split}) == 1 and len(split) == 2
    assert sum(s.is_default for s in split) == 1
    # 23293 "Thắng Lợi" went into Phường Kon Tum with four other wards, among them 23281
    into_kon_tum = {s.old_code for s in found if s.new_code == "23293"}
    assert {"23281", "23293"} <= into_kon_tum and len(into_kon_tum) == 5
