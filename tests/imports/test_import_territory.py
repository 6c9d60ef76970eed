"""Imports across territories: a row whose code is already held by a record outside the
importer's territory is refused by row and column, and nothing is written (issue 19 item 1)
— for every kind of list: households, communities, clans (with their member lists), units."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from htsd_workflow.core.errors import InvalidInput
from htsd_workflow.extensions import db
from htsd_workflow.imports.operations import run_import, validate_import
from htsd_workflow.imports.specs import SPECS
from htsd_workflow.subjects.models import ClanMember, Subject
from tests.clients import text
from tests.factories import (
    COMMUNE,
    COMMUNE_IN_OTHER_DISTRICT,
    DISTRICT,
    OTHER_COMMUNE_SAME_DISTRICT,
    OTHER_DISTRICT,
    PROVINCE,
)
from tests.imports.test_import_pages import job_of, upload
from tests.imports.test_imports import xlsx


def headers(kind):
    return [c.header for c in SPECS[kind].columns]


def snapshot(code):
    db.session.expire_all()
    subject = db.session.scalar(select(Subject).where(Subject.external_code == code))
    members = set(
        db.session.scalars(select(ClanMember.household_id).where(ClanMember.clan_id == subject.id))
    )
    return (subject.unit_code, subject.name, subject.phone, subject.head_name, members)


def refused(kind, row, actor, code):
    """Both the check and the import name the row and the code column; nothing is written."""
    column = SPECS[kind].columns[0].header
    report = validate_import(kind, xlsx(headers(kind), [row]), actor)
    assert [(e.row, e.column) for e in report.errors] == [(2, column)], report.errors
    assert "ngoài địa bàn" in report.errors[0].message and code in report.errors[0].message
    with pytest.raises(InvalidInput) as refusal:
        run_import(kind, xlsx(headers(kind), [row]), actor)
    db.session.rollback()
    errors = refusal.value.details["errors"]
    assert [(e["row"], e["column"]) for e in errors] == [(2, column)]


def test_a_commune_officer_cannot_take_over_another_districts_household(ctx, make):
    household = make.subject(
        "family", COMMUNE_IN_OTHER_DISTRICT, external_code="H23500-001", phone="0911111111"
    )
    before = snapshot("H23500-001")
    officer = make.user("commune_reviewer", COMMUNE)
    row = ["H23500-001", "Kẻ Lạ", COMMUNE, None, "0999999999", None]
    refused("households", row, officer, "H23500-001")
    assert snapshot("H23500-001") == before
    assert db.session.get(Subject, household.id).commune_code == COMMUNE_IN_OTHER_DISTRICT


def test_a_commune_officer_cannot_take_over_another_communes_village(ctx, make):
    make.subject("community", OTHER_COMMUNE_SAME_DISTRICT, name="Thôn 1", external_code="T9")
    before = snapshot("T9")
    officer = make.user("commune_reviewer", COMMUNE)
    refused("communities", ["T9", "Thôn của tôi", COMMUNE, "Kẻ Lạ"], officer, "T9")
    assert snapshot("T9") == before


def test_another_districts_clan_and_its_member_list_stay_as_they_are(ctx, make):
    theirs = make.subject("family", COMMUNE_IN_OTHER_DISTRICT, external_code="H-THEIRS")
    make.subject("family", COMMUNE, external_code="H-OURS")
    make.subject(
        "clan", COMMUNE_IN_OTHER_DISTRICT, name="Họ A", external_code="D1", member_ids=[theirs.id]
    )
    before = snapshot("D1")
    officer = make.user("commune_reviewer", COMMUNE)
    refused("clans", ["D1", "Họ của tôi", None, COMMUNE, "H-OURS"], officer, "D1")
    # an empty member list would empty theirs: refused the same
    refused("clans", ["D1", "Họ A", None, COMMUNE, None], officer, "D1")
    assert snapshot("D1") == before and before[4] == {theirs.id}


@pytest.mark.parametrize(
    "role, territory, managed_by, row_unit",
    [
        ("commune_reviewer", COMMUNE, OTHER_DISTRICT, COMMUNE),
        ("commune_reviewer", COMMUNE, PROVINCE, COMMUNE),
        ("commune_reviewer", COMMUNE, DISTRICT, COMMUNE),
        ("district_reviewer", DISTRICT, PROVINCE, DISTRICT),
        ("district_reviewer", DISTRICT, OTHER_DISTRICT, DISTRICT),
        ("district_reviewer", DISTRICT, COMMUNE_IN_OTHER_DISTRICT, COMMUNE),
    ],
)
def test_a_unit_managed_above_or_elsewhere_cannot_be_taken_over(
    ctx, make, role, territory, managed_by, row_unit
):
    make.subject("unit", managed_by, name="Sở Giáo dục", external_code="U1", unit_type="agency")
    before = snapshot("U1")
    officer = make.user(role, territory)
    refused("units", ["U1", "Đơn vị của tôi", "trường học", row_unit, None], officer, "U1")
    assert snapshot("U1") == before


def test_records_inside_the_territory_are_still_updated(ctx, make):
    make.subject("family", OTHER_COMMUNE_SAME_DISTRICT, external_code="H7")
    officer = make.user("district_reviewer", DISTRICT)
    result = run_import(
        "households",
        xlsx(headers("households"), [["H7", "Lê Văn C", COMMUNE, None, None, None]]),
        officer,
    )
    db.session.commit()
    assert result.updated == 1 and snapshot("H7")[0] == COMMUNE


def test_the_import_page_refuses_the_takeover_and_offers_no_confirmation(ctx, make, as_user):
    make.subject("family", COMMUNE_IN_OTHER_DISTRICT, external_code="H23500-001")
    before = snapshot("H23500-001")
    officer = make.user("commune_reviewer", COMMUNE)
    browser = as_user(officer)
    row = ["H23500-001", "Kẻ Lạ", COMMUNE, None, "0999999999", None]
    job = job_of(upload(browser, "households", xlsx(headers("households"), [row])))
    assert job.status == "checked" and job.error_count == 1 and not job.is_clean
    page = text(browser.get(f"/imports/jobs/{job.id}"))
    assert "ngoài địa bàn" in page and "Xác nhận nhập" not in page
    assert browser.post(f"/imports/jobs/{job.id}/confirm").status_code == 409
    assert snapshot("H23500-001") == before
