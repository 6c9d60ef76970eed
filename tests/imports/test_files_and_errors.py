"""Spreadsheets as they arrive: Excel formulas (with and without their computed values), CSV
in every common encoding and Unicode form, and every kind of row and file error."""

from __future__ import annotations

import codecs
import io
import re
import unicodedata
import zipfile

import pytest
from openpyxl import Workbook
from sqlalchemy import select

from htsd_workflow.core.errors import InvalidInput
from htsd_workflow.core.text import search_key
from htsd_workflow.extensions import db
from htsd_workflow.imports.operations import run_import, validate_import
from htsd_workflow.imports.specs import SPECS
from htsd_workflow.subjects.models import Subject
from tests.factories import COMMUNE, OTHER_COMMUNE_SAME_DISTRICT
from tests.imports.test_imports import COMMUNITY_HEADERS, HOUSEHOLD_HEADERS, xlsx

CLAN_HEADERS = [c.header for c in SPECS["clans"].columns]
UNIT_HEADERS = [c.header for c in SPECS["units"].columns]


@pytest.fixture
def officer(make):
    return make.user("commune_reviewer", COMMUNE)


def excel_saved(headers, rows, cached: dict[str, str]) -> io.BytesIO:
    """An XLSX as Excel saves it: formula cells carry their computed value (``cached`` maps a
    cell such as "B2" to it); formula cells not in ``cached`` have none, as when a program
    wrote the file and nobody opened it in Excel."""
    buffer = xlsx(headers, rows)
    source = zipfile.ZipFile(buffer)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                xml = data.decode()
                for cell, value in cached.items():
                    xml = re.sub(
                        rf'<c r="{cell}"><f>(.*?)</f>(?:<v\s*/>|<v></v>)',  # lxml writes <v></v>
                        lambda m, c=cell, v=value: (
                            f'<c r="{c}" t="str"><f>{m.group(1)}</f><v>{v}</v>'
                        ),
                        xml,
                    )
                data = xml.encode()
            target.writestr(item, data)
    out.seek(0)
    return out


def test_excel_formulas_import_their_computed_values(ctx, officer):
    rows = [
        ['="H"&"0001"', '=CONCATENATE("Nguyễn"," Văn An")', COMMUNE, None, "=B2", None],
    ]
    data = excel_saved(
        HOUSEHOLD_HEADERS, rows, {"A2": "H0001", "B2": "Nguyễn Văn An", "E2": "0912345678"}
    )
    result = run_import("households", data, officer)
    db.session.commit()
    assert result.created == 1
    household = db.session.scalar(select(Subject).where(Subject.external_code == "H0001"))
    assert (household.head_name, household.phone) == ("Nguyễn Văn An", "0912345678")


def test_a_formula_without_a_computed_value_is_reported_not_read_as_empty(ctx, officer):
    rows = [["H1", "Nguyễn Văn An", COMMUNE, None, None, "=VLOOKUP(A2,Sheet2!A:B,2,0)"]]
    report = validate_import("households", xlsx(HOUSEHOLD_HEADERS, rows), officer)
    [error] = report.errors
    assert (error.row, error.column) == (2, "Địa chỉ")
    assert "công thức" in error.message and "VLOOKUP" in error.message


@pytest.mark.parametrize(
    "encode",
    [
        lambda t: codecs.BOM_UTF8 + t.encode("utf-8"),
        lambda t: t.encode("utf-16"),  # with its byte-order mark, as Excel's "Unicode text"
        lambda t: codecs.BOM_UTF16_BE + t.encode("utf-16-be"),
        lambda t: unicodedata.normalize("NFD", t).encode("utf-8"),  # decomposed (macOS)
    ],
    ids=["utf8-bom", "utf16-le", "utf16-be", "utf8-nfd"],
)
def test_csv_encodings_and_unicode_forms_store_nfc_and_search_without_diacritics(
    ctx, officer, encode
):
    text = "\t".join(COMMUNITY_HEADERS) + "\r\nT1\tLàng Đắk Hà\t23281\tA Blong\r\n"
    run_import("communities", io.BytesIO(encode(text)), officer)
    db.session.commit()
    name = db.session.scalar(select(Subject.name).where(Subject.external_code == "T1"))
    assert name == "Làng Đắk Hà" and unicodedata.is_normalized("NFC", name)
    found = db.session.scalar(
        select(Subject.name).where(Subject.name_search.contains(search_key("lang dak ha")))
    )
    assert found == name


