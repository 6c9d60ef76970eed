"""Lists of those recognised (page, CSV, XLSX, PDF), the two yearly counts, and the public
list with PUBLIC_LISTS=1."""

from __future__ import annotations

import io
from datetime import date

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from htsd_workflow.cases.operations import fire_trigger
from htsd_workflow.decisions.models import Decision
from htsd_workflow.decisions.operations import draft_decision, issue_decision
from htsd_workflow.extensions import db
from tests.factories import COMMUNE, DISTRICT, OTHER_COMMUNE_SAME_DISTRICT

pytestmark = pytest.mark.pinned_clock  # drafts and rounds of 2026, dates of that December


def _issue(make, unit, number, day, year=2026, kind="family"):
    officer = make.reviewer("commune_reviewer", unit)
    decision = draft_decision(kind, year, unit, officer)
    issue_decision(decision.id, number, day, "Nguyễn Văn A", make.user("manager", DISTRICT))
    db.session.commit()
    return db.session.get(Decision, decision.id)


def test_a_commune_lists_and_prints_its_years_recognitions(ctx, make, recognised, as_user):
    recognised(name="Hộ Lê Thị Én")
    recognised(OTHER_COMMUNE_SAME_DISTRICT, name="Hộ Ở Xã Khác")
    _issue(make, COMMUNE, "5", date(2026, 12, 1))
    _issue(make, OTHER_COMMUNE_SAME_DISTRICT, "6", date(2026, 12, 1))
    browser = as_user(make.reviewer("commune_reviewer", COMMUNE))
    page = browser.get("/decisions/lists?year=2026").get_data(as_text=True)
    assert "Hộ Lê Thị Én" in page and "Hộ Ở Xã Khác" not in page
    csv = browser.get("/decisions/lists?year=2026&format=csv")
    assert csv.mimetype == "text/csv" and "Hộ Lê Thị Én" in csv.get_data(as_text=True)
    book = load_workbook(io.BytesIO(browser.get("/decisions/lists?year=2026&format=xlsx").data))
    cells = [c for row in book.active.iter_rows(values_only=True) for c in row]
    assert "Hộ Lê Thị Én" in cells and "Hộ Ở Xã Khác" not in cells
    pdf = browser.get("/decisions/lists?year=2026&format=pdf")
    text = " ".join(PdfReader(io.BytesIO(pdf.data)).pages[0].extract_text().split())
    assert "Hộ Lê Thị Én" in text
    # the district sees both communes; another commune is not the commune officer's
    district = as_user(make.reviewer("district_reviewer", DISTRICT))
    both = district.get("/decisions/lists?year=2026").get_data(as_text=True)
    assert "Hộ Lê Thị Én" in both and "Hộ Ở Xã Khác" in both
    assert browser.get(f"/decisions/lists?unit={OTHER_COMMUNE_SAME_DISTRICT}").status_code == 404


def test_titles_valid_in_a_year_count_earlier_decisions(ctx, make, recognised, as_user):
    """A 2025 family decision (12 months from 1 March 2025) still counts in 2026; a revoked
    one does not; the recognitions made in 2026 count only 2026's decisions."""
    old, _ = recognised(name="Hộ Công Nhận 2025")
    db.session.execute(Decision.__table__.delete())
    from htsd_workflow.cases.models import Case

    db.session.execute(Case.__table__.update().where(Case.id == old.id).values(year=2025))
    db.session.commit()
    _issue(make, COMMUNE, "1", date(2025, 3, 1), year=2025)
    new, _ = recognised(name="Hộ Công Nhận 2026")
    revoked, _ = recognised(name="Hộ Bị Thu Hồi")
    _issue(make, COMMUNE, "9", date(2026, 12, 1))
    fire_trigger(revoked.id, "revoke", make.reviewer("commune_reviewer", COMMUNE), comment="Sai")
    db.session.commit()
    browser = as_user(make.reviewer("commune_reviewer", COMMUNE))
    made = browser.get("/decisions/lists?year=2026").get_data(as_text=True)
    valid = browser.get("/decisions/lists?year=2026&valid=1").get_data(as_text=True)
    assert "Hộ Công Nhận 2025" not in made and "Hộ Công Nhận 2026" in made
    assert "Hộ Công Nhận 2025" in valid and "Hộ Bị Thu Hồi" not in valid
    assert "<strong>2</strong>" in made  # made in 2026: the new one and the revoked one
    from sqlalchemy import true

    from htsd_workflow.decisions.lists import yearly_counts

    assert yearly_counts(true(), 2026) == {"made": 2, "valid": 2}
    assert yearly_counts(true(), 2025) == {"made": 1, "valid": 1}


def test_the_public_list_needs_public_lists(ctx, make, recognised, client):
    recognised(name="Hộ Công Khai")
    _issue(make, COMMUNE, "2", date(2026, 12, 1))
    assert client.get(f"/recognitions/{COMMUNE}/2026").status_code == 404
    ctx.config["PUBLIC_LISTS"] = True
    try:
        page = client.get(f"/recognitions/{COMMUNE}/2026")
    finally:
        ctx.config["PUBLIC_LISTS"] = False
    assert page.status_code == 200 and "Hộ Công Khai" in page.get_data(as_text=True)
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "HS-" not in page.get_data(as_text=True)
