"""What a file holds, not how large it is on disk: a CSV's encoding read from all of it, and a
spreadsheet that unpacks to too much refused or sent to the worker (issue 19 items 8, 9)."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from htsd_workflow.extensions import db
from htsd_workflow.imports.operations import run_import
from htsd_workflow.subjects.models import Subject
from tests.factories import COMMUNE
from tests.imports.test_imports import COMMUNITY_HEADERS

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
