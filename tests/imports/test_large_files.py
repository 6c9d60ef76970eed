"""What a file holds, not how large it is on disk: a CSV's encoding read from all of it, and a
spreadsheet that unpacks to too much refused or sent to the worker (issue 19 items 8, 9)."""

from __future__ import annotations

import io
import itertools
import tracemalloc
import zipfile
from contextlib import contextmanager

import pytest
from sqlalchemy import func, select

from htsd_workflow.core.errors import InvalidInput
from htsd_workflow.extensions import db
from htsd_workflow.imports.models import ImportJob
from htsd_workflow.imports.operations import run_import, validate_import
from htsd_workflow.imports.reader import estimate_rows
from htsd_workflow.subjects.models import Subject
from tests.clients import text
from tests.factories import COMMUNE
from tests.imports.test_import_pages import job_of, stored_files, upload
from tests.imports.test_imports import COMMUNITY_HEADERS, HOUSEHOLD_HEADERS, csv_bytes, xlsx

MIB = 1 << 20


@pytest.fixture
def officer(make):
    return make.user("commune_reviewer", COMMUNE)


def utf8_csv_split_at_one_mib(char: str) -> bytes:
    """A valid UTF-8 list of villages of a little over 1 MiB whose byte 1,048,576 falls inside
    ``char`` (an extra "Ghi chú" column, which the import ignores, carries the filler)."""
    header = ",".join([*COMMUNITY_HEADERS, "Ghi chú"]) + "\n"
    lines = [header]
    for number in range(1, 11):
        lines.append(f"T{number},Thôn Ến {number},{COMMUNE},Nguyễn Văn Ến,{'x' * 100_000}\n")
    head = "".join(lines).encode()
    row = f"T11,Thôn {char.upper()},{COMMUNE},,"
    filler = MIB - 1 - len(head) - len(row.encode())
    data = head + f"{row}{'y' * filler}{char * 3}\nT12,Làng Ếch,{COMMUNE},,\n".encode()
    with pytest.raises(UnicodeDecodeError):
        data[:MIB].decode("utf-8")  # the first MiB cuts the character
    data.decode("utf-8")
    return data


@pytest.mark.parametrize(
    "char",
    [
        "ế",  # E1 BA BF: every byte is a Windows-1258 letter (the file was read garbled)
        "ỏ",  # E1 BB 8F: 8F is no Windows-1258 character (the file was refused)
    ],
)
def test_a_utf8_csv_over_one_mib_is_read_as_utf8_wherever_a_character_falls(ctx, officer, char):
    result = run_import("communities", io.BytesIO(utf8_csv_split_at_one_mib(char)), officer)
    db.session.commit()
    assert result.created == 12
    names = set(db.session.scalars(select(Subject.name)))
    assert {"Thôn Ến 1", f"Thôn {char.upper()}", "Làng Ếch"} <= names


# --- what an XLSX holds once unpacked (item 8) ----------------------------------------------

MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
PACKAGE_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
DOCUMENT_RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
SHEET_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml"


