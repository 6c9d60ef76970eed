"""Invisible characters (bidirectional overrides, zero-width spaces and joiners, the BOM) are
stripped from names and file names: "anh\u202egpj.pdf" must not show as "anhfdp.jpg", and
"Hộ A\u200b" must not pass for "Hộ A"."""

from __future__ import annotations

import io
import unicodedata

from sqlalchemy import select

from htsd_workflow.auth.models import User
from htsd_workflow.evidence.files import clean_filename
from htsd_workflow.evidence.models import Attachment
from htsd_workflow.extensions import db
from htsd_workflow.imports.reader import read_rows
from htsd_workflow.subjects.models import Subject
from tests.factories import COMMUNE

#: a bidi override, an isolate, a zero-width space, joiner and non-joiner, a BOM, a soft hyphen
INVISIBLE = "\u202e\u2067\u200b\u200d\u200c\ufeff\u00ad"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 100


def _shows_all(text: str) -> bool:
    return not any(unicodedata.category(ch) == "Cf" for ch in text)


def test_file_names_lose_their_invisible_characters():
    assert clean_filename("anh\u202egpj.exe", "pdf") == "anhgpj.pdf"
    assert clean_filename(f"Giấy{INVISIBLE} khen.jpg", "jpg") == "Giấy khen.jpg"
    assert clean_filename(INVISIBLE, "pdf") == "minh-chung.pdf"


def test_an_uploaded_evidence_file_keeps_a_visible_name(as_user, make):
    case, applicant = make.draft(complete=False)
    household = as_user(applicant)
    form = {
        "version": str(case.version),
        "action": "save",
        "files-1.1": [(io.BytesIO(JPEG), "Giấy khen\u202egpj.exe.jpg")],
    }
    answer = household.post(
        f"/cases/{case.id}/assessment", form, content_type="multipart/form-data"
    )
    assert answer.status_code in (200, 302), answer.status_code
    names = db.session.scalars(select(Attachment.filename)).all()
    assert names and all(_shows_all(n) for n in names), names


def test_names_typed_through_the_api_and_the_pages_lose_them(make, api, as_user):
    province = api(make.reviewer("province_officer", "62"))
    answer = province.post(
        "/subjects",
        {
            "kind": "family",
            "name": f"Hộ{INVISIBLE} Nguyễn Văn A",
            "head_name": f"Nguyễn{INVISIBLE} Văn A",
            "unit_code": COMMUNE,
        },
    )
    assert answer.status_code == 201, answer.data[:300]
    subject = db.session.get(Subject, answer.json["id"])
    assert subject.name == "Hộ Nguyễn Văn A" and subject.head_name == "Nguyễn Văn A"
    admin = as_user(make.user("admin", "62"))
    form = {
        "username": "can-bo-moi",
        "full_name": f"Trần{INVISIBLE} Thị B",
        "role": "commune_reviewer",
        "unit_code": COMMUNE,
    }
    assert admin.post("/admin/users/new", form).status_code == 200
    user = db.session.scalar(select(User).where(User.username == "can-bo-moi"))
    assert user.full_name == "Trần Thị B"


def test_spreadsheet_cells_lose_them(ctx):
    data = f"Tên hộ,Mã\nHộ{INVISIBLE} Lê Văn C,H{INVISIBLE}1\n".encode()
    rows = list(read_rows(io.BytesIO(data)))
    cells = [value for _number, row in rows for value in row.values()]
    assert cells and all(_shows_all(v) for v in cells if v), cells
    assert "Hộ Lê Văn C" in cells
