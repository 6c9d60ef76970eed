"""The reports pages: bottlenecks and progress against the plan, with charts and exports."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, Response, render_template, request
from flask_login import current_user

from htsd_workflow.audit.operations import record_audit
from htsd_workflow.auth.access import access
from htsd_workflow.core.errors import InvalidInput
from htsd_workflow.core.text import whole_number
from htsd_workflow.extensions import db
from htsd_workflow.geography.models import Unit
from htsd_workflow.reports.exports import to_csv, to_xlsx
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
    year = whole_number(raw, 2000, 2100)
    if year is None:
        raise InvalidInput("Năm không hợp lệ.", details={"year": "Ví dụ 2026"})
    return year


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
