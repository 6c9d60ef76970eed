"""`geo reform`: old Kon Tum and old Quảng Ngãi carried into today's Quảng Ngãi (51)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from htsd_workflow.audit.models import AuditEntry
from htsd_workflow.auth.models import User
from htsd_workflow.cases.models import Case, CaseEvent, SignOff
from htsd_workflow.cases.operations import claim_case, fire_trigger
from htsd_workflow.extensions import db
from htsd_workflow.geography import sources
from htsd_workflow.geography.models import Unit, UnitSuccession
from htsd_workflow.reports.models import Denominator
from htsd_workflow.subjects.models import Subject
from tests.factories import Factory

QUANG_TRUNG = "23281"  # old Phường Quang Trung (Kon Tum city) → Phường Kon Tum (23293)
KON_TUM_CITY = "608"
TRA_BUI = "21142"  # old Xã Trà Bui (Trà Bồng), split between two new communes


def run(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


def snapshot() -> tuple:
    """Everything the reform may change, as plain values."""
    db.session.expire_all()
    return (
        sorted(
            db.session.execute(
                select(Unit.code, Unit.valid_from, Unit.valid_to, Unit.structure, Unit.workflow_set)
            ).all()
        ),
        sorted(
            db.session.execute(select(Subject.id, Subject.unit_code, Subject.commune_code)).all()
        ),
        sorted(
            db.session.execute(
                select(Case.id, Case.workflow, Case.state, Case.commune_code, Case.version)
            ).all()
        ),
        sorted(db.session.execute(select(User.id, User.unit_code, User.is_active_user)).all()),
        db.session.scalar(select(db.func.count()).select_from(CaseEvent)),
        db.session.scalar(select(db.func.count()).select_from(UnitSuccession)),
    )


@pytest.fixture
def before_reform(fresh):
    """Old Kon Tum and old Quảng Ngãi, with subjects, accounts and cases in every state."""
    assert run(fresh, "geo", "import", "--province", "62").exit_code == 0
    assert run(fresh, "geo", "import", "--province", "51", "--before-2025").exit_code == 0
    make = Factory()
    cases = {}
    for state in ("draft", "commune_review", "district_verification", "provincial_confirmation"):
        cases[state], _ = make.case_in(state, unit=QUANG_TRUNG)
    district = make.reviewer("district_reviewer", KON_TUM_CITY)
    commune = make.reviewer("commune_reviewer", QUANG_TRUNG)
    education = make.reviewer("education_reviewer", "62")
    fire_trigger(cases["provincial_confirmation"].id, "sign", education)
    for final in ("recognized", "rejected", "withdrawn"):
        if final == "recognized":
            case, _ = make.case_in("provincial_confirmation", unit=QUANG_TRUNG)
            fire_trigger(case.id, "sign", education)
            fire_trigger(case.id, "sign", make.reviewer("culture_reviewer", "62"))
        elif final == "rejected":
            case, _ = make.case_in("commune_review", unit=QUANG_TRUNG)
            fire_trigger(case.id, "reject", commune, comment="Chưa đạt")
        else:
            case, applicant = make.case_in("commune_review", unit=QUANG_TRUNG)
            fire_trigger(case.id, "withdraw", applicant)
        cases[final] = case
    cases["returned"], applicant = make.case_in("district_verification", unit=QUANG_TRUNG)
    fire_trigger(cases["returned"].id, "return_to_applicant", district, comment="Bổ sung")
    claimed, _ = make.case_in("district_verification", unit=QUANG_TRUNG)
    claim_case(claimed.id, district)
    cases["claimed"] = claimed
    cases["split"], _ = make.case_in("commune_review", unit=TRA_BUI)
    split_officer = make.reviewer("commune_reviewer", TRA_BUI)
    school = make.subject("unit", KON_TUM_CITY, name="Trường THCS Kon Tum")
    db.session.add(Denominator(unit_code=QUANG_TRUNG, year=2024, title="family", count=1200))
    db.session.commit()
    return {
        "cases": {k: db.session.get(Case, v.id) for k, v in cases.items()},
        "returned_applicant": applicant,
        "district": district,
        "commune": commune,
        "education": education,
        "split_officer": split_officer,
        "school": school,
    }


def test_reform_carries_units_subjects_accounts_and_running_cases(fresh, before_reform):
    data = before_reform
    cases = data["cases"]
    before = snapshot()

    dry = run(fresh, "geo", "reform", "--province", "51", "--effective", "2025-07-01", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "three_tier/district_verification → two_tier/provincial_confirmation: 2" in dry.output
    assert "cần cán bộ chỉ định" in dry.output and "không thay đổi gì" in dry.output
    assert "/reform/subjects" in dry.output  # where an officer assigns them
    split_officer = data["split_officer"].username
    assert f"  {split_officer} ({TRA_BUI}, xã bị chia)" in dry.output
    assert snapshot() == before  # a dry run changes nothing

    result = run(fresh, "geo", "reform", "--province", "51", "--effective", "2025-07-01")
    assert result.exit_code == 0, result.output
    assert result.output.replace("không thay đổi gì", "") == dry.output.replace(
        "chạy thử (--dry-run): không thay đổi gì", "đã thực hiện"
    ).replace("không thay đổi gì", "")

    # units: old close the day before, new open; the table is the package's
    old, new = db.session.get(Unit, QUANG_TRUNG), db.session.get(Unit, "23293.2025")
    assert old.valid_to == date(2025, 6, 30) and new.valid_from == date(2025, 7, 1)
    assert db.session.get(Unit, KON_TUM_CITY).valid_to == date(2025, 6, 30)
    assert db.session.get(Unit, "62").valid_to == date(2025, 6, 30)
    assert db.session.get(Unit, "51").structure == "two_tier"
    expected = {s.new_code for s in sources.successions("51") if s.old_code == QUANG_TRUNG}
    links = db.session.scalars(
        select(UnitSuccession).where(UnitSuccession.predecessor_code == QUANG_TRUNG)
    ).all()
    assert {db.session.get(Unit, link.successor_code).gso_code for link in links} == expected
    split_links = db.session.scalars(
        select(UnitSuccession).where(UnitSuccession.predecessor_code == TRA_BUI)
    ).all()
    assert len(split_links) == 2 and sum(link.is_default for link in split_links) == 1

    # running cases: carried, under the new commune; finished ones stay
    db.session.expire_all()
    now = {k: db.session.get(Case, c.id) for k, c in cases.items()}
    carried = {k: (c.workflow, c.state, c.commune_code, c.district_code) for k, c in now.items()}
    assert carried["district_verification"] == (
        "two_tier/family",
        "provincial_confirmation",
        "23293.2025",
        None,
    )
    assert carried["commune_review"] == ("two_tier/family", "commune_review", "23293.2025", None)
    assert carried["draft"][:2] == ("two_tier/family", "draft")
    for final in ("recognized", "rejected", "withdrawn"):
        assert carried[final][0] == "three_tier/family"
        assert carried[final][2:] == (QUANG_TRUNG, KON_TUM_CITY)
    assert now["returned"].returned_from == "provincial_confirmation"
    assert now["claimed"].claimed_by_id is None
    signed = db.session.scalars(
        select(SignOff.department).where(SignOff.case_id == now["provincial_confirmation"].id)
    ).all()
    assert signed == ["education"]  # the stage is the same: its signature stands
    event = db.session.scalars(
        select(CaseEvent)
        .where(CaseEvent.case_id == now["district_verification"].id)
        .order_by(CaseEvent.id.desc())
    ).first()
    assert event.comment == "Chuyển theo sắp xếp đơn vị hành chính"
    assert (event.data["from_unit"], event.data["to_unit"]) == (QUANG_TRUNG, "23293.2025")
    # the split commune's case keeps its old unit, waiting for an officer
    assert (
        carried["split"] == ("two_tier/family", "commune_review", TRA_BUI, None)
        or carried["split"][2] == TRA_BUI
    )
    assert db.session.get(Subject, data["school"].id).unit_code == KON_TUM_CITY  # listed

    # accounts
    assert db.session.get(User, data["commune"].id).unit_code == "23293.2025"
    assert db.session.get(User, data["education"].id).unit_code == "51"
    assert db.session.get(User, data["district"].id).is_active_user is False
    audited = db.session.scalars(
        select(AuditEntry.action).where(AuditEntry.target == f"user:{data['district'].id}")
    ).all()
    assert "user_deactivated" in audited
    assert db.session.get(User, data["split_officer"].id).unit_code == TRA_BUI
    applicant = db.session.get(User, data["returned_applicant"].id)
    assert applicant.unit_code == "23293.2025"
    # denominators stay with the old unit
    assert db.session.scalar(select(Denominator.unit_code)) == QUANG_TRUNG

    # the carried cases work on in their new place
    commune = db.session.get(User, data["commune"].id)
    after = fire_trigger(now["commune_review"].id, "approve", commune)
    assert after.state == "provincial_confirmation"
    assert fire_trigger(now["returned"].id, "resubmit", applicant).state == (
        "provincial_confirmation"
    )
    db.session.commit()

    once = snapshot()
    again = run(fresh, "geo", "reform", "--province", "51", "--effective", "2025-07-01")
    assert again.exit_code == 0, again.output
    assert "không có gì thay đổi" in again.output
    assert snapshot() == once


def test_reform_needs_the_old_units_and_a_province_of_today(fresh):
    result = run(fresh, "geo", "reform", "--province", "51", "--effective", "2025-07-01")
    assert result.exit_code == 1 and "--before-2025" in result.output
    result = run(fresh, "geo", "reform", "--province", "62", "--effective", "2025-07-01")
    assert result.exit_code == 1 and "danh mục hiện hành" in result.output


def test_a_split_commune_s_subject_is_assigned_by_a_person(fresh, before_reform):
    assert (
        run(fresh, "geo", "reform", "--province", "51", "--effective", "2025-07-01").exit_code == 0
    )
    case = before_reform["cases"]["split"]
    default = next(
        s.new_code for s in sources.successions("51") if s.old_code == TRA_BUI and s.is_default
    )
    new = db.session.scalar(
        select(Unit).where(Unit.gso_code == default, Unit.structure == "two_tier")
    )
    refused = run(fresh, "subjects", "assign", str(case.subject_id), "--unit", TRA_BUI)
    assert refused.exit_code == 1 and "không phải đơn vị hành chính hiện hành" in refused.output
    result = run(fresh, "subjects", "assign", str(case.subject_id), "--unit", new.code)
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert db.session.get(Subject, case.subject_id).commune_code == new.code
    moved = db.session.get(Case, case.id)
    assert (moved.workflow, moved.state, moved.commune_code) == (
        "two_tier/family",
        "commune_review",
        new.code,
    )
    # assigned from the command line: audited; the same command again changes nothing
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "subject_assigned"))
    assert (entry.actor_id, entry.target) == (None, f"subject:{case.subject_id}")
    history = db.session.scalar(select(db.func.count()).select_from(CaseEvent))
    again = run(fresh, "subjects", "assign", str(case.subject_id), "--unit", new.code)
    assert again.exit_code == 0, again.output
    assert db.session.scalar(select(db.func.count()).select_from(CaseEvent)) == history
    officer = make_officer(new.code)
    assert fire_trigger(case.id, "approve", officer).state == "provincial_confirmation"


def make_officer(unit_code: str) -> User:
    return Factory().user("commune_reviewer", unit_code)


def test_no_new_subject_under_a_unit_that_no_longer_exists(fresh):
    assert run(fresh, "geo", "import", "--province", "62").exit_code == 0
    assert (
        run(fresh, "geo", "reform", "--province", "51", "--effective", "2025-07-01").exit_code == 0
    )
    refused = run(
        fresh, "subjects", "create", "--kind", "family", "--name", "Hộ A", "--unit", QUANG_TRUNG
    )
    assert refused.exit_code == 1 and "23293.2025" in refused.output
    made = run(
        fresh, "subjects", "create", "--kind", "family", "--name", "Hộ A", "--unit", "23293.2025"
    )
    assert made.exit_code == 0, made.output


def test_old_communes_applying_as_themselves_stay_with_their_old_commune(fresh, before_reform):
    """Five old wards became Phường Kon Tum: their own subjects ("Cộng đồng học tập cấp xã",
    one per commune) are not merged into one; the new ward applies as itself."""
    from htsd_workflow.subjects.operations import create_subject

    merged = sorted(
        s.old_code
        for s in sources.successions("51")
        if s.new_code == "23293" and s.old_code != QUANG_TRUNG
    )
    codes = [QUANG_TRUNG, merged[0]]
    ids = [create_subject("commune", f"Phường {code}", code).id for code in codes]
    db.session.commit()
    result = run(fresh, "geo", "reform", "--province", "51", "--effective", "2025-07-01")
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert [db.session.get(Subject, i).unit_code for i in ids] == codes
    new = create_subject("commune", "Phường Kon Tum", "23293.2025")
    assert new.commune_code == "23293.2025"