def test_every_kind_of_row_error_is_named_by_row_column_and_problem(ctx, officer, make):
    run_import(
        "communities",
        xlsx(
            COMMUNITY_HEADERS,
            [["T1", "Tổ 1", COMMUNE, None], ["T9", "Tổ 9", OTHER_COMMUNE_SAME_DISTRICT, None]],
        ),
        make.user("district_reviewer", "608"),
    )
    db.session.commit()
    cases = [
        (["", "Thiếu mã", COMMUNE, None, None, None], "Mã hộ", "Thiếu Mã hộ"),
        (["H2", "", COMMUNE, None, None, None], "Tên chủ hộ", "Thiếu Tên chủ hộ"),
        (["H" * 65, "Mã dài", COMMUNE, None, None, None], "Mã hộ", "dài quá 64"),
        (["H 4", "Mã có dấu cách", COMMUNE, None, None, None], "Mã hộ", "chỉ được gồm"),
        (["H5", "Xã lạ", "99999", None, None, None], "Mã xã", "Không có đơn vị"),
        (["H6", "Mã huyện", "608", None, None, None], "Mã xã", "không phải cấp xã"),
        (
            ["H7", "Xã khác", OTHER_COMMUNE_SAME_DISTRICT, None, None, None],
            "Mã xã",
            "ngoài địa bàn",
        ),
        (["H8", "Thôn lạ", COMMUNE, "T404", None, None], "Mã thôn/tổ dân phố", "Không có thôn"),
        (["H9", "Thôn xã khác", COMMUNE, "T9", None, None], "Mã thôn/tổ dân phố", "không thuộc xã"),
        (["H10", "Điện thoại", COMMUNE, None, "09-12", None], "Số điện thoại", "không hợp lệ"),
        (["H11", "Địa chỉ dài", COMMUNE, None, None, "x" * 301], "Địa chỉ", "dài quá 300"),
        (["H12", "@Lệnh", COMMUNE, None, None, None], "Tên chủ hộ", "bắt đầu bằng"),
        (["T1", "Mã của thôn", COMMUNE, None, None, None], "Mã hộ", "đối tượng loại khác"),
        (["H14", "Hộ tốt", COMMUNE, "T1", None, None], None, None),
        (["H14", "Trùng mã", COMMUNE, None, None, None], "Mã hộ", "trùng với dòng 15"),
    ]
    report = validate_import(
        "households", xlsx(HOUSEHOLD_HEADERS, [row for row, _, _ in cases]), officer
    )
    found: dict[tuple, str] = {}
    for e in report.errors:
        found[(e.row, e.column)] = found.get((e.row, e.column), "") + " | " + e.message
    for number, (_row, column, fragment) in enumerate(cases, start=2):
        if column is None:
            assert not any(row == number for row, _ in found), found
            continue
        assert fragment in found.get((number, column), ""), (number, column, found)
    assert {row for row, _ in found} == set(range(2, len(cases) + 2)) - {15}
    assert report.rows == len(cases)


def test_clan_and_unit_errors(ctx, make):
    admin = make.user("admin", "62")
    report = validate_import(
        "clans",
        xlsx(CLAN_HEADERS, [["D1", "Họ Lê", None, COMMUNE, "H404; H 5"]]),
        admin,
    )
    assert [(e.row, e.column) for e in report.errors] == [(2, "Mã hộ thành viên")]
    report = validate_import(
        "clans", xlsx(CLAN_HEADERS, [["D1", "Họ Lê", None, COMMUNE, "H404"]]), admin
    )
    assert "Không có hộ mã “H404”" in report.errors[0].message
    report = validate_import(
        "units",
        xlsx(UNIT_HEADERS, [["U1", "Chợ", "chợ", "62", None], ["U2", "Sở", "cơ quan", "9", None]]),
        admin,
    )
    assert [(e.row, e.column) for e in report.errors] == [
        (2, "Loại đơn vị"),
        (3, "Mã đơn vị hành chính quản lý"),
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "Tệp trống"),
        (("\t".join(HOUSEHOLD_HEADERS) + "\n").encode(), "không có dòng dữ liệu"),
        ("Tên;Xã\nA;1\n".encode(), "thiếu cột"),
        (b"PK\x03\x04not really a zip", "bị hỏng"),
        (b"\x00\x01\x02binary", "không phải bảng tính"),
    ],
    ids=["empty", "header-only", "missing-columns", "broken-xlsx", "binary"],
)
def test_files_that_cannot_be_read_say_what_to_do(ctx, officer, data, message):
    with pytest.raises(InvalidInput, match=message) as refused:
        validate_import("households", io.BytesIO(data), officer)
    assert refused.value.details  # with a hint on how to fix the file


def test_an_xlsx_whose_sheet_is_broken_inside_is_refused_clearly(ctx, officer):
    good = xlsx(HOUSEHOLD_HEADERS, [["H1", "A", COMMUNE, None, None, None]])
    source = zipfile.ZipFile(good)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = data[: len(data) // 2]  # cut off mid-way
            target.writestr(item, data)
    out.seek(0)
    with pytest.raises(InvalidInput, match="bị hỏng"):
        validate_import("households", out, officer)


def test_a_corrected_clan_file_updates_its_member_list(ctx, make):
    admin = make.user("admin", "62")
    run_import(
        "households",
        xlsx(
            HOUSEHOLD_HEADERS,
            [[f"H{i}", f"Hộ {i}", COMMUNE, None, None, None] for i in range(1, 4)],
        ),
        admin,
    )
    run_import("clans", xlsx(CLAN_HEADERS, [["D1", "Họ Lê", None, COMMUNE, "H1;H2"]]), admin)
    run_import("clans", xlsx(CLAN_HEADERS, [["D1", "Họ Lê", None, COMMUNE, "H2;H3"]]), admin)
    db.session.commit()
    from htsd_workflow.subjects.models import ClanMember

    members = db.session.scalars(
        select(Subject.external_code)
        .join(ClanMember, ClanMember.household_id == Subject.id)
        .order_by(Subject.external_code)
    ).all()
    assert members == ["H2", "H3"]


def test_a_workbook_written_by_openpyxl_without_formulas_reads_every_row(ctx, officer):
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(HOUSEHOLD_HEADERS)
    sheet.append(["H1", "A", int(COMMUNE), None, 912345678, None])  # numbers typed as numbers
    sheet.append([])
    sheet.append(["H3", "C", COMMUNE, None, None, None])  # after an empty row
    buffer = io.BytesIO()
    workbook.save(buffer)
    buffer.seek(0)
    result = run_import("households", buffer, officer)
    assert result.created == 2
    db.session.commit()
    phones = dict(db.session.execute(select(Subject.external_code, Subject.phone)).all())
    assert phones == {"H1": "912345678", "H3": None}
