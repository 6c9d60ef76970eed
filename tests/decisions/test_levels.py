"""Decisions issued by the level that manages a learning unit (district, province), the
two-tier set's district → province, and revocation by the issuing level only."""

from __future__ import annotations

import io
from datetime import date

import pytest
from pypdf import PdfReader
from sqlalchemy import update

from htsd_workflow.cases.models import Case
from htsd_workflow.cases.operations import allowed_triggers, fire_trigger
from htsd_workflow.core.errors import InvalidInput, NotAllowed, NotFound
from htsd_workflow.decisions.models import Decision
from htsd_workflow.decisions.operations import draft_decision, issue_decision
from htsd_workflow.decisions.queries import verification
from htsd_workflow.extensions import db
from htsd_workflow.geography.models import Unit
from tests.factories import (
    COMMUNE,
    COMMUNE_IN_OTHER_DISTRICT,
    DISTRICT,
    OTHER_COMMUNE_SAME_DISTRICT,
    OTHER_DISTRICT,
    PROVINCE,
)

pytestmark = pytest.mark.pinned_clock  # drafts and rounds of 2026, dates of that December

YEAR = 2026
DAY = date(2026, 12, 20)


@pytest.fixture
def recognised_unit(make):
    """``recognised_unit(unit)``: a learning unit managed by ``unit`` (a commune, a district or
    the province) driven through its workflow to ``recognized``."""

    def build(unit, name=None, kind="unit"):
        case, applicant = make.draft(kind, unit, name=name)
        fire_trigger(case.id, "submit", applicant)
        steps = {
            "commune_review": ("approve", "commune_reviewer", "commune_code"),
            "district_verification": ("approve", "district_reviewer", "district_code"),
        }
        case = db.session.get(Case, case.id)
        while case.state in steps:
            trigger, role, where = steps[case.state]
            fire_trigger(case.id, trigger, make.reviewer(role, getattr(case, where)))
            case = db.session.get(Case, case.id)
        for role in ("education_reviewer", "culture_reviewer"):
            fire_trigger(case.id, "sign", make.reviewer(role, PROVINCE))
        db.session.commit()
        case = db.session.get(Case, case.id)
        assert case.state == "recognized"
        return case

    return build


