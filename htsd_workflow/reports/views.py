"""The reports pages: bottlenecks and progress against the plan, with charts and exports."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from htsd_workflow.audit.operations import record_audit
from htsd_workflow.auth.access import access
from htsd_workflow.core.errors import InvalidInput
from htsd_workflow.extensions import db
from htsd_workflow.geography.models import Unit
from htsd_workflow.reports.exports import to_csv, to_xlsx
from htsd_workflow.reports.operations import (
    EDITORS,
    TITLE_HEADERS,
    areas_for,
    denominator_template,
    import_denominators,
    save_form,
)
from htsd_workflow.reports.queries import (
    bottlenecks,
    longest_waiting,
    parse_filters,
    targets,
    weekly_trend,
)

bp = Blueprint("reports", __name__, url_prefix="/reports")
READERS = ("manager", "province_officer", "admin", "education_reviewer", "culture_reviewer")

BOTTLENECK_COLUMNS = [
    ("stage", "Bước"),
    ("unit_code", "Mã đơn vị"),
    ("unit_name", "Đơn vị"),
    ("waiting", "Đang chờ"),
    ("arrived", "Đến trong kỳ"),
    ("completed", "Xử lý trong kỳ"),
    ("overdue", "Quá hạn"),
    ("escalated", "Báo cáo cấp trên"),
    ("returned", "Trả lại"),
    ("median_days", "Trung vị (ngày LV)"),
    ("p90_days", "P90 (ngày LV)"),
    ("to_handle", "Phải giải quyết"),
    ("nearly_late", "Sắp đến hạn"),
    ("not_yet_due", "Chưa đến hạn"),
    ("late_done", "Xử lý trễ"),
    ("on_time_done", "Xử lý đúng hạn"),
    ("on_time_rate", "Tỷ lệ đúng hạn"),
]
TARGET_COLUMNS = [
    ("unit_code", "Mã đơn vị"),
    ("unit_name", "Đơn vị"),
    ("level", "Cấp"),
    ("title", "Danh hiệu"),
    ("denominator", "Tổng số"),
    ("registered", "Đăng ký"),
    ("recognized", "Được công nhận"),
    ("percent", "Tỷ lệ (%)"),
    ("target", "Chỉ tiêu (%)"),
    ("gap", "Còn thiếu (điểm %)"),
    ("on_track", "Đạt tiến độ"),
    ("is_dbkk", "Xã ĐBKK"),
]


def _year() -> int:
    raw = request.args.get("year") or str(date.today().year)
    if not raw.isdigit() or not 2000 <= int(raw) <= 2100:
        raise InvalidInput("Năm không hợp lệ.", details={"year": "Ví dụ 2026"})
    return int(raw)


def _export(kind: str, columns, rows, name: str):
    """CSV or XLSX of a table (audited), or None to render the page."""
    if kind not in ("csv", "xlsx"):
        return None
    record_audit(
        "export",
        actor=current_user,
        target=f"report:{name}",
        details={"format": kind, "query": request.query_string.decode()[:500]},
    )
    db.session.commit()
    if kind == "csv":
        return Response(
            to_csv(columns, rows),
            mimetype="text/csv",
            headers={"Content-Disposition": f"attachment; filename={name}.csv"},
        )
    return Response(
        to_xlsx(columns, rows, title=name),
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f"attachment; filename={name}.xlsx"},
    )


@bp.get("/bottlenecks")
@access(*READERS)
def bottleneck_page():
    filters = parse_filters(request.args)
    data = bottlenecks(current_user, filters)
    exported = _export(request.args.get("format", ""), BOTTLENECK_COLUMNS, data["rows"], "ut-tac")
    if exported is not None:
        return exported
    main_rows = [r for r in data["rows"] if ":" not in r["stage"]]
    slowest = sorted(
        (r for r in main_rows if r["median_days"] is not None), key=lambda r: -r["median_days"]
    )[:5]
    return render_template(
        "reports/bottlenecks.html",
        data=data,
        filters=filters,
        slowest=slowest,
        waiting=longest_waiting(current_user, filters),
        weeks=weekly_trend(current_user, filters),
        printing=request.args.get("print") == "1",
        scope_name=_scope_name(),
    )


def _scope_name() -> str:
    unit = db.session.get(Unit, current_user.unit_code) if current_user.unit_code else None
    return unit.name if unit else ""


@bp.get("/targets")
@access(*READERS)
def targets_page():
    year = _year()
    title = request.args.get("title") or None
    data = targets(current_user, year=year, title=title, unit=request.args.get("unit") or None)
    exported = _export(request.args.get("format", ""), TARGET_COLUMNS, data["rows"], "chi-tieu")
    if exported is not None:
        return exported
    districts = [r for r in data["rows"] if r["level"] == "district"]
    return render_template(
        "reports/targets.html",
        data=data,
        year=year,
        title=title,
        districts=districts,
        printing=request.args.get("print") == "1",
    )


# --- denominators -------------------------------------------------------------------------

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _denominator_page(year: int, *, errors=None, upload_errors=None, values=None, status=200):
    return (
        render_template(
            "reports/denominators.html",
            year=year,
            areas=areas_for(current_user, year),
            titles=TITLE_HEADERS,
            errors=errors or {},
            upload_errors=upload_errors,
            values=values or {},
        ),
        status,
    )


@bp.get("/denominators")
@access(*EDITORS)
def denominators_page():
    """The year's figures of each area of the user's territory, on one form."""
    return _denominator_page(_year())


@bp.post("/denominators")
@access(*EDITORS)
def denominators_save():
    year = _year()
    try:
        changed = save_form(current_user, year, request.form.to_dict())
    except InvalidInput as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return _denominator_page(
            year, errors=exc.details, values=request.form.to_dict(), status=422
        )
    record_audit(
        "denominators.save",
        actor=current_user,
        target=f"denominators:{year}",
        details={"changed": changed},
    )
    db.session.commit()
    flash(_("Đã lưu %(n)s số liệu của năm %(year)s.", n=changed, year=year), "success")
    return redirect(url_for("reports.denominators_page", year=year))


@bp.get("/denominators/template.xlsx")
@access(*EDITORS)
def denominators_template():
    """The spreadsheet template, pre-filled with the user's areas and the year's figures."""
    year = _year()
    return Response(
        denominator_template(current_user, year),
        mimetype=XLSX,
        headers={"Content-Disposition": f"attachment; filename=tong-so-{year}.xlsx"},
    )


@bp.post("/denominators/upload")
@access(*EDITORS)
def denominators_upload():
    """Check the whole file; import it only when every row is right (all or nothing)."""
    year = _year()
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash(_("Chọn tệp Excel (.xlsx) hoặc CSV để tải lên."), "error")
        return _denominator_page(year, status=422)
    try:
        changed = import_denominators(upload.stream, current_user)
    except InvalidInput as exc:
        db.session.rollback()
        flash(exc.message, "error")
        listed = exc.details.get("errors") if isinstance(exc.details, dict) else None
        if listed is None:  # a whole-file problem (not a spreadsheet, no rows, missing column)
            listed = [{"row": "", "column": k, "message": v} for k, v in exc.details.items()]
        return _denominator_page(year, upload_errors=listed, status=422)
    record_audit(
        "denominators.import",
        actor=current_user,
        target=f"denominators:{upload.filename[:100]}",
        details={"changed": changed},
    )
    db.session.commit()
    flash(_("Đã nhập tệp: %(n)s số liệu được ghi hoặc thay đổi.", n=changed), "success")
    return redirect(url_for("reports.denominators_page", year=year))
