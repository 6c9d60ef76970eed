"""Spreadsheet imports: templates, row-by-row reports, idempotence, encodings, formulas."""

from __future__ import annotations

import io
import unicodedata

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from htsd_workflow.core.errors import InvalidInput
from htsd_workflow.extensions import db
from htsd_workflow.imports.operations import run_import, template_xlsx, validate_import
from htsd_workflow.imports.specs import SPECS
from htsd_workflow.subjects.models import ClanMember, Subject

COMMUNITY_HEADERS = [c.header for c in SPECS["communities"].columns]
HOUSEHOLD_HEADERS = [c.header for c in SPECS["households"].columns]


def xlsx(headers, rows) -> io.BytesIO:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(headers)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    buffer.seek(0)
    return buffer


def to_cp1258(text: str) -> bytes:
    """Encode as Windows-1258 does: precomposed where it can, base + tone mark where not."""
    out = b""
    for char in text:
        try:
            out += char.encode("cp1258")
        except UnicodeEncodeError:
            base, *marks = unicodedata.normalize("NFD", char)
            try:
                out += unicodedata.normalize("NFC", base + "".join(marks[:-1])).encode("cp1258")
                out += marks[-1].encode("cp1258")
            except UnicodeEncodeError:
                out += "".join([base, *marks]).encode("cp1258")
    return out


def csv_bytes(headers, rows, encoding="utf-8", sep=",") -> io.BytesIO:
    lines = [sep.join(headers)] + [sep.join(str(v or "") for v in row) for row in rows]
    text = "\n".join(lines) + "\n"
    return io.BytesIO(to_cp1258(text) if encoding == "cp1258" else text.encode(encoding))


def count(kind):
    return db.session.scalar(select(func.count()).where(Subject.kind == kind))


@pytest.fixture
def officer(make):
    return make.user("commune_reviewer", "23281")


def load_communities(officer):
    run_import(
        "communities",
        xlsx(
            COMMUNITY_HEADERS,
            [["T1", "Tổ dân phố 1", "23281", "A Blong"], ["T2", "Tổ dân phố 2", "23281", None]],
        ),
        officer,
    )
    db.session.commit()


def test_template_has_vietnamese_headers_and_imports_after_filling(ctx, officer):
    workbook = load_workbook(io.BytesIO(template_xlsx("households")))
    headers = [c.value for c in workbook.active[1]]
    assert headers == HOUSEHOLD_HEADERS and "Hướng dẫn" in workbook.sheetnames
    load_communities(officer)
    workbook.active.delete_rows(2)
    workbook.active.append(["H0001", "Nguyễn Văn An", "23281", "T1", "0912 345 678", None])
    buffer = io.BytesIO()
    workbook.save(buffer)
    buffer.seek(0)
    result = run_import("households", buffer, officer)
    db.session.commit()
    assert result.created == 1
    household = db.session.scalar(select(Subject).where(Subject.external_code == "H0001"))
    assert household.name == "Hộ Nguyễn Văn An" and household.phone == "0912345678"
    assert household.community.external_code == "T1"


def test_every_error_is_reported_by_row_and_column_and_nothing_is_imported(ctx, officer):
    load_communities(officer)
    rows = [
        ["H1", "Hộ tốt", "23281", "T1", None, None],
        [None, "Thiếu mã", "23281", None, None, None],
        ["H3", "Xã sai", "99999", None, None, None],
        ["H1", "Trùng mã", "23281", None, None, None],
        ["H5", "Điện thoại sai", "23281", None, "12ab", None],
        ["H6", "Thôn sai", "23281", "T9", None, None],
        ["H7", "Ngoài địa bàn", "23284", None, None, None],
        ["H8", '=HYPERLINK("x")', "23281", None, None, None],
        ["H 9", "Mã có dấu cách", "23281", None, None, None],
    ]
    report = validate_import("households", xlsx(HOUSEHOLD_HEADERS, rows), officer)
    found = {(e.row, e.column) for e in report.errors}
    assert found == {
        (3, "Mã hộ"),
        (4, "Mã xã"),
        (5, "Mã hộ"),
        (6, "Số điện thoại"),
        (7, "Mã thôn/tổ dân phố"),
        (8, "Mã xã"),
        (9, "Tên chủ hộ"),
        (10, "Mã hộ"),
    }
    with pytest.raises(InvalidInput) as refused:
        run_import("households", xlsx(HOUSEHOLD_HEADERS, rows), officer)
    assert refused.value.details["error_count"] == report.error_count
    assert count("family") == 0


