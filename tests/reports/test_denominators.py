"""Denominators: the form, the spreadsheet upload and its template, scope and CSRF."""

from __future__ import annotations

import io

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import select

from htsd_workflow.extensions import db, limiter
from htsd_workflow.reports.models import Denominator
from tests.clients import Browser
from tests.factories import COMMUNE, DISTRICT, OTHER_COMMUNE_SAME_DISTRICT, OTHER_DISTRICT

IN_OTHER_DISTRICT = "23500"


@pytest.fixture
def browser(client):
    limiter.reset()
    return Browser(client)


def figures(year=2026):
    return {
        (d.unit_code, d.title): d.count
        for d in db.session.scalars(select(Denominator).where(Denominator.year == year))
    }


def xlsx(rows, header=("Mã đơn vị hành chính", "Năm", "Số hộ gia đình", "Số dòng họ")):
    book = Workbook()
    sheet = book.active
    sheet.append(list(header))
    for row in rows:
        sheet.append(list(row))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def upload(browser, data: bytes, name="tong-so.xlsx", year=2026):
    return browser.post(
        f"/reports/denominators/upload?year={year}",
        data={"file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )


def test_a_commune_officer_sets_their_communes_figures_on_the_form(ctx, make, browser):
    browser.login(make.user("commune_reviewer", COMMUNE))
    page = browser.get("/reports/denominators?year=2026").get_data(as_text=True)
    assert f'name="d-{COMMUNE}-family"' in page
    assert f"d-{OTHER_COMMUNE_SAME_DISTRICT}-" not in page  # only their own commune
    response = browser.post(
        "/reports/denominators?year=2026",
        data={f"d-{COMMUNE}-family": "2.150", f"d-{COMMUNE}-clan": "12", f"d-{COMMUNE}-unit": ""},
    )
    assert response.status_code == 302
    assert figures() == {(COMMUNE, "family"): 2150, (COMMUNE, "clan"): 12}
    # an emptied field removes the figure: the report shows it as missing again
    browser.post("/reports/denominators?year=2026", data={f"d-{COMMUNE}-clan": ""})
    assert figures() == {(COMMUNE, "family"): 2150}


def test_the_form_refuses_another_communes_figures_and_bad_numbers_saving_nothing(
    ctx, make, browser
):
    browser.login(make.user("commune_reviewer", COMMUNE))
    response = browser.post(
        "/reports/denominators?year=2026",
        data={
            f"d-{COMMUNE}-family": "100",
            f"d-{OTHER_COMMUNE_SAME_DISTRICT}-family": "50",
            f"d-{COMMUNE}-clan": "mười",
        },
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "ngoài địa bàn bạn quản lý" in html
    assert "“mười” không phải số nguyên không âm" in html
    assert figures() == {}


def test_a_district_sets_only_units_for_itself(ctx, make, browser):
    browser.login(make.user("district_reviewer", DISTRICT))
    page = browser.get("/reports/denominators?year=2026").get_data(as_text=True)
    assert f'name="d-{DISTRICT}-unit"' in page and f'name="d-{DISTRICT}-family"' not in page
    assert f'name="d-{COMMUNE}-family"' in page  # and its communes
    response = browser.post(
        "/reports/denominators?year=2026",
        data={f"d-{DISTRICT}-unit": "14", f"d-{DISTRICT}-family": "3"},
    )
    assert response.status_code == 422
    assert (
        browser.post(
            "/reports/denominators?year=2026", data={f"d-{DISTRICT}-unit": "14"}
        ).status_code
        == 302
    )
    assert figures() == {(DISTRICT, "unit"): 14}


def test_posting_without_the_csrf_token_is_refused(ctx, make, browser):
    browser.login(make.user("commune_reviewer", COMMUNE))
    response = browser.post(
        "/reports/denominators?year=2026",
        data={"csrf_token": "forged", f"d-{COMMUNE}-family": "100"},
    )
    assert response.status_code == 400
    assert figures() == {}


@pytest.mark.parametrize("role", ["applicant", "education_reviewer", "culture_reviewer"])
def test_roles_that_do_not_enter_figures_are_refused(ctx, make, browser, role):
    user = make.user(role, "62") if role != "applicant" else make.applicant(make.subject())
    browser.login(user)
    assert browser.get("/reports/denominators").status_code == 403
    assert browser.get("/reports/denominators/template.xlsx").status_code == 403


def test_the_template_has_vietnamese_headers_and_the_users_areas(ctx, make, browser):
    db.session.add(Denominator(unit_code=COMMUNE, year=2026, title="family", count=2150))
    db.session.commit()
    browser.login(make.user("district_reviewer", DISTRICT))
    response = browser.get("/reports/denominators/template.xlsx?year=2026")
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.data))
    sheet = book.worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:6] == (
        "Mã đơn vị hành chính",
        "Năm",
        "Số hộ gia đình",
        "Số dòng họ",
        "Số thôn, tổ dân phố",
        "Số cơ quan, đơn vị",
    )
    by_code = {r[0]: r for r in rows[1:]}
    assert by_code[DISTRICT][2] == "—" and by_code[DISTRICT][5] is None
    assert by_code[COMMUNE][:3] == (COMMUNE, 2026, 2150)
    assert IN_OTHER_DISTRICT not in by_code
    assert "Hướng dẫn" in book.sheetnames
    # the filled-in template imports as it is (re-importing changes nothing)
    assert upload(browser, response.data).status_code == 302
    assert figures() == {(COMMUNE, "family"): 2150}


