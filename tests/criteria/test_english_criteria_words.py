"""With English chosen, a case page names its criteria set, notes, criterion descriptions and
rating band in English (the files' label_en, notes_en, description_en; the band's code)."""

from __future__ import annotations

from flask_babel import refresh

from tests.factories import COMMUNE
from tests.security.test_authorization_matrix import login


def test_the_case_page_speaks_english_for_the_criteria(ctx, client, make):
    case, _applicant = make.case_in("commune_review", kind="unit")
    reviewer = make.reviewer("commune_reviewer", COMMUNE)
    login(client, reviewer)
    with client.session_transaction() as session:
        session["lang"] = "en"
    refresh()
    page = client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert "Criteria for Learning Units at the grassroots managed by a commune" in page
    assert "Provisional values, to be checked against the original document" in page
    assert "Bộ tiêu chí" not in page and "Giá trị tạm" not in page
    assert " · Good" in page and " · Tốt" not in page  # the rating band
