"""The reports pages: bottlenecks and progress against the plan, with charts and exports."""

from __future__ import annotations

from datetime import date

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from htsd_workflow.audit.operations import record_audit
from htsd_workflow.auth.access import access
from htsd_workflow.auth.roles import DENOMINATOR_EDITORS, REPORT_READERS
from htsd_workflow.core import transaction
from htsd_workflow.core.errors import InvalidInput
from htsd_workflow.core.labels import (
    DEPARTMENT_LABELS,
    SUBJECT_NOUNS,
    TITLE_LABELS,
    state_label,
)
from htsd_workflow.core.pages import format_moment
from htsd_workflow.core.text import whole_number
from htsd_workflow.core.time import to_local, utcnow
from htsd_workflow.extensions import db
from htsd_workflow.geography.models import Unit
from htsd_workflow.reports.exports import to_csv, to_pdf, to_xlsx
from htsd_workflow.reports.operations import (
    TITLE_WORDS,
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
    units_of_period,
    weekly_trend,
)

bp = Blueprint("reports", __name__, url_prefix="/reports")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

BOTTLENECK_COLUMNS = [
    ("stage", _l("Bước")),
    ("unit_code", _l("Mã đơn vị")),
    ("unit_name", _l("Đơn vị")),
    ("waiting", _l("Đang chờ")),
    ("arrived", _l("Đến trong kỳ")),
    ("completed", _l("Xử lý trong kỳ")),
    ("overdue", _l("Quá hạn")),
    ("escalated", _l("Báo cáo cấp trên")),
    ("returned", _l("Trả lại")),
    ("withdrawn", _l("Rút hồ sơ")),
    ("median_days", _l("Trung vị (ngày LV)")),
    ("p90_days", _l("P90 (ngày LV)")),
    ("to_handle", _l("Phải giải quyết")),
    ("nearly_late", _l("Sắp đến hạn")),
    ("not_yet_due", _l("Chưa đến hạn")),
    ("late_done", _l("Giải quyết trễ")),
    ("on_time_done", _l("Giải quyết đúng hạn")),
    ("late_rate", _l("Tỷ lệ trễ hạn")),
    ("on_time_rate", _l("Tỷ lệ đúng hạn")),
]
TARGET_COLUMNS = [
    ("unit_code", _l("Mã đơn vị")),
    ("unit_name", _l("Đơn vị")),
    ("level", _l("Cấp")),
    ("title", _l("Danh hiệu")),
    ("denominator", _l("Tổng số")),
    ("registered", _l("Đăng ký")),
    ("recognized", _l("Được công nhận")),
    ("levels", _l("Mức độ đạt được")),
    ("percent", _l("Tỷ lệ (%)")),
    ("path", _l("Lộ trình năm (%)")),
    ("target", _l("Chỉ tiêu cuối kỳ (%)")),
    ("gap", _l("Còn thiếu (điểm %)")),
    ("gap_count", _l("Cần công nhận thêm (số lượng)")),
    ("on_track", _l("Đạt tiến độ")),
    ("is_dbkk", _l("Xã ĐBKK")),
]
#: the level column of the targets table in words ("direct": managed by the district/province)
REPORT_LEVELS = {
    "commune": _l("Xã"),
    "district": _l("Huyện"),
    "province": _l("Tỉnh"),
    "direct": _l("Trực tiếp quản lý"),
}


SLOWEST_COLUMNS = [
    ("stage_label", _l("Bước")),
    ("unit_code", _l("Mã đơn vị")),
    ("unit_name", _l("Đơn vị")),
    ("median_days", _l("Trung vị (ngày LV)")),
    ("p90_days", _l("P90 (ngày LV)")),
    ("completed", _l("Xử lý trong kỳ")),
]
WAITING_COLUMNS = [
    ("case", _l("Hồ sơ")),
    ("subject", _l("Đối tượng")),
    ("title", _l("Danh hiệu")),
    ("stage_label", _l("Bước")),
    ("commune_code", _l("Mã xã")),
    ("district_code", _l("Mã huyện")),
    ("entered", _l("Đến bước lúc")),
    ("due", _l("Hạn")),
]
TREND_COLUMNS = [
    ("week", _l("Tuần bắt đầu")),
    ("arrived", _l("Đến")),
    ("completed", _l("Xử lý")),
    ("overdue_backlog", _l("Tồn đọng quá hạn cuối tuần")),
]
#: the tables of each page that export: ?table=<name>&format=csv|xlsx (the first is the default)
BOTTLENECK_TABLES = ("details", "slowest", "waiting", "trend")


