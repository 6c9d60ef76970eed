"""What each import reads: columns with Vietnamese headers, and how a row is checked."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from htsd_workflow.subjects.models import UNIT_TYPES

PHONE = re.compile(r"^\+?[0-9]{9,12}$")
CODE_MAX = 64
CODE = re.compile(r"^[A-Za-z0-9._/-]{1,64}$")
UNIT_TYPE_WORDS = {
    "cơ quan": "agency",
    "tổ chức": "organisation",
    "trường học": "school",
    "doanh nghiệp": "enterprise",
    **{t: t for t in UNIT_TYPES},
}


@dataclass(frozen=True)
class Column:
    header: str
    field: str
    required: bool = False
    #: text, code, phone, unit_type or codes (a ;-separated list)
    kind: str = "text"
    max_length: int = 300
    example: str = ""
    #: the header in the reader's language, for the pages (the file keeps ``header``)
    label: object = None


@dataclass(frozen=True)
class ImportSpec:
    kind: str
    #: the list's name in the reader's language (a lazy translation)
    label: object
    columns: tuple[Column, ...]
    #: the column whose value keeps re-imports idempotent
    key: str = "external_code"
    notes: tuple[str, ...] = field(default_factory=tuple)


SPECS = {
    "communities": ImportSpec(
        kind="communities",
        label=_l("Thôn, làng, tổ dân phố"),
        columns=(
            Column(
                "Mã thôn/tổ dân phố",
                "external_code",
                True,
                "code",
                example="T23281-01",
                label=_l("Mã thôn/tổ dân phố"),
            ),
            Column(
                "Tên thôn/tổ dân phố",
                "name",
                True,
                example="Tổ dân phố 1",
                label=_l("Tên thôn/tổ dân phố"),
            ),
            Column("Mã xã", "unit_code", True, "code", example="23281", label=_l("Mã xã")),
            Column("Trưởng thôn", "head_name", example="A Blong", label=_l("Trưởng thôn")),
        ),
    ),
    "households": ImportSpec(
        kind="households",
        label=_l("Hộ gia đình"),
        columns=(
            Column(
                "Mã hộ", "external_code", True, "code", example="H23281-0001", label=_l("Mã hộ")
            ),
            Column(
                "Tên chủ hộ", "head_name", True, example="Nguyễn Văn An", label=_l("Tên chủ hộ")
            ),
            Column("Mã xã", "unit_code", True, "code", example="23281", label=_l("Mã xã")),
            Column(
                "Mã thôn/tổ dân phố",
                "community_code",
                False,
                "code",
                example="T23281-01",
                label=_l("Mã thôn/tổ dân phố"),
            ),
            Column(
                "Số điện thoại",
                "phone",
                False,
                "phone",
                example="0912345678",
                label=_l("Số điện thoại"),
            ),
            Column("Địa chỉ", "address", example="Số 5, đường Trần Phú", label=_l("Địa chỉ")),
        ),
        notes=(_l("Mỗi hộ một dòng; Mã hộ không trùng nhau."),),
    ),
    "clans": ImportSpec(
        kind="clans",
        label=_l("Dòng họ"),
        columns=(
            Column(
                "Mã dòng họ",
                "external_code",
                True,
                "code",
                example="D23281-01",
                label=_l("Mã dòng họ"),
            ),
            Column("Tên dòng họ", "name", True, example="Dòng họ Nguyễn", label=_l("Tên dòng họ")),
            Column("Trưởng họ", "head_name", example="Nguyễn Văn Bình", label=_l("Trưởng họ")),
            Column("Mã xã", "unit_code", True, "code", example="23281", label=_l("Mã xã")),
            Column(
                "Mã hộ thành viên",
                "member_codes",
                False,
                "codes",
                20000,
                example="H23281-0001; H23284-0007",
                label=_l("Mã hộ thành viên"),
            ),
        ),
        notes=(_l("Mã hộ thành viên cách nhau bằng dấu ; — hộ có thể ở xã khác."),),
    ),
    "units": ImportSpec(
        kind="units",
        label=_l("Cơ quan, tổ chức, trường học, doanh nghiệp"),
        columns=(
            Column(
                "Mã đơn vị",
                "external_code",
                True,
                "code",
                example="U23281-01",
                label=_l("Mã đơn vị"),
            ),
            Column(
                "Tên đơn vị",
                "name",
                True,
                example="Trường Tiểu học Quang Trung",
                label=_l("Tên đơn vị"),
            ),
            Column(
                "Loại đơn vị",
                "unit_type",
                True,
                "unit_type",
                example="trường học",
                label=_l("Loại đơn vị"),
            ),
            Column(
                "Mã đơn vị hành chính quản lý",
                "unit_code",
                True,
                "code",
                example="23281",
                label=_l("Mã đơn vị hành chính quản lý"),
            ),
            Column(
                "Người đứng đầu", "head_name", example="Trần Thị Lan", label=_l("Người đứng đầu")
            ),
        ),
        notes=(_l("Loại đơn vị: cơ quan, tổ chức, trường học hoặc doanh nghiệp."),),
    ),
}


def check_cell(column: Column, value: str | None) -> tuple[object, str | None]:
    """Return (clean value, error message or None) for one cell; the message in the current
    language (the columns keep the file's own Vietnamese headers)."""
    if value is None:
        if column.required:
            return None, _("Thiếu %(column)s", column=column.header)
        return None, None
    if value[:1] == "=":
        return None, _(
            "%(column)s là công thức “%(formula)s” chưa có giá trị: mở tệp bằng Excel rồi lưu "
            "lại, hoặc dán ở dạng giá trị",
            column=column.header,
            formula=value[:40],
        )
    if value[:1] in ("+", "@") and column.kind != "phone":
        return None, _(
            "%(column)s bắt đầu bằng “%(char)s”: hãy bỏ ký tự này",
            column=column.header,
            char=value[0],
        )
    limit = min(column.max_length, CODE_MAX) if column.kind == "code" else column.max_length
    if len(value) > limit:
        return None, _("%(column)s dài quá %(limit)s ký tự", column=column.header, limit=limit)
    if column.kind == "code" and not CODE.match(value):
        return None, _(
            "%(column)s “%(value)s” chỉ được gồm chữ, số và - _ . /",
            column=column.header,
            value=value,
        )
    if column.kind == "phone":
        digits = re.sub(r"[\s.()-]", "", value)
        if not PHONE.match(digits):
            return None, _("Số điện thoại “%(value)s” không hợp lệ (9–12 chữ số)", value=value)
        return digits, None
    if column.kind == "unit_type":
        word = value.lower()
        if word not in UNIT_TYPE_WORDS:
            return None, _(
                "Loại đơn vị “%(value)s” không hợp lệ: cơ quan, tổ chức, trường học, doanh nghiệp",
                value=value,
            )
        return UNIT_TYPE_WORDS[word], None
    if column.kind == "codes":
        codes = [c.strip() for c in re.split(r"[;,\n]", value) if c.strip()]
        bad = [c for c in codes if not CODE.match(c)]
        if bad:
            return None, _("Mã hộ thành viên không hợp lệ: %(codes)s", codes=", ".join(bad[:5]))
        return codes, None
    return value, None


#: a village's self-assessments (``imports.assessments``): the household code, its name (for
#: the reader only) and one column per criterion of this year's set, added from the registry
ASSESSMENT_CODE = "Mã hộ"
ASSESSMENT_NAME = "Tên chủ hộ"
ASSESSMENT_SPEC = ImportSpec(
    kind="assessments",
    label="Bản tự đánh giá của các hộ",
    columns=(Column(ASSESSMENT_CODE, "external_code", True, "code"),),
    notes=("Tải tệp mẫu trên trang của thôn: các hộ đã đăng ký là các dòng, tiêu chí là các cột.",),
)