def test_an_upload_with_errors_lists_row_column_and_problem_and_imports_nothing(ctx, make, browser):
    browser.login(make.user("district_reviewer", DISTRICT))
    data = xlsx(
        [
            (COMMUNE, 2026, 100, 3),
            (IN_OTHER_DISTRICT, 2026, 10, 1),
            ("99999", 2026, 10, 1),
            (OTHER_COMMUNE_SAME_DISTRICT, 1990, "12a", 2),
            (COMMUNE, 2026, 5, 5),
            (DISTRICT, 2026, 5, None),
        ]
    )
    response = upload(browser, data)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    for row, column, message in (
        (3, "Mã đơn vị hành chính", "ngoài địa bàn bạn quản lý"),
        (4, "Mã đơn vị hành chính", "Không có đơn vị hành chính mã “99999”"),
        (5, "Năm", "Năm “1990” không hợp lệ"),
        (5, "Số hộ gia đình", "“12a” không phải số nguyên không âm"),
        (6, "Mã đơn vị hành chính", "Trùng với dòng 2"),
        (7, "Số hộ gia đình", "chỉ nhập số cơ quan, đơn vị trực tiếp quản lý"),
    ):
        assert f"<td>{row}</td><td>{column}</td><td>" in html, (row, column)
        assert message in html
    assert "Tệp có 6 lỗi; chưa nhập dòng nào." in html
    assert figures() == {}


def test_a_clean_csv_upload_imports_every_row(ctx, make, browser):
    browser.login(make.user("manager", "62"))
    text = (
        "Mã đơn vị hành chính;Năm;Số hộ gia đình;Số cơ quan, đơn vị\n"
        f"{COMMUNE};2026;2150;15\n{IN_OTHER_DISTRICT};2026;900;\n62;2026;;4\n"
    )
    response = upload(browser, text.encode("utf-8"), name="tong-so.csv")
    assert response.status_code == 302
    assert figures() == {
        (COMMUNE, "family"): 2150,
        (COMMUNE, "unit"): 15,
        (IN_OTHER_DISTRICT, "family"): 900,
        ("62", "unit"): 4,
    }


def test_a_file_that_is_no_spreadsheet_gets_a_clear_message(ctx, make, browser):
    browser.login(make.user("commune_reviewer", COMMUNE))
    response = upload(browser, b"\x00\x01\x02binary", name="x.xlsx")
    assert response.status_code == 422
    assert "Tệp không phải bảng tính CSV hoặc Excel." in response.get_data(as_text=True)
    response = upload(browser, xlsx([(COMMUNE, 2026)], header=("Xã", "Năm")))
    assert response.status_code == 422
    assert "Tệp thiếu cột Mã đơn vị hành chính." in response.get_data(as_text=True)
    assert browser.post("/reports/denominators/upload").status_code == 422  # no file


def test_a_district_manager_in_another_district_cannot_set_this_district(ctx, make, browser):
    browser.login(make.user("manager", OTHER_DISTRICT))
    response = upload(browser, xlsx([(COMMUNE, 2026, 100, 3)]))
    assert response.status_code == 422
    assert figures() == {}
