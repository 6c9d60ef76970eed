"""Helpers every page uses: error pages, dates and points in the user's format, deadlines
in working days, and each role's start page."""

from __future__ import annotations

import hashlib
import time
import unicodedata
from datetime import date, datetime
from pathlib import Path

import flask_babel
from babel.numbers import format_decimal
from babel.support import Translations
from flask import current_app, g, jsonify, make_response, render_template, request, session, url_for
from flask_babel import get_locale, get_translations
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from jinja2 import pass_context
from markupsafe import Markup

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
    # what strftime("%d/%m/%Y %H:%M") gives (the year unpadded, as glibc prints it), at a
    # third of its cost: list pages print two dates on each of their rows
    if with_time:
        return f"{local.day:02d}/{local.month:02d}/{local.year} {local.hour:02d}:{local.minute:02d}"
    return f"{local.day:02d}/{local.month:02d}/{local.year}"


def format_day(day) -> str:
    """A date (or an ISO date string, as report rows carry them) as dd/mm/yyyy."""
    if isinstance(day, str) and day:
        day = date.fromisoformat(day[:10])
    return day.strftime("%d/%m/%Y") if day else ""


#: formatted points per (locale, value): a page shows the same few scores many times, and
#: Babel's number formatting (pattern parsing, rounding) costs more than the rest of a row
_POINTS: dict = {}
_CACHE_MAX = 20000


def format_points(value, locale=None) -> str:
    """Points in the user's number format (9,5 in Vietnamese); ``locale`` defaults to the
    request's."""
    if value is None:
        return "–"
    if locale is None:
        locale = get_locale()
    # repr() keeps 9.5, Decimal("9.5") and -0.0 apart: the cache never merges values that
    # Babel might format differently
    key = (str(locale), repr(value))
    text = _POINTS.get(key)
    if text is None:
        if len(_POINTS) >= _CACHE_MAX:
            _POINTS.clear()
        text = _POINTS[key] = format_decimal(value, format="#,##0.##", locale=locale)
    return text


def format_figure(value, decimals: int = 1) -> str:
    """A report figure rounded for reading, in the user's number format: one decimal for days
    and percentages (89,5 in Vietnamese, 89.5 in English), ``decimals=0`` for counts
    (1.050 / 1,050); "—" for no figure."""
    if value is None:
        return "—"
    if decimals == 0:
        return flask_babel.format_number(round(value))
    return flask_babel.format_decimal(value, format="#,##0." + "0" * decimals)


#: the deadline badge's text per (translations, overdue, days)
_DUE_TEXTS: dict = {}


def due_text(overdue: bool, days: int, translations=None) -> str:
    """ "Quá hạn N ngày làm việc" / "Còn N ngày làm việc" / "Đến hạn hôm nay" in the request's
    language (``translations`` defaults to the request's Flask-Babel translations), translated
    once per language and number of days."""
    if translations is None:
        translations = get_translations()
    key = (translations, overdue, days)
    text = _DUE_TEXTS.get(key)
    if text is None:
        if overdue:
            text = translations.ungettext(
                "Quá hạn %(num)s ngày làm việc", "Quá hạn %(num)s ngày làm việc", days
            )
        elif days == 0:
            text = translations.ugettext("Đến hạn hôm nay")
        else:
            text = translations.ungettext(
                "Còn %(num)s ngày làm việc", "Còn %(num)s ngày làm việc", days
            )
        text = text % {"num": days}
        # Flask-Babel keeps one Translations per language for the app's life; outside a
        # request it hands out a new NullTranslations each time, which is not worth keeping
        if isinstance(translations, Translations):
            if len(_DUE_TEXTS) >= _CACHE_MAX:
                _DUE_TEXTS.clear()
            _DUE_TEXTS[key] = text
    return text


def due_status(
    due_at: datetime | None, now: datetime | None = None, translations=None, calendar=None
) -> dict | None:
    """Working days left or late for a due moment, with the text the screens show
    (``translations`` and ``calendar``: the request's unless given, for list pages that look
    them up once)."""
    if due_at is None:
        return None
    now = now or g.get("now") or utcnow()
    calendar = calendar or get_calendar()
    if now > due_at:
        days = calendar.working_days_late(due_at, now)
        return {"overdue": True, "days": days, "text": due_text(True, days, translations)}
    days = calendar.working_days_left(due_at, now)
    return {
        "overdue": False,
        "days": days,
        "soon": days <= 2,
        "text": due_text(False, days, translations),
    }


class UrlPattern:
    """``url_for(endpoint, **{arg: n}, **values)`` for many whole numbers ``n`` at the cost of
    one ``url_for``: the URL is built once around a marker number and split there.

    >>> show = UrlPattern("cases.show", "case_id", back="/queue")
    >>> show(42)   # == url_for("cases.show", case_id=42, back="/queue")
    """

    #: a number no other part of a URL is expected to contain (checked: it must occur once)
    MARKER = 7_351_902_468_135_790

    def __init__(self, endpoint: str, arg: str, **values):
        url = url_for(endpoint, **{arg: self.MARKER}, **values)
        marker = str(self.MARKER)
        if url.count(marker) != 1:
            raise ValueError(f"{endpoint}: the marker for {arg} is not found once in {url}")
        self.head, _marker, self.tail = url.partition(marker)

    def __call__(self, value: int) -> str:
        return f"{self.head}{int(value)}{self.tail}"