def _year() -> int:
    raw = request.args.get("year") or str(date.today().year)
    year = whole_number(raw, 2000, 2100)
    if year is None:
        raise InvalidInput(_l("Năm không hợp lệ."), details={"year": _l("Ví dụ 2026")})
    return year


def _format() -> str:
    kind = request.args.get("format", "")
    if kind not in ("", "csv", "xlsx", "pdf"):
        raise InvalidInput(
            _l("Định dạng “%(format)s” không hợp lệ.", format=kind[:20]),
            details={"format": _l("csv, xlsx hoặc pdf")},
        )
    return kind


def _audit_export(kind: str, name: str) -> None:
    record_audit(
        "export",
        actor=current_user,
        target=f"report:{name}",
        details={"format": kind, "query": request.query_string.decode()[:500]},
    )


def _export(kind: str, columns, rows, name: str):
    """CSV or XLSX of a table (audited)."""
    _audit_export(kind, name)
    if kind == "csv":
        return Response(
            to_csv(columns, rows, decimal_comma=str(get_locale() or "vi") == "vi"),
            mimetype="text/csv",
            headers={"Content-Disposition": f"attachment; filename={name}.csv"},
        )
    return Response(
        to_xlsx(columns, rows, title=name),
        mimetype=XLSX,
        headers={"Content-Disposition": f"attachment; filename={name}.xlsx"},
    )


def _pdf_or_job(html: str, name: str):
    """The PDF at once for a short report; for a long one (more table rows than
    ``REPORT_PDF_INLINE_MAX_ROWS``) a job the worker builds while a progress bar shows."""
    if html.count("<tr") <= current_app.config.get("REPORT_PDF_INLINE_MAX_ROWS", 120):
        return _pdf(html, name)
    from htsd_workflow.jobs.runner import dispatch
    from htsd_workflow.reports.pdf_jobs import REPORT_PDF, create_report_pdf_job

    _audit_export("pdf", name)
    back = url_for(request.endpoint, **_filter_args())
    job = create_report_pdf_job(current_user, name, html, back)
    transaction.after_commit(dispatch, REPORT_PDF, job.id)
    return redirect(url_for("reports.pdf_job", job_id=job.id))


def _own_pdf_job(job_id: int):
    from htsd_workflow.jobs.models import own_job
    from htsd_workflow.reports.models import ReportPdfJob

    return own_job(ReportPdfJob, job_id, current_user)


@bp.route("/pdf-jobs/<int:job_id>")
@access(*REPORT_READERS)
def pdf_job(job_id):
    """The progress of a long report's PDF, then its file."""
    return render_template("reports/pdf_job.html", job=_own_pdf_job(job_id))


@bp.route("/pdf-jobs/<int:job_id>/status")
@access(*REPORT_READERS)
def pdf_job_status(job_id):
    from htsd_workflow.jobs.models import progress_of

    job = _own_pdf_job(job_id)
    label = _("Đang ghi tệp PDF (%(pages)s trang)", pages=job.pages) if job.done else None
    return jsonify(progress_of(job, label=label))


@bp.route("/pdf-jobs/<int:job_id>/file")
@access(*REPORT_READERS)
def pdf_job_file(job_id):
    from htsd_workflow.reports.models import ReportPdfJob

    job = _own_pdf_job(job_id)
    if job.status != "done":
        abort(404)
    pdf = db.session.get(ReportPdfJob, job.id).pdf
    return Response(
        pdf,
        mimetype="application/pdf",
        headers={"Content-Disposition": f"attachment; filename={job.name}.pdf"},
    )


