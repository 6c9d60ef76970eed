"""A village's self-assessments from a spreadsheet: the template (the village's registered
households as rows, the criteria as columns, a "Hướng dẫn" sheet), and the upload checked row
by row and column by column like the other imports, then saved all or nothing.

The file goes through the import jobs (``imports.jobs``: kept, checked, confirmed, large files
in the worker with progress); what differs is what a row is and how it is written: each row's
scores are saved on the household's case of this year's round by ``cases``' own
``save_assessment_batch``, a batch of rows at a time (the case's history records who entered
them, the file and the row). A row whose scores equal the case's is left alone, so uploading
the same file again changes nothing.
"""

from __future__ import annotations

import io
import re
from datetime import date
from itertools import chain
from typing import IO

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from openpyxl import Workbook
from openpyxl.styles import Font
from sqlalchemy import select

from htsd_workflow.auth.models import User
from htsd_workflow.auth.scope import in_scope
from htsd_workflow.cases.engine import get_registry
from htsd_workflow.cases.models import AssessmentItem, Case, Round
from htsd_workflow.cases.operations import save_assessment_batch
from htsd_workflow.core.errors import InvalidInput
from htsd_workflow.core.time import to_local, utcnow
from htsd_workflow.criteria.loader import CriteriaSet
from htsd_workflow.criteria.scoring import validate_scores
from htsd_workflow.extensions import db
from htsd_workflow.imports.operations import (
    BATCH,
    ImportResult,
    Progress,
    ValidationReport,
)
from htsd_workflow.imports.reader import normalise_header, read_rows
from htsd_workflow.imports.specs import (
    ASSESSMENT_CODE,
    ASSESSMENT_NAME,
    ASSESSMENT_SPEC,
    check_cell,
)
from htsd_workflow.subjects.models import TITLE_OF_KIND, Subject

#: a village's households apply for the family title
TITLE = TITLE_OF_KIND["family"]
#: the states in which the household's form is with the household (a file may fill it in)
EDITABLE_KIND = "applicant"
#: a criterion's column: "Tiêu chí 1.1 (tối đa 10)" — read by the code after "Tiêu chí"
_CRITERION_HEADER = re.compile(r"^tiêu chí\s+([^\s(]+)")


def criterion_header(item) -> str:
    max_points = int(item.max_points) if float(item.max_points).is_integer() else item.max_points
    return f"Tiêu chí {item.code} (tối đa {max_points})"


def _round(today: date | None = None) -> Round:
    today = today or to_local(utcnow()).date()
    found = db.session.scalar(select(Round).where(Round.title == TITLE, Round.year == today.year))
    if found is None:
        raise InvalidInput(
            _l("Chưa có đợt xét công nhận năm nay."),
            details={"file": _l("Đợt xét do tỉnh mở; hãy nhập sau khi đợt được mở")},
        )
    return found


def _criteria(round_: Round) -> CriteriaSet:
    return get_registry().criteria_for(TITLE, round_.year)


def template_xlsx(village: Subject, households: list) -> bytes:
    """The village's template: one row per registered household (``households``: pairs of
    household and its case), with the scores already saved, and a "Hướng dẫn" sheet."""
    round_ = _round()
    cset = _criteria(round_)
    cases = [case for _household, case in households if case is not None]
    scores: dict[int, dict] = {}
    if cases:
        for case_id, code, score in db.session.execute(
            select(AssessmentItem.case_id, AssessmentItem.code, AssessmentItem.score).where(
                AssessmentItem.case_id.in_([c.id for c in cases])
            )
        ):
            scores.setdefault(case_id, {})[code] = score
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Tự đánh giá"
    sheet.append([ASSESSMENT_CODE, ASSESSMENT_NAME, *(criterion_header(i) for i in cset.items)])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for household, case in households:
        if case is None:
            continue
        saved = scores.get(case.id, {})
        sheet.append(
            [household.external_code or "", household.name]
            + [_shown(saved.get(item.code)) for item in cset.items]
        )
    sheet.column_dimensions["A"].width = 18
    sheet.column_dimensions["B"].width = 28
    for index in range(3, 3 + len(cset.items)):
        sheet.column_dimensions[sheet.cell(1, index).column_letter].width = 20
    sheet.freeze_panes = "C2"
    notes = workbook.create_sheet("Hướng dẫn")
    notes.append(["Cột", "Bắt buộc", "Giá trị được nhập"])
    notes.append([ASSESSMENT_CODE, "Có", "Mã hộ như trong danh sách; không sửa"])
    notes.append([ASSESSMENT_NAME, "Không", "Chỉ để dễ đọc; không được nhập vào hệ thống"])
    for item in cset.items:
        allowed = (
            "1 (đạt) hoặc 0 (chưa đạt)"
            if cset.kind == "levels"
            else f"Số từ 0 đến {_shown(item.max_points)} (dùng dấu phẩy hoặc chấm cho số lẻ)"
        )
        notes.append([criterion_header(item), "Không", f"{item.label}. {allowed}"])
    notes.append([])
    notes.append([f"Thôn/tổ dân phố: {village.name}. Đợt xét năm {round_.year}."])
    notes.append(["Mỗi hộ một dòng; chỉ các hộ đã đăng ký tham gia đợt xét của thôn."])
    notes.append(["Ô để trống: tiêu chí chưa chấm (xóa điểm đã lưu nếu có)."])
    notes.append(["Tệp chỉ lưu bản nháp; bấm “Gửi” trên bảng nhập điểm để gửi các hộ đã đủ."])
    notes.append(["Nhập lại cùng một tệp không thay đổi gì."])
    notes.append(["Tệp có lỗi thì không dòng nào được lưu: trang kết quả ghi dòng, cột, cách sửa."])
    notes.column_dimensions["A"].width = 28
    notes.column_dimensions["C"].width = 80
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _shown(value):
    if value is None:
        return None
    return int(value) if float(value).is_integer() else value