def test_the_confirmed_import_reads_the_file_once_and_a_late_error_writes_nothing(
    ctx, officer, monkeypatch
):
    from htsd_workflow.imports import operations

    reads = []
    real_read_rows = operations.read_rows
    monkeypatch.setattr(operations, "read_rows", lambda raw: reads.append(1) or real_read_rows(raw))
    monkeypatch.setattr(operations, "BATCH", 2)
    load_communities(officer)
    reads.clear()
    clean = [[f"H{n}", f"Hộ số {n}", "23281", "T1", None, None] for n in range(1, 6)]
    result = run_import("households", xlsx(HOUSEHOLD_HEADERS, clean), officer)
    assert result.created == 5 and len(reads) == 1  # one pass: checked as it is written
    db.session.commit()

    # batches 1–2 pass and are written; row 8 is wrong; row 10 is checked all the same
    rows = [[f"K{n}", f"Hộ mới {n}", "23281", "T2", None, None] for n in range(1, 10)]
    rows[6][2] = "99999"
    rows[8][4] = "12ab"
    reads.clear()
    with pytest.raises(InvalidInput) as refused:
        run_import("households", xlsx(HOUSEHOLD_HEADERS, rows), officer)
    assert len(reads) == 1
    assert {(e["row"], e["column"]) for e in refused.value.details["errors"]} == {
        (8, "Mã xã"),
        (10, "Số điện thoại"),
    }
    db.session.rollback()  # as every caller does on a refusal
    assert count("family") == 5
    assert db.session.scalar(select(func.count()).where(Subject.external_code.like("K%"))) == 0


def test_reimporting_the_same_file_changes_nothing_and_an_edit_updates(ctx, officer):
    load_communities(officer)
    rows = [
        ["H1", "Nguyễn Văn An", "23281", "T1", None, None],
        ["H2", "Trần Thị Bình", "23281", "T2", None, None],
    ]
    first = run_import("households", xlsx(HOUSEHOLD_HEADERS, rows), officer)
    second = run_import("households", xlsx(HOUSEHOLD_HEADERS, rows), officer)
    assert (first.created, second.created, second.unchanged) == (2, 0, 2)
    rows[1][1] = "Trần Thị Bình Minh"
    third = run_import("households", xlsx(HOUSEHOLD_HEADERS, rows), officer)
    assert (third.created, third.updated, third.unchanged) == (0, 1, 1)
    assert count("family") == 2


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "cp1258"])
def test_csv_in_any_common_encoding_keeps_vietnamese_names(ctx, officer, encoding):
    name = "Đinh Thị Hường Ngọc Hồi Đắk Hà"
    data = csv_bytes(
        COMMUNITY_HEADERS, [["T1", f"Làng {name}", "23281", None]], encoding=encoding, sep=";"
    )
    run_import("communities", data, officer)
    db.session.commit()
    assert db.session.scalar(select(Subject.name).where(Subject.external_code == "T1")) == (
        f"Làng {name}"
    )


def test_a_file_that_is_not_a_spreadsheet_is_refused_clearly(ctx, officer):
    with pytest.raises(InvalidInput, match="không phải bảng tính"):
        validate_import("households", io.BytesIO(b"\x89PNG\r\n\x1a\n\x00\x00\x00"), officer)
    with pytest.raises(InvalidInput, match="bị hỏng"):
        validate_import("households", io.BytesIO(b"PK\x03\x04garbage"), officer)
    with pytest.raises(InvalidInput, match="thiếu cột"):
        validate_import("households", csv_bytes(["Tên"], [["x"]]), officer)


def test_clan_members_may_live_in_other_communes(ctx, make):
    officer = make.user("district_reviewer", "608")
    run_import(
        "households",
        xlsx(
            HOUSEHOLD_HEADERS,
            [
                ["H1", "Nguyễn Văn A", "23281", None, None, None],
                ["H2", "Nguyễn Văn B", "23284", None, None, None],
            ],
        ),
        officer,
    )
    clan_headers = [c.header for c in SPECS["clans"].columns]
    run_import(
        "clans",
        xlsx(clan_headers, [["D1", "Dòng họ Nguyễn", "Nguyễn Văn A", "23281", "H1; H2"]]),
        officer,
    )
    run_import(
        "clans",
        xlsx(clan_headers, [["D1", "Dòng họ Nguyễn", "Nguyễn Văn A", "23281", "H1; H2"]]),
        officer,
    )
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(ClanMember)) == 2
    with pytest.raises(InvalidInput):
        run_import("clans", xlsx(clan_headers, [["D2", "Họ Trần", None, "23281", "H404"]]), officer)


def test_units_import_reads_the_vietnamese_type_words(ctx, make):
    admin = make.user("admin", "62")
    headers = [c.header for c in SPECS["units"].columns]
    run_import(
        "units",
        xlsx(
            headers,
            [
                ["U1", "Trường TH Quang Trung", "trường học", "23281", None],
                ["U2", "Sở Tư pháp", "Cơ quan", "62", None],
            ],
        ),
        admin,
    )
    db.session.commit()
    units = dict(db.session.execute(select(Subject.external_code, Subject.unit_type)).all())
    assert units == {"U1": "school", "U2": "agency"}
    with pytest.raises(InvalidInput):
        run_import("units", xlsx(headers, [["U3", "X", "chợ", "62", None]]), admin)