def _pdf(html: str, name: str) -> Response:
    _audit_export("pdf", name)
    return Response(
        to_pdf(html),
        mimetype="application/pdf",
        headers={"Content-Disposition": f"attachment; filename={name}.pdf"},
    )


def _export_links(table: str | None = None, endpoint: str | None = None) -> dict:
    """URLs of this page (or ``endpoint``) as CSV, XLSX (of one table), keeping the filters."""
    args = _filter_args()
    if table:
        args["table"] = table
    endpoint = endpoint or request.endpoint
    return {
        "csv": url_for(endpoint, **args, format="csv"),
        "xlsx": url_for(endpoint, **args, format="xlsx"),
    }


def _filter_args() -> dict:
    """The page's query without its output choices (format, table, print)."""
    return {k: v for k, v in request.args.items() if k not in ("format", "table", "print")}


def _print_links() -> dict:
    args = _filter_args()
    return {
        "print": url_for(request.endpoint, **args, print="1"),
        "pdf": url_for(request.endpoint, **args, format="pdf"),
    }


def _scope() -> str:
    """The territory the figures cover: the viewer's, narrowed by the unit filter."""
    code = request.args.get("unit") or current_user.unit_code
    unit = db.session.get(Unit, code) if code else None
    return unit.name if unit else ""


def _state_heading() -> dict:
    """What the heading of a state document needs (Nghị định 30/2020/NĐ-CP): the people's
    committee of the viewer's area over the issuing body, and the place of the date line."""
    unit = db.session.get(Unit, current_user.unit_code) if current_user.unit_code else None
    province = db.session.get(Unit, unit.province_code) if unit else None
    place = ""
    if province is not None:
        place = province.name
        prefix = (province.division_type or "").strip()
        if prefix and place.lower().startswith(prefix.lower() + " "):
            place = place[len(prefix) + 1 :]
    today = to_local(utcnow()).date()
    return {
        "committee": unit.name if unit else "",
        # the province may name its own issuing body; by default, the steering committee
        "body": current_app.config.get("REPORT_ISSUING_BODY")
        or _("Ban Chỉ đạo xây dựng xã hội học tập"),
        "place": place,
        "day": today,
    }


def _slowest(rows: list[dict]) -> list[dict]:
    """The five (stage, unit) rows of the main stages with the longest median, labelled."""
    main_rows = [r for r in rows if ":" not in r["stage"]]
    slowest = sorted(
        (r for r in main_rows if r["median_days"] is not None), key=lambda r: -r["median_days"]
    )[:5]
    for row in slowest:
        row["stage_label"] = state_label(row["stage"])
        row.update(_days(row))
    return slowest


@bp.get("/bottlenecks")
@access(*REPORT_READERS)
def bottleneck_page():
    kind = _format()
    filters = parse_filters(request.args)
    table = request.args.get("table") or "details"
    if kind in ("csv", "xlsx"):
        # an export reads only what its table needs
        if table not in BOTTLENECK_TABLES:
            raise InvalidInput(
                _l("Bảng không hợp lệ."), details={"table": ", ".join(BOTTLENECK_TABLES)}
            )
        if table == "trend":
            weeks = weekly_trend(current_user, filters)
            return _export(kind, TREND_COLUMNS, weeks, "xu-huong-theo-tuan")
        if table == "waiting":
            waiting = _waiting_rows(longest_waiting(current_user, filters))
            return _export(kind, WAITING_COLUMNS, waiting, "ho-so-cho-lau-nhat")
        data = bottlenecks(current_user, filters)
        if table == "details":
            return _export(kind, BOTTLENECK_COLUMNS, _labelled(data["rows"]), "diem-nghen")
        return _export(kind, SLOWEST_COLUMNS, _slowest(data["rows"]), "don-vi-cham-nhat")
    data = bottlenecks(current_user, filters)
    slowest = _slowest(data["rows"])
    waiting = longest_waiting(current_user, filters)
    printing = request.args.get("print") == "1" or kind == "pdf"
    # The weekly trend reads the period's visits a second time: the printed page needs it now;
    # the screen shows the tables first and fetches the chart after (``bottleneck_trend``), so
    # people do not wait for both scans before seeing anything.
    weeks = weekly_trend(current_user, filters) if printing else None
    html = render_template(
        "reports/bottlenecks.html",
        data=data,
        filters=filters,
        slowest=slowest,
        waiting=waiting,
        weeks=weeks,
        trend_url=url_for("reports.bottleneck_trend", **_filter_args()),
        units=(
            ([], [])
            if printing
            else units_of_period(current_user, filters.date_from, filters.date_to)
        ),
        printing=printing,
        scope_name=_scope(),
        columns=dict(BOTTLENECK_COLUMNS),
        exports={t: _export_links(t) for t in BOTTLENECK_TABLES},
        print_links=_print_links(),
        heading=_state_heading() if printing else None,
        pdf=kind == "pdf",
        generated_at=format_moment(utcnow()),
    )
    if kind == "pdf":
        return _pdf_or_job(html, "diem-nghen")
    return html