def _columns(cset: CriteriaSet, cells: dict) -> dict[str, str]:
    """The criterion code → the file's (normalised) header; missing columns refused."""
    found = {}
    for header in cells:
        match = _CRITERION_HEADER.match(header)
        if match:
            found[match.group(1).rstrip(".:")] = header
    missing = [ASSESSMENT_CODE] if normalise_header(ASSESSMENT_CODE) not in cells else []
    missing += [criterion_header(i) for i in cset.items if i.code not in found]
    if missing:
        raise InvalidInput(
            _l(
                "Tệp thiếu cột: %(columns)s. Hãy dùng tệp mẫu của thôn.",
                columns=", ".join(missing),
            ),
            details={"columns": missing},
        )
    return {item.code: found[item.code] for item in cset.items}


def _parsed(cset, raw, report: ValidationReport):
    """(row number, household code, cleaned entries) of rows whose cells pass; the errors of
    the others, one per cell (the column is the criterion's header)."""
    rows = read_rows(raw)
    try:
        first = next(rows, None)
        if first is None:
            raise InvalidInput(
                _l("Tệp không có dòng dữ liệu nào."),
                details={"file": _l("Tải tệp mẫu của thôn: mỗi hộ đã đăng ký một dòng")},
            )
        columns = _columns(cset, first[1])
        headers = {item.code: criterion_header(item) for item in cset.items}
        code_key = normalise_header(ASSESSMENT_CODE)

        def clean(number, cells):
            report.rows += 1
            code, error = check_cell(ASSESSMENT_SPEC.columns[0], cells.get(code_key))
            ok = error is None
            if error:
                report.add(number, ASSESSMENT_CODE, error)
            entries = [
                {"code": item.code, "score": cells.get(columns[item.code])} for item in cset.items
            ]
            try:
                entries = validate_scores(cset, entries)
            except InvalidInput as exc:
                ok = False
                for key, message in (exc.details or {}).items():
                    code_in_key = key.removeprefix("items[").split("]")[0]
                    report.add(number, headers.get(code_in_key, key), str(message))
            return (number, code, entries) if ok else None

        for number, cells in chain([first], rows):
            parsed = clean(number, cells)
            if parsed:
                yield parsed
    finally:
        rows.close()


def _check_batch(batch, actor: User, round_: Round, report: ValidationReport, seen: dict):
    """Row checks against the database: the household exists, is the actor's (a village head:
    of their village), is registered in the round, and its form is still with the household.
    Returns (row number, case, entries, unchanged) for the rows that pass."""
    codes = [code for _number, code, _entries in batch]
    households = {
        s.external_code: s
        for s in db.session.scalars(
            select(Subject).where(Subject.external_code.in_(codes), Subject.kind == "family")
        )
    }
    cases = {
        c.subject_id: c
        for c in db.session.scalars(
            select(Case).where(
                Case.subject_id.in_([s.id for s in households.values()]),
                Case.title == round_.title,
                Case.year == round_.year,
            )
        )
    }
    current: dict[int, dict] = {}
    if cases:
        for case_id, code, score in db.session.execute(
            select(AssessmentItem.case_id, AssessmentItem.code, AssessmentItem.score).where(
                AssessmentItem.case_id.in_([c.id for c in cases.values()])
            )
        ):
            current.setdefault(case_id, {})[code] = score
    registry = get_registry()
    good = []
    for number, code, entries in batch:
        error = None
        household = households.get(code)
        if code in seen:
            error = _("Mã hộ “%(code)s” trùng với dòng %(row)s", code=code, row=seen[code])
        elif household is None or not in_scope(actor, household):
            error = (
                _("Hộ mã “%(code)s” không thuộc thôn của bạn", code=code)
                if actor.role == "village_head"
                else _("Không có hộ mã “%(code)s” trong địa bàn bạn quản lý", code=code)
            )
        seen.setdefault(code, number)
        case = cases.get(household.id) if household is not None and error is None else None
        if error is None and case is None:
            error = _(
                "Hộ “%(code)s” chưa đăng ký đợt xét năm %(year)s: đăng ký trên trang của thôn",
                code=code,
                year=round_.year,
            )
        elif error is None and (
            registry.definition_of(case).states[case.state].kind != EDITABLE_KIND
            or case.entry_level != "commune"
        ):
            error = _(
                "Hồ sơ của hộ “%(code)s” đã được gửi đi; không sửa điểm bằng tệp được",
                code=code,
            )
        if error:
            report.add(number, ASSESSMENT_CODE, error)
            continue
        saved = current.get(case.id, {})
        unchanged = all(saved.get(e["code"]) == e["score"] for e in entries)
        good.append((number, case, entries, unchanged))
    for household in households.values():  # keep the session small: memory stays flat
        db.session.expunge(household)
    return good


