"""Spreadsheet imports of communities, households, clans and units.

Every file is checked in full (row, column, what is wrong) before anything is written — on the
page, when it is uploaded — and checked again row by row as the confirmed import writes it in
one pass: a file with any wrong row writes nothing. Rows are upserted by the external code in
batches, so re-importing the same file changes nothing and memory stays flat however long the
file is.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from openpyxl import Workbook
from openpyxl.styles import Font
from sqlalchemy import delete, insert, select

from htsd_workflow.audit.operations import record_audit
from htsd_workflow.auth.models import User
from htsd_workflow.auth.scope import in_scope
from htsd_workflow.core.errors import InvalidInput, NotFound
from htsd_workflow.core.models import assign_changed
from htsd_workflow.core.text import search_key
from htsd_workflow.extensions import db
from htsd_workflow.geography.models import Unit
from htsd_workflow.imports.reader import normalise_header, read_rows
from htsd_workflow.imports.specs import ASSESSMENT_SPEC, SPECS, ImportSpec, check_cell
from htsd_workflow.subjects.models import ClanMember, Subject

SUBJECT_KIND = {
    "communities": "community",
    "households": "family",
    "clans": "clan",
    "units": "unit",
}
BATCH = 1000
MAX_REPORTED_ERRORS = 1000


@dataclass
class RowError:
    row: int
    column: str
    message: str


@dataclass
class ValidationReport:
    rows: int = 0
    errors: list[RowError] = field(default_factory=list)
    error_count: int = 0

    @property
    def is_clean(self) -> bool:
        return self.error_count == 0

    def add(self, row: int, column: str, message: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(RowError(row, column, message))

    def as_dict(self) -> dict:
        return {
            "rows": self.rows,
            "error_count": self.error_count,
            "errors": [e.__dict__ for e in self.errors],
        }


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0


def get_spec(kind: str) -> ImportSpec:
    if kind == ASSESSMENT_SPEC.kind:
        return ASSESSMENT_SPEC
    if kind not in SPECS:
        raise NotFound(_l("Không có loại dữ liệu nhập “%(kind)s”.", kind=kind))
    return SPECS[kind]


def template_xlsx(kind: str) -> bytes:
    """A workbook with the Vietnamese headers, an example row and a sheet of instructions."""
    if kind not in SPECS:  # a village's assessments have a template of their own
        raise NotFound(_l("Không có loại dữ liệu nhập “%(kind)s”.", kind=kind))
    spec = SPECS[kind]
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = str(spec.label)[:31]
    sheet.append([c.header for c in spec.columns])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    sheet.append([c.example for c in spec.columns])
    for index, column in enumerate(spec.columns, start=1):
        sheet.column_dimensions[sheet.cell(1, index).column_letter].width = max(
            16, len(column.header) + 4
        )
    notes = workbook.create_sheet("Hướng dẫn")
    notes.append(["Cột", "Bắt buộc", "Ghi chú"])
    for column in spec.columns:
        notes.append([column.header, "Có" if column.required else "Không", column.example])
    for note in spec.notes:
        notes.append([str(note)])
    notes.append(["Xóa dòng ví dụ trước khi nhập. Nhập lại cùng tệp không tạo bản ghi trùng."])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


class _Lookups:
    """Reference data the rows are checked against, loaded once per run."""

    def __init__(self):
        self.units = {u.code: u for u in db.session.scalars(select(Unit))}
        self.communities = {
            code: (subject_id, commune)
            for code, subject_id, commune in db.session.execute(
                select(Subject.external_code, Subject.id, Subject.commune_code).where(
                    Subject.kind == "community", Subject.external_code.is_not(None)
                )
            )
        }

    def holders_of(self, codes) -> dict:
        """The records that already hold these codes: id, kind and territory (unit path)."""
        rows = db.session.execute(
            select(
                Subject.external_code,
                Subject.id,
                Subject.kind,
                Subject.province_code,
                Subject.district_code,
                Subject.commune_code,
            ).where(Subject.external_code.in_(list(codes)))
        )
        return {row.external_code: row for row in rows}


def _parsed_rows(spec: ImportSpec, raw: IO[bytes], report: ValidationReport):
    """Yield (row number, clean values) for rows whose cells pass; record errors of the rest."""
    rows = read_rows(raw)
    try:
        yield from _checked_rows(spec, rows, report)
    finally:
        rows.close()  # release the file now, also when the header check stops the read


def _checked_rows(spec: ImportSpec, rows, report: ValidationReport):
    first = next(rows, None)
    expected = {normalise_header(c.header): c for c in spec.columns}
    if first is None:
        raise InvalidInput(
            _l("Tệp không có dòng dữ liệu nào."),
            details={"file": _l("Điền danh sách từ dòng 2, dưới dòng tiêu đề của tệp mẫu")},
        )
    number, cells = first
    missing = [c.header for h, c in expected.items() if c.required and h not in cells]
    if missing:
        raise InvalidInput(
            _l("Tệp thiếu cột: %(columns)s. Hãy dùng tệp mẫu.", columns=", ".join(missing)),
            details={"columns": missing},
        )

    def clean(number, cells):
        values, ok = {}, True
        for header, column in expected.items():
            value, error = check_cell(column, cells.get(header))
            if error:
                report.add(number, column.header, error)
                ok = False
            values[column.field] = value
        return values if ok else None

    report.rows += 1
    values = clean(number, cells)
    if values is not None:
        yield number, values
    for number, cells in rows:
        report.rows += 1
        values = clean(number, cells)
        if values is not None:
            yield number, values


def _check_batch(spec, batch, actor, lookups, report, seen) -> list[tuple[int, dict]]:
    """Row checks that need the database; return the rows that pass."""
    kind = SUBJECT_KIND[spec.kind]
    headers = {c.field: c.header for c in spec.columns}
    code_header, unit_header = headers["external_code"], headers["unit_code"]
    village_header = headers.get("community_code", "Mã thôn/tổ dân phố")
    members_header = headers.get("member_codes", "Mã hộ thành viên")
    existing = lookups.holders_of(values["external_code"] for _, values in batch)
    member_codes = {c for _, v in batch for c in (v.get("member_codes") or [])}
    households = lookups.holders_of(member_codes) if member_codes else {}
    good = []
    for number, values in batch:
        code = values["external_code"]
        errors = []
        if code in seen:
            errors.append(
                (code_header, _("Mã “%(code)s” trùng với dòng %(row)s", code=code, row=seen[code]))
            )
        else:
            seen[code] = number
        holder = existing.get(code)
        if holder is not None and holder.kind != kind:
            errors.append(
                (code_header, _("Mã “%(code)s” đã được dùng cho đối tượng loại khác", code=code))
            )
        elif holder is not None and not in_scope(actor, holder):
            # the row would update (and move) that record: only its own territory may
            errors.append(
                (
                    code_header,
                    _("Mã “%(code)s” là của đối tượng ngoài địa bàn bạn quản lý", code=code),
                )
            )
        unit = lookups.units.get(values["unit_code"])
        if unit is None:
            errors.append(
                (
                    unit_header,
                    _("Không có đơn vị hành chính mã “%(code)s”", code=values["unit_code"]),
                )
            )
        else:
            if spec.kind != "units" and unit.level != "commune":
                errors.append(
                    (unit_header, _("“%(name)s” không phải cấp xã/phường/thị trấn", name=unit.name))
                )
            if actor.role == "applicant" or not in_scope(actor, unit):
                errors.append(
                    (unit_header, _("“%(name)s” ngoài địa bàn bạn quản lý", name=unit.name))
                )
        community_code = values.get("community_code")
        if community_code:
            found = lookups.communities.get(community_code)
            if found is None:
                errors.append(
                    (village_header, _("Không có thôn mã “%(code)s”", code=community_code))
                )
            elif unit is not None and found[1] != unit.code:
                errors.append(
                    (village_header, _("Thôn “%(code)s” không thuộc xã", code=community_code))
                )
        for member in values.get("member_codes") or []:
            if getattr(households.get(member), "kind", None) != "family":
                errors.append((members_header, _("Không có hộ mã “%(code)s”", code=member)))
        for column, message in errors:
            report.add(number, column, message)
        if not errors:
            good.append((number, values))
    return good


def _batches(spec, raw, actor, report, lookups):
    seen: dict[str, int] = {}
    batch = []
    for item in _parsed_rows(spec, raw, report):
        batch.append(item)
        if len(batch) >= BATCH:
            yield _check_batch(spec, batch, actor, lookups, report, seen)
            batch = []
    if batch:
        yield _check_batch(spec, batch, actor, lookups, report, seen)


#: ``progress(phase, rows)``: phase "checking" or "writing", rows read so far in that pass
Progress = Callable[[str, int], None]


def validate_import(
    kind: str, raw: IO[bytes], actor: User, progress: Progress | None = None
) -> ValidationReport:
    """Check a whole file; write nothing."""
    spec = get_spec(kind)
    report = ValidationReport()
    lookups = _Lookups()
    for _batch in _batches(spec, raw, actor, report, lookups):
        if progress:
            progress("checking", report.rows)
    return report


def _subject_values(spec: ImportSpec, values: dict, unit: Unit, lookups: _Lookups) -> dict:
    kind = SUBJECT_KIND[spec.kind]
    name = values.get("name") or f"Hộ {values['head_name']}"
    community = lookups.communities.get(values.get("community_code") or "")
    return {
        "kind": kind,
        "name": name,
        "name_search": search_key(name),
        "unit_code": unit.code,
        "managing_level": unit.level,
        "province_code": unit.province_code,
        "district_code": unit.district_code,
        "commune_code": unit.code if unit.level == "commune" else None,
        "community_id": community[0] if community else None,
        "head_name": values.get("head_name"),
        "external_code": values["external_code"],
        "phone": values.get("phone"),
        "address": values.get("address"),
        "unit_type": values.get("unit_type"),
    }


def run_import(
    kind: str, raw: IO[bytes], actor: User, progress: Progress | None = None
) -> ImportResult:
    """Check and upsert every row in one pass over the file; the caller commits once.

    Rows are written batch by batch, in the caller's one transaction, as long as every row so
    far has passed; from the first wrong row on nothing more is written, the rest of the file
    is still checked, and InvalidInput is raised with the whole report — the caller rolls back,
    so nothing is written. Memory stays flat: batches and their ORM objects are released as
    the file is read.
    """
    spec = get_spec(kind)
    lookups = _Lookups()
    report = ValidationReport()
    result = ImportResult()
    for batch in _batches(spec, raw, actor, report, lookups):
        if report.is_clean:
            _write_batch(spec, batch, lookups, result)
        if progress:
            progress("writing", report.rows)
    if not report.is_clean:
        raise InvalidInput(
            _l("Tệp có %(count)s lỗi; chưa nhập dòng nào.", count=report.error_count),
            details=report.as_dict(),
        )
    record_audit(
        "import",
        actor=actor,
        target=f"import:{kind}",
        details={
            "rows": report.rows,
            "created": result.created,
            "updated": result.updated,
            "unchanged": result.unchanged,
        },
    )
    return result


def _write_batch(spec: ImportSpec, batch, lookups: _Lookups, result: ImportResult) -> None:
    """Upsert one batch of checked rows by their external code."""
    codes = [v["external_code"] for _, v in batch]
    current = {
        s.external_code: s
        for s in db.session.scalars(select(Subject).where(Subject.external_code.in_(codes)))
    }
    new_rows = []
    for _number, values in batch:
        fresh = _subject_values(spec, values, lookups.units[values["unit_code"]], lookups)
        subject = current.get(values["external_code"])
        if subject is None:
            new_rows.append(fresh)
            continue
        changed = assign_changed(subject, fresh)
        result.updated += changed
        result.unchanged += not changed
    if new_rows:
        db.session.execute(insert(Subject), new_rows)
        result.created += len(new_rows)
    if spec.kind == "clans":
        _link_members(batch)
    db.session.flush()
    for subject in current.values():  # keep the session small: memory stays flat
        db.session.expunge(subject)


def _link_members(batch) -> None:
    wanted = {v["external_code"]: v.get("member_codes") or [] for _, v in batch}
    codes = set(wanted) | {c for members in wanted.values() for c in members}
    ids = dict(
        db.session.execute(
            select(Subject.external_code, Subject.id).where(Subject.external_code.in_(codes))
        ).all()
    )
    clan_ids = [ids[c] for c in wanted]
    existing = set(
        db.session.execute(
            select(ClanMember.clan_id, ClanMember.household_id).where(
                ClanMember.clan_id.in_(clan_ids)
            )
        ).all()
    )
    # the file is the list: households no longer named leave the clan
    kept = {(ids[clan], ids[member]) for clan, members in wanted.items() for member in members}
    for clan_id, household_id in existing - kept:
        db.session.execute(
            delete(ClanMember).where(
                ClanMember.clan_id == clan_id, ClanMember.household_id == household_id
            )
        )
    rows = [
        {"clan_id": ids[clan], "household_id": ids[member]}
        for clan, members in wanted.items()
        for member in members
        if (ids[clan], ids[member]) not in existing
    ]
    if rows:
        db.session.execute(insert(ClanMember), rows)