def _text(pdf: bytes) -> str:
    return " ".join(" ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages).split())


def test_a_district_managed_unit_is_drafted_and_issued_by_its_district(ctx, make, recognised_unit):
    mine = recognised_unit(DISTRICT, name="Trường THCS Huyện Quản")
    commune_unit = recognised_unit(COMMUNE, name="Trường Mầm non Xã Quản")
    other_district = recognised_unit(OTHER_DISTRICT, name="Trường Huyện Khác")
    officer = make.reviewer("district_reviewer", DISTRICT)
    decision = draft_decision("unit", YEAR, DISTRICT, officer)
    db.session.commit()
    assert [e.case_id for e in decision.entries] == [mine.id]  # district-managed, this district
    assert decision.level == "district"
    assert decision.signer_title == "Chủ tịch Ủy ban nhân dân huyện"
    assert decision.body_name == "Ủy ban nhân dân Thành phố Kon Tum"
    assert decision.entries[0].commune == "Thành phố Kon Tum"  # the place printed
    # the commune's officer may not draft nor issue it; the commune's unit is the commune's
    commune_officer = make.reviewer("commune_reviewer", COMMUNE)
    with pytest.raises(NotFound):
        draft_decision("unit", YEAR, DISTRICT, commune_officer)
    for refused in (officer, make.user("manager", PROVINCE)):
        with pytest.raises((NotAllowed, NotFound)):
            issue_decision(decision.id, "5", DAY, "Nguyễn Văn A", refused)
        db.session.rollback()
    issued = issue_decision(decision.id, "5", DAY, "Nguyễn Văn A", make.user("manager", DISTRICT))
    db.session.commit()
    assert issued.number == "5/QĐ-UBND" and issued.status == "issued"
    assert verification(issued.entries[0].code)["commune"] == "Thành phố Kon Tum"
    # the district-managed unit is in no commune decision; the commune-managed one is
    own = draft_decision("unit", YEAR, COMMUNE, commune_officer)
    assert [e.case_id for e in own.entries] == [commune_unit.id]
    assert own.level == "commune" and own.signer_title == "Chủ tịch Ủy ban nhân dân xã"
    assert other_district.id not in {e.case_id for e in own.entries}


def test_a_commune_managed_unit_is_refused_to_the_district(ctx, make, recognised_unit):
    recognised_unit(COMMUNE)
    district = make.reviewer("district_reviewer", DISTRICT)
    with pytest.raises(NotAllowed):  # a commune's decision: its own officer drafts it
        draft_decision("unit", YEAR, COMMUNE, district)
    db.session.rollback()
    decision = draft_decision("unit", YEAR, DISTRICT, district)  # lists no commune's unit
    assert decision.entries == []


def test_a_province_managed_unit_is_decided_by_the_province(ctx, make, recognised_unit):
    case = recognised_unit(PROVINCE, name="Sở Tư pháp")
    recognised_unit(DISTRICT)
    district = make.reviewer("district_reviewer", DISTRICT)
    assert draft_decision("unit", YEAR, DISTRICT, district).entries[0].case_id != case.id
    db.session.rollback()
    officer = make.reviewer("province_officer", PROVINCE)
    decision = draft_decision("unit", YEAR, PROVINCE, officer)
    db.session.commit()
    assert [e.case_id for e in decision.entries] == [case.id]
    assert decision.level == "province"
    assert decision.signer_title == "Chủ tịch Ủy ban nhân dân tỉnh"
    assert decision.body_name == "Ủy ban nhân dân Tỉnh Kon Tum"
    with pytest.raises(NotFound):  # a district's manager does not lead the province
        issue_decision(decision.id, "3", DAY, "Lê Văn C", make.user("manager", DISTRICT))
    db.session.rollback()
    issue_decision(decision.id, "3", DAY, "Lê Văn C", make.user("manager", PROVINCE))
    db.session.commit()
    # a family's decision stays the commune's: the province may not draft one
    with pytest.raises(InvalidInput):
        draft_decision("family", YEAR, PROVINCE, officer)


@pytest.fixture
def two_tier_province(ctx):
    """Province 62 runs the two-tier set for one test (the units table outlives a test)."""
    before = db.session.get(Unit, PROVINCE).workflow_set

    def switch():
        db.session.execute(
            update(Unit).where(Unit.code == PROVINCE).values(workflow_set="two_tier")
        )
        db.session.commit()

    yield switch
    db.session.rollback()
    db.session.execute(update(Unit).where(Unit.code == PROVINCE).values(workflow_set=before))
    db.session.commit()


def test_without_districts_the_province_decides_a_unit_a_district_managed(
    ctx, make, recognised_unit, two_tier_province
):
    """The two-tier set (since 1 July 2025) has no district stage: the district level of the
    decision block is the province's."""
    case = recognised_unit(DISTRICT, name="Trường Huyện Cũ")
    two_tier_province()
    district = make.reviewer("district_reviewer", DISTRICT)
    with pytest.raises(InvalidInput) as refused:
        draft_decision("unit", YEAR, DISTRICT, district)
    assert "cấp tỉnh" in refused.value.message
    db.session.rollback()
    officer = make.reviewer("province_officer", PROVINCE)
    decision = draft_decision("unit", YEAR, PROVINCE, officer)
    db.session.commit()
    assert [e.case_id for e in decision.entries] == [case.id]
    assert decision.level == "province"
    assert decision.signer_title == "Chủ tịch Ủy ban nhân dân tỉnh"
    manager = make.user("manager", PROVINCE)
    issue_decision(decision.id, "9", DAY, "Lê Văn C", manager)
    db.session.commit()
    # revocation follows the decision: the province's people, not the old district's
    with pytest.raises(NotAllowed):
        fire_trigger(case.id, "revoke", make.user("manager", DISTRICT), comment="Sai")
    db.session.rollback()
    assert fire_trigger(case.id, "revoke", officer, comment="Sai").state == "revoked"


def test_a_district_decision_on_the_pages_with_its_pdf_and_certificates(
    ctx, make, recognised_unit, as_user
):
    recognised_unit(DISTRICT, name="Trường THPT Trên Trang")
    commune = as_user(make.reviewer("commune_reviewer", COMMUNE))
    refused = commune.post("/decisions/new", {"title": "unit", "year": "2026", "unit": DISTRICT})
    assert refused.status_code == 404  # not the commune's territory
    assert db.session.query(Decision).count() == 0
    officer = as_user(make.reviewer("district_reviewer", DISTRICT))
    made = officer.post("/decisions/new", {"title": "unit", "year": "2026", "unit": DISTRICT})
    assert made.status_code == 302, made.get_data(as_text=True)
    decision_id = int(made.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    page = officer.get(f"/decisions/{decision_id}").get_data(as_text=True)
    assert "Trường THPT Trên Trang" in page and "Ban hành quyết định" not in page
    province_manager = as_user(make.user("manager", PROVINCE))
    assert "Ban hành quyết định" not in province_manager.get(f"/decisions/{decision_id}").get_data(
        as_text=True
    )
    refused = province_manager.post(
        f"/decisions/{decision_id}/issue",
        {"number": "2", "date": "2026-12-20", "signer_name": "Nguyễn Văn A"},
    )
    assert refused.status_code == 403
    manager = as_user(make.user("manager", DISTRICT))
    assert "Ban hành quyết định" in manager.get(f"/decisions/{decision_id}").get_data(as_text=True)
    done = manager.post(
        f"/decisions/{decision_id}/issue",
        {"number": "2", "date": "2026-12-20", "signer_name": "Nguyễn Văn A"},
    )
    assert done.status_code == 302
    pdf = manager.get(f"/decisions/{decision_id}/pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    text = _text(pdf.data).lower()
    assert "chủ tịch ủy ban nhân dân huyện" in text and "ủy ban nhân dân thành phố kon tum" in text
    assert "trường thpt trên trang" in text
    certificates = manager.get(f"/decisions/{decision_id}/certificates.pdf")
    assert certificates.status_code == 200
    assert len(PdfReader(io.BytesIO(certificates.data)).pages) == 1
    assert "thành phố kon tum" in _text(certificates.data).lower()


def test_a_province_decision_through_the_api(ctx, make, recognised_unit, api):
    case = recognised_unit(PROVINCE, name="Bảo tàng Tỉnh")
    district = api(make.reviewer("district_reviewer", DISTRICT))
    refused = district.post("/decisions", {"title": "unit", "year": 2026, "unit_code": PROVINCE})
    assert refused.status_code == 404
    officer = api(make.reviewer("province_officer", PROVINCE))
    drafted = officer.post("/decisions", {"title": "unit", "year": 2026, "unit_code": PROVINCE})
    assert drafted.status_code == 201, drafted.get_json()
    body = drafted.get_json()
    assert body["level"] == "province" and [c["case_id"] for c in body["cases"]] == [case.id]
    assert body["signer_title"] == "Chủ tịch Ủy ban nhân dân tỉnh"
    issue = {"number": "4", "date": "2026-12-20", "signer_name": "Lê Văn C"}
    wrong = api(make.user("manager", DISTRICT)).post(f"/decisions/{body['id']}/issue", issue)
    assert wrong.status_code == 404
    done = api(make.user("manager", PROVINCE)).post(f"/decisions/{body['id']}/issue", issue)
    assert done.status_code == 200 and done.get_json()["number"] == "4/QĐ-UBND"
    certificate = officer.get(f"/cases/{case.id}/certificate")
    assert certificate.status_code == 200 and certificate.mimetype == "application/pdf"


def test_a_district_decision_from_the_command_line(ctx, make, recognised_unit, tmp_path):
    recognised_unit(DISTRICT)
    officer = make.reviewer("district_reviewer", DISTRICT)
    commune = make.reviewer("commune_reviewer", COMMUNE)
    manager = make.user("manager", DISTRICT)
    db.session.commit()
    runner = ctx.test_cli_runner()
    refused = runner.invoke(
        args=["decisions", "draft", "--title", "unit", "--year", "2026"]
        + ["--unit", DISTRICT, "--as", commune.username]
    )
    assert refused.exit_code != 0
    drafted = runner.invoke(
        args=["decisions", "draft", "--title", "unit", "--year", "2026"]
        + ["--unit", DISTRICT, "--as", officer.username]
    )
    assert drafted.exit_code == 0, drafted.output
    decision_id = int(drafted.output.strip())
    issued = runner.invoke(
        args=["decisions", "issue", str(decision_id), "--number", "6"]
        + ["--date", "2026-12-20", "--signer", "Nguyễn Văn A", "--as", manager.username]
    )
    assert issued.exit_code == 0, issued.output
    out = tmp_path / "gcn.pdf"
    done = runner.invoke(args=["decisions", "certificates", str(decision_id), "--out", str(out)])
    assert done.exit_code == 0, done.output
    assert len(PdfReader(str(out)).pages) == 1


# --- revocation by the issuing level only ---------------------------------------------------


def _issued(make, case, level_unit, title, officer_role):
    officer = make.reviewer(officer_role, level_unit)
    decision = draft_decision(title, YEAR, level_unit, officer)
    leader = {COMMUNE: DISTRICT}.get(level_unit, level_unit)
    issue_decision(decision.id, "1", DAY, "Nguyễn Văn A", make.user("manager", leader))
    db.session.commit()
    assert case.id in {e.case_id for e in decision.entries}


def _refused(make, case_id, role, unit, error):
    user = make.user(role, unit)
    with pytest.raises(error):
        fire_trigger(case_id, "revoke", user, comment="Khai sai")
    db.session.rollback()
    if error is NotAllowed:
        assert "revoke" not in allowed_triggers(db.session.get(Case, case_id), user)


def test_a_commune_decisions_recognition_is_revoked_by_that_commune_only(
    ctx, make, recognised_unit
):
    case = recognised_unit(COMMUNE, kind="family")
    _issued(make, case, COMMUNE, "family", "commune_reviewer")
    _refused(make, case.id, "district_reviewer", DISTRICT, NotAllowed)
    _refused(make, case.id, "province_officer", PROVINCE, NotAllowed)
    _refused(make, case.id, "manager", PROVINCE, NotAllowed)
    _refused(make, case.id, "education_reviewer", PROVINCE, NotAllowed)
    _refused(make, case.id, "admin", PROVINCE, NotAllowed)
    _refused(make, case.id, "commune_reviewer", OTHER_COMMUNE_SAME_DISTRICT, NotFound)
    _refused(make, case.id, "manager", OTHER_DISTRICT, NotFound)
    leader = make.user("manager", DISTRICT)  # who issued it may revoke it
    assert "revoke" in allowed_triggers(db.session.get(Case, case.id), leader)
    officer = make.reviewer("commune_reviewer", COMMUNE)
    assert "revoke" in allowed_triggers(db.session.get(Case, case.id), officer)
    assert fire_trigger(case.id, "revoke", officer, comment="Khai sai").state == "revoked"


def test_a_district_decisions_recognition_is_revoked_by_that_district_only(
    ctx, make, recognised_unit
):
    case = recognised_unit(DISTRICT)
    _issued(make, case, DISTRICT, "unit", "district_reviewer")
    _refused(make, case.id, "commune_reviewer", COMMUNE, NotFound)
    _refused(make, case.id, "province_officer", PROVINCE, NotAllowed)
    _refused(make, case.id, "manager", PROVINCE, NotAllowed)
    _refused(make, case.id, "culture_reviewer", PROVINCE, NotAllowed)
    _refused(make, case.id, "district_reviewer", OTHER_DISTRICT, NotFound)
    manager = make.user("manager", DISTRICT)
    assert fire_trigger(case.id, "revoke", manager, comment="Khai sai").state == "revoked"


def test_a_community_decided_by_the_district_is_not_revoked_by_its_commune(
    ctx, make, recognised_unit
):
    case = recognised_unit(COMMUNE, kind="community")
    _issued(make, case, DISTRICT, "community", "district_reviewer")
    _refused(make, case.id, "commune_reviewer", COMMUNE, NotAllowed)
    officer = make.reviewer("district_reviewer", DISTRICT)
    assert fire_trigger(case.id, "revoke", officer, comment="Giải thể").state == "revoked"


def test_a_province_decisions_recognition_is_revoked_by_the_province_only(
    ctx, make, recognised_unit
):
    case = recognised_unit(PROVINCE)
    _issued(make, case, PROVINCE, "unit", "province_officer")
    _refused(make, case.id, "district_reviewer", DISTRICT, NotFound)
    _refused(make, case.id, "manager", DISTRICT, NotFound)
    _refused(make, case.id, "education_reviewer", PROVINCE, NotAllowed)
    officer = make.reviewer("province_officer", PROVINCE)
    assert fire_trigger(case.id, "revoke", officer, comment="Sáp nhập").state == "revoked"


def test_before_any_decision_the_level_that_will_issue_it_revokes(ctx, make, recognised_unit):
    case = recognised_unit(COMMUNE_IN_OTHER_DISTRICT, kind="family")
    _refused(make, case.id, "district_reviewer", OTHER_DISTRICT, NotAllowed)
    officer = make.reviewer("commune_reviewer", COMMUNE_IN_OTHER_DISTRICT)
    assert fire_trigger(case.id, "revoke", officer, comment="Khai sai").state == "revoked"