@bp.get("/bottlenecks/trend")
@access(*REPORT_READERS)
def bottleneck_trend():
    """The bottleneck page's weekly trend (chart, export links, weekly figures) for the same
    filters: fetched by the page once its tables show; opened directly (no JavaScript), a
    page of its own."""
    filters = parse_filters(request.args)
    context = {
        "weeks": weekly_trend(current_user, filters),
        "exports": {"trend": _export_links("trend", endpoint="reports.bottleneck_page")},
        "printing": False,
    }
    if request.headers.get("X-Requested-With") == "fetch":
        return render_template("reports/_trend.html", **context)
    back = url_for("reports.bottleneck_page", **_filter_args())
    return render_template("reports/trend.html", filters=filters, back=back, **context)


def levels_text(counts: dict[str, int], levels: list[dict]) -> str:
    """A row's recognitions by level reached, e.g. "Mức độ 1 – Khá: 2; Mức độ 2 – Tốt: 1"."""
    words = [(lv["code"], lv["label"]) for lv in levels] + [("none", _("Chưa đạt mức độ"))]
    return "; ".join(f"{label}: {counts[code]}" for code, label in words if counts.get(code))


def _target_columns(data: dict) -> list[tuple[str, str]]:
    """The targets table's columns; a count plan (the 2015 pilot) has counts, not percentages."""
    if not data["plan"] or data["plan"]["kind"] != "count":
        return TARGET_COLUMNS
    words = {"target": _l("Chỉ tiêu (số lượng)"), "gap": _l("Còn thiếu (số lượng)")}
    return [
        (key, words.get(key, label))
        for key, label in TARGET_COLUMNS
        if key not in ("gap_count", "path")
    ]


def _labelled(rows: list[dict]) -> list[dict]:
    """Rows with the stage in words (a department's part after the stage)."""
    out = []
    for row in rows:
        stage, _, part = row["stage"].partition(":")
        label = state_label(stage)
        if part:
            label = f"{label} · {DEPARTMENT_LABELS.get(part, part)}"
        out.append({**row, "stage": label, **_days(row)})
    return out


def _days(row: dict) -> dict:
    """The row's working-day figures rounded to one decimal, as the pages show them."""
    return {
        key: round(row[key], 1) if row.get(key) is not None else None
        for key in ("median_days", "p90_days")
    }


def _waiting_rows(cases) -> list[dict]:
    return [
        {
            "case": f"HS-{c.id}",
            "subject": c.subject.name,
            "title": str(TITLE_LABELS.get(c.title, c.title)),
            "stage_label": state_label(c.state),
            "commune_code": c.commune_code or "",
            "district_code": c.district_code or "",
            "entered": format_moment(c.stage_entered_at),
            "due": format_moment(c.due_at),
        }
        for c in cases
    ]