def template_translations(translations) -> dict:
    """``gettext`` and ``ngettext`` for one rendering of a template, bound to the request's
    translations once.

    Templates call ``_()`` through Jinja's i18n extension, which looks ``gettext`` up in the
    template's context before the environment; Flask-Babel's own callables find the request's
    translations anew on every call (three trips through ``g``), which cost more than the
    rest of a filter form. These behave like Jinja's "newstyle" callables: the text is marked
    safe only when autoescaping, then always formatted with the keyword arguments (escaped).
    """
    ugettext, ungettext = translations.ugettext, translations.ungettext

    @pass_context
    def gettext(__context, __string: str, **variables) -> str:
        text = ugettext(__string)
        if __context.eval_ctx.autoescape:
            text = Markup(text)
        return text % variables

    @pass_context
    def ngettext(__context, __singular: str, __plural: str, __num: int, **variables) -> str:
        variables.setdefault("num", __num)
        text = ungettext(__singular, __plural, __num)
        if __context.eval_ctx.autoescape:
            text = Markup(text)
        return text % variables

    return {"gettext": gettext, "ngettext": ngettext}


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


#: the fields that name where to go after a form (``next``) or the way back to a list (``back``)
REDIRECT_FIELDS = ("next", "back")


def safe_next(target: str | None) -> str | None:
    """``target`` if it is a path on this site (never another host), else None.

    Browsers drop tabs and line breaks from a URL, trim spaces and control characters at its
    ends and read ``\\`` as ``/``: ``/%09/other-host`` (a tab, once decoded) becomes
    ``//other-host``, another site. So a target holds no control, format or space character
    and no backslash, and starts with one ``/``.
    """
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    if any(unicodedata.category(ch)[0] in "CZ" for ch in target):
        return None
    return target


# --- conditional GET ----------------------------------------------------------------------


def _build_token(app) -> bytes:
    """What every page's text depends on besides its data: the templates and the compiled
    translations as this process loaded them (a deploy that changes either changes every
    validator), hashed once per app."""
    token = app.extensions.get("htsd_page_build_token")
    if token is None:
        digest = hashlib.sha256()
        env = app.jinja_env
        for name in sorted(env.list_templates()):
            digest.update(name.encode())
            digest.update(env.loader.get_source(env, name)[0].encode())
        for catalogue in sorted(Path(app.root_path, "translations").rglob("*.mo")):
            digest.update(catalogue.read_bytes())
        token = app.extensions["htsd_page_build_token"] = digest.digest()
    return token


def page_validator(*parts) -> str:
    """An ETag for a signed-in page built from ``parts`` (everything of the page's own that it
    shows: its rows, counts, filter lists, page links) and what every page's layout shows: the
    address, the user (name, role, unit), the language, the unread count, pending flash
    messages, the session's CSRF secret and the period in which the page's CSRF token stays
    valid (a page kept by the browser must still submit its forms), the templates and the
    translations. Keyed with the app's secret, so it reveals nothing of what it covers."""
    user = current_user if current_user and current_user.is_authenticated else None
    config = current_app.config
    field = config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    if config.get("WTF_CSRF_ENABLED", True) and field not in session:
        generate_csrf()  # the page's forms will carry a token of this secret: make it first
    limit = config.get("WTF_CSRF_TIME_LIMIT", 3600)
    period = int(time.time() // (limit / 2)) if limit else 0
    layout = (
        request.script_root,
        request.full_path,
        None
        if user is None
        else (user.id, user.username, user.full_name, user.role, user.unit_code, user.unit_level),
        str(get_locale()),
        g.get("unread_notifications"),
        session.get("_flashes"),
        session.get(field),
        period,
    )
    secret = current_app.secret_key or ""
    key = hashlib.sha256(secret.encode() if isinstance(secret, str) else secret).digest()
    digest = hashlib.blake2b(key=key, digest_size=16)
    digest.update(_build_token(current_app._get_current_object()))
    digest.update(repr((layout, parts)).encode())
    return digest.hexdigest()


def conditional_page(template: str, parts: tuple, **context):
    """``render_template(template, **context)`` answered ``304 Not Modified`` without rendering
    when the browser's copy carries the same validator (``page_validator(*parts)``). The page
    is marked ``private, no-cache``: the browser keeps it but asks every time (signing out
    clears the browser's cache of the site: ``Clear-Site-Data``)."""
    validator = page_validator(*parts)
    # weak comparison, as RFC 9110 asks of If-None-Match (a proxy that compresses the page
    # may have weakened the ETag it passed on)
    if request.if_none_match.contains_weak(validator):
        response = current_app.response_class(status=304)
    else:
        response = make_response(render_template(template, **context))
    response.set_etag(validator)
    response.headers["Cache-Control"] = "private, no-cache"
    return response