def packed_xlsx(rows, shared_string_bytes: int = 0, prefix: str = "") -> io.BytesIO:
    """A workbook written part by part, as a program (or someone crafting one) would: the
    sheet's rows are streamed from ``rows`` (XML of each row, without the row element) and
    an optional shared string of ``shared_string_bytes`` is written in 1 MiB pieces, so the
    test never holds what the file unpacks to."""
    p = f"{prefix}:" if prefix else ""
    xmlns = f'xmlns:{prefix}="{MAIN_NS}"' if prefix else f'xmlns="{MAIN_NS}"'
    parts = {
        "[Content_Types].xml": (
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            f'<Default Extension="rels" ContentType="{PACKAGE_RELS.replace("/relationships", "")}'
            '/relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{SHEET_TYPE}.sheet.main+xml"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" '
            f'ContentType="{SHEET_TYPE}.worksheet+xml"/>'
            '<Override PartName="/xl/sharedStrings.xml" '
            f'ContentType="{SHEET_TYPE}.sharedStrings+xml"/></Types>'
        ),
        "_rels/.rels": (
            f'<Relationships xmlns="{PACKAGE_RELS}"><Relationship Id="rId1" '
            f'Type="{DOCUMENT_RELS}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
        ),
        "xl/workbook.xml": (
            f'<workbook xmlns="{MAIN_NS}" xmlns:r="{DOCUMENT_RELS}"><sheets>'
            '<sheet name="Ho" sheetId="1" r:id="rId1"/></sheets></workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            f'<Relationships xmlns="{PACKAGE_RELS}">'
            f'<Relationship Id="rId1" Type="{DOCUMENT_RELS}/worksheet" '
            'Target="worksheets/sheet1.xml"/>'
            f'<Relationship Id="rId2" Type="{DOCUMENT_RELS}/sharedStrings" '
            'Target="sharedStrings.xml"/></Relationships>'
        ),
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, xml in parts.items():
            archive.writestr(name, xml)
        with archive.open("xl/sharedStrings.xml", "w") as part:
            part.write(f'<sst xmlns="{MAIN_NS}"><si><t>'.encode())
            piece = b"A" * MIB
            for _ in range(shared_string_bytes // MIB):
                part.write(piece)
            part.write(b"</t></si></sst>")
        with archive.open("xl/worksheets/sheet1.xml", "w") as part:
            part.write(f"<{p}worksheet {xmlns}><{p}sheetData>".encode())
            header = "".join(
                f'<{p}c t="inlineStr"><{p}is><{p}t>{h}</{p}t></{p}is></{p}c>'
                for h in HOUSEHOLD_HEADERS
            )
            part.write(f"<{p}row>{header}</{p}row>".encode())
            for row in rows:
                part.write(f"<{p}row>{row}</{p}row>".encode())
            part.write(f"</{p}sheetData></{p}worksheet>".encode())
    out.seek(0)
    return out


def text_cell(value: str, prefix: str = "") -> str:
    p = f"{prefix}:" if prefix else ""
    return f'<{p}c t="inlineStr"><{p}is><{p}t>{value}</{p}t></{p}is></{p}c>'


def tiny_rows(count: int):
    return itertools.repeat(text_cell("x"), count)


@contextmanager
def peak_memory():
    """The most Python memory allocated inside the block, in bytes (``peak[0]`` after it)."""
    peak = [0]
    tracemalloc.start()
    try:
        yield peak
    finally:
        peak[0] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()


def test_a_file_of_more_rows_than_allowed_is_refused_as_it_is_read(ctx, officer):
    # 300,000 tiny rows: 14 MB unpacked, 20 KB on disk (the file had 1.7 million)
    data = packed_xlsx(tiny_rows(300_000))
    assert len(data.getvalue()) < 256 * 1024
    with pytest.raises(InvalidInput, match="hơn 200.000 dòng") as refused:
        validate_import("households", data, officer)
    assert refused.value.details["file"]


def test_a_small_xlsx_that_unpacks_large_is_checked_in_the_worker_and_refused_there(
    as_user, officer, ctx, monkeypatch
):
    started = []
    monkeypatch.setitem(ctx.config, "IMPORT_MAX_ROWS", 20_000)
    monkeypatch.setattr(
        "htsd_workflow.jobs.runner.run_in_background",
        lambda task, function, job_id: started.append((task, function, job_id)),
    )
    data = packed_xlsx(tiny_rows(30_000))
    assert len(data.getvalue()) < ctx.config["IMPORT_BACKGROUND_BYTES"]
    browser = as_user(officer)
    job = job_of(upload(browser, "households", data))
    assert job.is_background and started[0][0] == "worker.tasks.check_import_task"
    started[0][1](job.id)  # what the worker does
    db.session.expire_all()
    job = db.session.get(ImportJob, job.id)
    assert job.status == "checked" and "hơn 20.000 dòng" in job.message
    assert browser.post(f"/imports/jobs/{job.id}/confirm").status_code == 409


def test_an_xlsx_holding_a_200_mib_shared_string_is_refused_at_upload(as_user, officer, ctx):
    before = stored_files(ctx)
    data = packed_xlsx([text_cell("H1")], shared_string_bytes=200 * MIB)
    assert len(data.getvalue()) < 512 * 1024
    response = upload(as_user(officer), "households", data)
    assert response.status_code == 422
    assert "khi giải nén lớn hơn 160 MB" in text(response)
    assert db.session.scalar(select(func.count()).select_from(ImportJob)) == 0
    assert stored_files(ctx) == before


def test_shared_strings_over_the_limit_are_refused_before_they_are_read(ctx, officer, monkeypatch):
    monkeypatch.setitem(ctx.config, "IMPORT_MAX_SHARED_BYTES", MIB)
    data = packed_xlsx([text_cell("H1")], shared_string_bytes=16 * MIB)
    with peak_memory() as peak, pytest.raises(InvalidInput, match="dữ liệu dùng chung"):
        validate_import("households", data, officer)
    assert peak[0] < 4 * MIB


def test_a_row_larger_than_any_real_one_is_refused_without_reading_it_whole(ctx, officer):
    huge_cell = text_cell("x" * (16 * MIB))
    data = packed_xlsx([text_cell("H1"), huge_cell])
    with peak_memory() as peak, pytest.raises(InvalidInput, match="một dòng lớn hơn 2 MB"):
        validate_import("households", data, officer)
    assert peak[0] < 8 * MIB


def test_rows_written_with_a_namespace_prefix_are_read_however_many(ctx, officer):
    row = "".join(text_cell(v, "x") for v in ("H{n}", "Nguyễn Văn An", COMMUNE, "", "", "Số 1"))
    rows = (row.replace("H{n}", f"H{n}") for n in range(1, 8_001))
    data = packed_xlsx(rows, prefix="x")
    assert zipfile.ZipFile(data).getinfo("xl/worksheets/sheet1.xml").file_size > 2 * MIB
    data.seek(0)
    report = validate_import("households", data, officer)
    assert (report.rows, report.error_count) == (8_000, 0)


def test_more_cells_than_allowed_are_refused(ctx, officer, monkeypatch):
    monkeypatch.setitem(ctx.config, "IMPORT_MAX_CELLS", 50)
    rows = [[f"H{n}", "Nguyễn Văn An", COMMUNE, None, None, None] for n in range(20)]
    with pytest.raises(InvalidInput, match="hơn 50 ô"):
        validate_import("households", xlsx(HOUSEHOLD_HEADERS, rows), officer)


def test_a_csv_of_more_rows_than_allowed_is_refused(ctx, officer, monkeypatch):
    monkeypatch.setitem(ctx.config, "IMPORT_MAX_ROWS", 10)
    rows = [[f"H{n}", "Nguyễn Văn An", COMMUNE, None, None, None] for n in range(20)]
    with pytest.raises(InvalidInput, match="hơn 10 dòng"):
        validate_import("households", csv_bytes(HOUSEHOLD_HEADERS, rows), officer)


def test_the_progress_bar_length_is_counted_without_parsing_the_sheet(ctx, tmp_path, monkeypatch):
    monkeypatch.setitem(ctx.config, "IMPORT_MAX_ROWS", 20_000)
    (tmp_path / "small.xlsx").write_bytes(packed_xlsx(tiny_rows(50)).getvalue())
    (tmp_path / "huge.xlsx").write_bytes(packed_xlsx(tiny_rows(200_000)).getvalue())
    # neither declares its size (<dimension>): the rows are counted
    assert estimate_rows(tmp_path, "small.xlsx") == 50
    with peak_memory() as peak:
        assert estimate_rows(tmp_path, "huge.xlsx") is None  # over the limit: the check says so
    assert peak[0] < 8 * MIB  # parsing it kept a cleared element per row: 14 MB and more