@bp.get("/targets")
@access(*REPORT_READERS)
def targets_page():
    kind = _format()
    year = _year()
    title = request.args.get("title") or None
    data = targets(current_user, year=year, title=title, unit=request.args.get("unit") or None)
    if kind in ("csv", "xlsx"):
        rows = [
            {
                **r,
                "title": str(TITLE_LABELS.get(r["title"], r["title"])),
                "level": str(REPORT_LEVELS.get(r["level"], r["level"])),
                "levels": levels_text(r["levels"], data["levels"]),
            }
            for r in data["rows"]
        ]
        return _export(kind, _target_columns(data), rows, "chi-tieu")
    districts = [r for r in data["rows"] if r["level"] == "district"]
    html = render_template(
        "reports/targets.html",
        data=data,
        year=year,
        title=title,
        districts=districts,
        units=units_of_period(current_user, date(year, 1, 1), date(year, 12, 31))
        if not kind
        else ([], []),
        printing=request.args.get("print") == "1" or kind == "pdf",
        heading=_state_heading() if request.args.get("print") == "1" or kind == "pdf" else None,
        scope_name=_scope(),
        columns=dict(_target_columns(data)),
        SUBJECT_NOUNS=SUBJECT_NOUNS,
        may_enter_denominators=current_user.role in DENOMINATOR_EDITORS,
        levels_text=levels_text,
        exports={"targets": _export_links()},
        print_links=_print_links(),
        pdf=kind == "pdf",
        generated_at=format_moment(utcnow()),
    )
    if kind == "pdf":
        return _pdf_or_job(html, "chi-tieu")
    return html


# --- denominators -------------------------------------------------------------------------


def _denominator_page(year: int, *, errors=None, upload_errors=None, values=None, status=200):
    return (
        render_template(
            "reports/denominators.html",
            year=year,
            areas=areas_for(current_user, year),
            titles=TITLE_WORDS,
            errors=errors or {},
            upload_errors=upload_errors,
            values=values or {},
        ),
        status,
    )


@bp.get("/denominators")
@access(*DENOMINATOR_EDITORS)
def denominators_page():
    """The year's figures of each area of the user's territory, on one form."""
    return _denominator_page(_year())


@bp.post("/denominators")
@access(*DENOMINATOR_EDITORS)
def denominators_save():
    year = _year()
    try:
        with transaction.undone_on_refusal():
            changed = save_form(current_user, year, request.form.to_dict())
    except InvalidInput as exc:
        flash(exc.message, "error")
        return _denominator_page(
            year, errors=exc.details, values=request.form.to_dict(), status=422
        )
    flash(_("Đã lưu %(n)s số liệu của năm %(year)s.", n=changed, year=year), "success")
    return redirect(url_for("reports.denominators_page", year=year))


@bp.get("/denominators/template.xlsx")
@access(*DENOMINATOR_EDITORS)
def denominators_template():
    """The spreadsheet template, pre-filled with the user's areas and the year's figures."""
    year = _year()
    return Response(
        denominator_template(current_user, year),
        mimetype=XLSX,
        headers={"Content-Disposition": f"attachment; filename=tong-so-{year}.xlsx"},
    )


@bp.post("/denominators/upload")
@access(*DENOMINATOR_EDITORS)
def denominators_upload():
    """Check the whole file; import it only when every row is right (all or nothing)."""
    year = _year()
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash(_("Chọn tệp Excel (.xlsx) hoặc CSV để tải lên."), "error")
        return _denominator_page(year, status=422)
    try:
        with transaction.undone_on_refusal():
            changed = import_denominators(upload.stream, current_user)
    except InvalidInput as exc:
        flash(exc.message, "error")
        listed = exc.details.get("errors") if isinstance(exc.details, dict) else None
        if listed is None:  # a whole-file problem (not a spreadsheet, no rows, missing column)
            listed = [{"row": "", "column": k, "message": v} for k, v in exc.details.items()]
        return _denominator_page(year, upload_errors=listed, status=422)
    flash(_("Đã nhập tệp: %(n)s số liệu được ghi hoặc thay đổi.", n=changed), "success")
    return redirect(url_for("reports.denominators_page", year=year))