def _batches(raw, actor, report, round_, cset):
    seen: dict[str, int] = {}
    batch = []
    for item in _parsed(cset, raw, report):
        batch.append(item)
        if len(batch) >= BATCH:
            yield _check_batch(batch, actor, round_, report, seen)
            batch = []
    if batch:
        yield _check_batch(batch, actor, round_, report, seen)


def validate_assessments(
    raw: IO[bytes], actor: User, progress: Progress | None = None
) -> ValidationReport:
    """Check a whole file; write nothing."""
    round_ = _round()
    cset = _criteria(round_)
    report = ValidationReport()
    for _batch in _batches(raw, actor, report, round_, cset):
        if progress:
            progress("checking", report.rows)
    return report


def import_assessments(
    raw: IO[bytes], actor: User, progress: Progress | None = None, *, filename: str = ""
) -> ImportResult:
    """Check and save every row in one pass over the file; the caller commits once, or rolls
    back when InvalidInput is raised with the whole report (nothing saved). Each saved case's
    history records the file and the row."""
    round_ = _round()
    cset = _criteria(round_)
    report = ValidationReport()
    result = ImportResult()
    now = utcnow()
    for batch in _batches(raw, actor, report, round_, cset):
        if report.is_clean:
            rows, numbers = [], []
            for number, case, entries, unchanged in batch:
                if unchanged:
                    result.unchanged += 1
                    continue
                numbers.append(number)
                rows.append(
                    {
                        "case_id": case.id,
                        "items": entries,
                        "source": {"via": "file", "file": filename, "row": number},
                    }
                )
            done, refused = save_assessment_batch(rows, actor, now=now)
            for failure in refused:
                report.add(numbers[failure["position"]], ASSESSMENT_CODE, failure["message"])
            result.updated += len(done)
        if progress:
            progress("writing", report.rows)
    if not report.is_clean:
        raise InvalidInput(
            _l("Tệp có %(count)s lỗi; chưa nhập dòng nào.", count=report.error_count),
            details=report.as_dict(),
        )
    return result


def registration_list(raw: IO[bytes], village: Subject, actor: User) -> list[int]:
    """The households a village's list names (a column "Mã hộ"; the other columns are not
    read), checked row by row: each must be a household of the village that the actor sees.
    Raises InvalidInput with every wrong row (row, column, what to fix); returns their ids."""
    report = ValidationReport()
    code_key = normalise_header(ASSESSMENT_CODE)
    households = {
        s.external_code: s
        for s in db.session.scalars(
            select(Subject).where(Subject.community_id == village.id, Subject.kind == "family")
        )
        if s.external_code and in_scope(actor, s)
    }
    ids, seen = [], {}
    rows = read_rows(raw)
    try:
        for number, cells in rows:
            report.rows += 1
            if code_key not in cells:
                raise InvalidInput(
                    _l("Tệp thiếu cột: %(columns)s.", columns=ASSESSMENT_CODE),
                    details={"file": _l("Cột “Mã hộ” ghi mã của từng hộ đăng ký")},
                )
            code, error = check_cell(ASSESSMENT_SPEC.columns[0], cells.get(code_key))
            if error is None and code in seen:
                error = _("Mã hộ “%(code)s” trùng với dòng %(row)s", code=code, row=seen[code])
            elif error is None and code not in households:
                error = _("Hộ mã “%(code)s” không thuộc thôn này", code=code)
            if error:
                report.add(number, ASSESSMENT_CODE, error)
                continue
            seen[code] = number
            ids.append(households[code].id)
    finally:
        rows.close()
    if not report.rows:
        raise InvalidInput(
            _l("Tệp không có dòng dữ liệu nào."),
            details={"file": _l("Mỗi hộ đăng ký một dòng, dưới dòng tiêu đề “Mã hộ”")},
        )
    if not report.is_clean:
        raise InvalidInput(
            _l("Tệp có %(count)s lỗi; chưa đăng ký hộ nào.", count=report.error_count),
            details=report.as_dict(),
        )
    return ids
