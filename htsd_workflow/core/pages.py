"""Helpers every page uses: error pages, dates and points in the user's format, deadlines
in working days, and each role's start page."""

from __future__ import annotations

from datetime import datetime

from flask import g, jsonify, render_template, request
from flask_babel import format_decimal, ngettext
from flask_babel import lazy_gettext as _l

from htsd_workflow.core.calendar import get_calendar
from htsd_workflow.core.time import to_local, utcnow

ERROR_TITLES = {
    400: _l("Yêu cầu không hợp lệ"),
    403: _l("Bạn không có quyền xem trang này"),
    404: _l("Không tìm thấy trang"),
    405: _l("Thao tác không được hỗ trợ"),
    409: _l("Hồ sơ đã thay đổi"),
    413: _l("Tệp tải lên quá lớn"),
    422: _l("Thông tin chưa hợp lệ"),
    429: _l("Quá nhiều lần thử"),
    500: _l("Hệ thống gặp lỗi"),
    503: _l("Hệ thống tạm thời gián đoạn"),
}
ERROR_HINTS = {
    400: _l("Trang gửi lên thông tin không đúng. Hãy quay lại, tải lại trang rồi thử lại."),
    403: _l(
        "Trang này thuộc phạm vi hoặc vai trò khác. Nếu bạn cần quyền, hãy liên hệ quản trị "
        "hệ thống của tỉnh."
    ),
    404: _l(
        "Địa chỉ không đúng, hoặc hồ sơ không thuộc phạm vi của bạn. Hãy quay lại trang chính."
    ),
    405: _l("Hãy dùng các nút trên trang thay vì gõ địa chỉ."),
    409: _l("Có người khác vừa xử lý trước bạn. Hãy tải lại để xem tình trạng mới nhất."),
    413: _l(
        "Tổng dung lượng tệp gửi một lần vượt quá giới hạn. Hãy quay lại và chọn ít tệp hơn "
        "hoặc ảnh nhỏ hơn; những gì bạn đã gõ vẫn còn trên trang trước."
    ),
    422: _l("Hãy sửa các mục được đánh dấu rồi gửi lại."),
    429: _l("Bạn đã thử quá nhiều lần. Hãy đợi vài phút rồi thử lại."),
    500: _l(
        "Thao tác chưa được thực hiện và không có dữ liệu nào bị mất. Hãy thử lại sau ít phút; "
        "nếu vẫn lỗi, báo cho quản trị hệ thống."
    ),
    503: _l(
        "Tạm thời không kết nối được cơ sở dữ liệu. Thao tác chưa được thực hiện và không có dữ "
        "liệu nào bị mất; hãy tải lại trang sau ít phút."
    ),
}


def format_moment(moment: datetime | None, with_time: bool = True) -> str:
    """A stored naive-UTC moment as local dd/mm/yyyy (HH:MM)."""
    if moment is None:
        return ""
    local = to_local(moment)
    return local.strftime("%d/%m/%Y %H:%M" if with_time else "%d/%m/%Y")


def format_day(day) -> str:
    return day.strftime("%d/%m/%Y") if day else ""


def format_points(value) -> str:
    """Points in the user's number format (9,5 in Vietnamese)."""
    if value is None:
        return "–"
    return format_decimal(value, format="#,##0.##")


def due_status(due_at: datetime | None, now: datetime | None = None) -> dict | None:
    """Working days left or late for a due moment, with the text the screens show."""
    if due_at is None:
        return None
    now = now or g.get("now") or utcnow()
    calendar = get_calendar()
    if now > due_at:
        days = calendar.working_days_late(due_at, now)
        return {
            "overdue": True,
            "days": days,
            "text": ngettext("Quá hạn %(num)s ngày", "Quá hạn %(num)s ngày", days),
        }
    days = calendar.working_days_left(due_at, now)
    return {
        "overdue": False,
        "days": days,
        "soon": days <= 2,
        "text": ngettext("Còn %(num)s ngày làm việc", "Còn %(num)s ngày làm việc", days),
    }


def start_endpoint(user) -> str:
    """The page a user lands on after signing in."""
    if user.role == "applicant":
        return "subjects.mine"
    if user.role in ("province_officer", "manager"):
        return "dashboard.overview"
    if user.role == "admin":
        return "admin.users"
    return "queues.queue"


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.blueprint == "api"


def error_page(status: int, message: str | None = None, **context):
    """Render the error page for ``status`` in the user's language."""
    title = str(ERROR_TITLES.get(status, ERROR_TITLES[400]))
    if _wants_json():
        return jsonify(error=status, message=message or title), status
    return (
        render_template(
            "errors/error.html",
            status=status,
            title=title,
            message=message,
            hint=str(ERROR_HINTS.get(status, "")),
            **context,
        ),
        status,
    )


def safe_next(target: str | None) -> str | None:
    """``target`` if it is a path on this site (never another host), else None."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target
