"""HTTP wiring shared by every feature: sign-in sessions, language, security headers, error
pages, template helpers, the start page and the health endpoints."""

from __future__ import annotations

import contextlib
import logging

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import (
    Flask,
    current_app,
    g,
    has_request_context,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.sessions import SecureCookieSessionInterface
from flask_babel import get_locale, get_translations
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from itsdangerous import URLSafeTimedSerializer
from kombu import Connection
from sqlalchemy import bindparam, select, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import BadRequest, HTTPException
from werkzeug.routing import IntegerConverter

from htsd_workflow.admin.views import bp as admin_bp
from htsd_workflow.api import (
    api_database_unavailable,
    api_http_error,
    api_unexpected_error,
    is_api_request,
    register_api,
)
from htsd_workflow.auth.access import access, may_open, start_endpoint
from htsd_workflow.auth.models import User
from htsd_workflow.auth.views import bp as auth_bp
from htsd_workflow.cases.views import bp as cases_bp
from htsd_workflow.config import PROJECT_ROOT
from htsd_workflow.core import labels
from htsd_workflow.core.errors import DomainError
from htsd_workflow.core.models import persistent, read_rows
from htsd_workflow.core.pages import (
    ERROR_TITLES,
    REDIRECT_FIELDS,
    due_status,
    error_page,
    format_day,
    format_figure,
    format_moment,
    format_points,
    safe_next,
    template_translations,
)
from htsd_workflow.core.text import MAX_ID, whole_number
from htsd_workflow.dashboard.views import bp as dashboard_bp
from htsd_workflow.decisions.views import bp as decisions_bp
from htsd_workflow.evidence.views import bp as evidence_bp
from htsd_workflow.extensions import db, login_manager
from htsd_workflow.geography.views import bp as geography_bp
from htsd_workflow.imports.views import bp as imports_bp
from htsd_workflow.notifications.operations import unread_count, unread_count_of
from htsd_workflow.notifications.views import bp as notifications_bp
from htsd_workflow.queues.views import bp as queues_bp
from htsd_workflow.reports.views import bp as reports_bp
from htsd_workflow.rounds.views import bp as rounds_bp
from htsd_workflow.subjects.views import bp as subjects_bp

log = logging.getLogger(__name__)

#: what a page may load: only this site's own files; no inline scripts or styles
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


class IdConverter(IntegerConverter):
    """``<int:…>`` in routes: whole numbers from 0 up to the largest id (``MAX_ID``)."""

    def __init__(self, url_map, *args, **kwargs):
        kwargs.setdefault("max", MAX_ID)
        super().__init__(url_map, *args, **kwargs)


# --- sign-in session ----------------------------------------------------------------------


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with the signing serializer made once per secret key.

    Flask builds a new ``URLSafeTimedSerializer`` (key list, signer settings) every time a
    request's session is opened, even for a request that carries no cookie (the API, health
    checks). The serializer keeps no state between calls, so one per (secret key, fallback
    keys) serves every request and thread; a changed key makes a new one.
    """

    _cached: tuple[tuple, URLSafeTimedSerializer | None] | None = None

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        key = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        cached = self._cached
        if cached is None or cached[0] != key:
            cached = self._cached = (key, super().get_signing_serializer(app))
        return cached[1]


#: the signed-in user's columns and the menu's unread count, in one statement made once
_USER_COLUMNS = tuple(User.__mapper__.column_attrs)
_USER_AND_UNREAD = select(
    *(attribute.expression for attribute in _USER_COLUMNS), unread_count_of(User.id)
).where(User.id == bindparam("id"))
_USER_KEYS = tuple(attribute.key for attribute in _USER_COLUMNS)


@login_manager.user_loader
def load_user(session_id: str):
    """Load a signed-in user; a changed password or deactivation ends old sessions.

    Read on every request, so a lock, a new password or a revoked session is seen by the very
    next request; read as a row (not through the ORM's query machinery, which cost as much as
    the statement itself) and made the session's ``User`` from it (``core.models.persistent``).
    """
    user_id, _sep, token = session_id.partition(":")
    number = whole_number(user_id, 1)
    if number is None:
        return None
    rows = read_rows(_USER_AND_UNREAD, {"id": number})
    if not rows:
        return None
    *values, unread = rows[0]
    user = persistent(User, dict(zip(_USER_KEYS, values, strict=True)))
    if not user.is_active or user.session_token != token:
        return None
    g.unread_notifications = unread
    return user


login_manager.login_view = "auth.login"
login_manager.login_message = _l("Vui lòng đăng nhập để tiếp tục.")
login_manager.login_message_category = "info"


def select_locale() -> str:
    """Vietnamese unless the person chose English with the language switch.

    The API has no session: it answers in the language its client asks for in
    ``Accept-Language`` (Vietnamese when it asks for none we have). A page opened with
    ``?lang=`` is shown in that language, which is not stored: the public certificate check
    keeps no session, so its language switch is a pair of such links. Outside a request (CLI,
    worker) messages are Vietnamese.
    """
    languages = current_app.config.get("LANGUAGES", ("vi", "en"))
    if not has_request_context():
        return languages[0]
    if is_api_request():
        return request.accept_languages.best_match(languages) or languages[0]
    chosen = request.args.get("lang")
    if chosen in languages:
        return chosen
    chosen = session.get("lang")
    if chosen in languages:
        return chosen
    if current_user and current_user.is_authenticated and current_user.locale in languages:
        return current_user.locale
    return languages[0]


#: pages a user who must change a temporary password may still open
_ALLOWED_BEFORE_NEW_PASSWORD = {
    "auth.change_password",
    "auth.logout",
    "auth.set_language",
    "static",
    "healthz",
    "readyz",
}


#: the bodies werkzeug parses into ``request.form``; any other body leaves it empty
_FORM_MIMETYPES = frozenset(("multipart/form-data", "application/x-www-form-urlencoded"))


def _form_may_hold_values() -> bool:
    """Whether reading ``request.form`` could find fields (or refuse the body as too large,
    413): a form body, or any body above ``MAX_CONTENT_LENGTH``. A JSON request's body is then
    not run through werkzeug's form parser on every request only to find no fields."""
    if request.mimetype in _FORM_MIMETYPES:
        return True
    limit, length = request.max_content_length, request.content_length
    return bool(request.content_type) and None not in (limit, length) and length > limit


def _refuse_nul_characters():
    """A NUL character in a form field or the query string is refused before it reaches the
    database (PostgreSQL cannot store it): a clear 400, never a 500."""
    for values in (request.args, request.form) if _form_may_hold_values() else (request.args,):
        for key, value in values.items(multi=True):
            if "\x00" in key or "\x00" in value:
                refused = BadRequest(_("Dữ liệu gửi lên chứa ký tự không hợp lệ (NUL)."))
                refused.description_is_ours = True
                raise refused


def _refuse_unsafe_redirects():
    """A ``next`` or ``back`` that is not a path on this site (another host, a control
    character, a line break) is refused with a 400 before the view runs: a request that could
    not end where it asks changes nothing."""
    for values in (request.args, request.form) if _form_may_hold_values() else (request.args,):
        for field in REDIRECT_FIELDS:
            if any(target and safe_next(target) is None for target in values.getlist(field)):
                refused = BadRequest(
                    _("Địa chỉ trang chuyển đến không hợp lệ: chỉ được là một trang của hệ thống.")
                )
                refused.description_is_ours = True
                raise refused


def _require_new_password():
    if (
        current_user.is_authenticated
        and getattr(current_user, "must_change_password", False)
        and request.endpoint not in _ALLOWED_BEFORE_NEW_PASSWORD
    ):
        return redirect(url_for("auth.change_password"))
    return None


def _security_headers(response):
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if request.endpoint != "static" and current_user and current_user.is_authenticated:
        # pages with personal data are not kept by the browser after signing out
        response.headers.setdefault("Cache-Control", "no-store")
    return response


# --- template helpers ---------------------------------------------------------------------


def nav_items() -> tuple[tuple[str, str, str], ...]:
    """(endpoint, label, url) of the main menu for the signed-in user's role.

    The same for every page of a role in a language, so made once per (role, language,
    mount point) and app: a dozen ``url_for`` and translations less on every page.
    """
    if not current_user.is_authenticated:
        return ()
    key = (current_user.role, str(get_locale()), request.script_root)
    menus = current_app.extensions.setdefault("htsd_nav_items", {})
    items = menus.get(key)
    if items is None:
        items = menus[key] = _nav_items(current_user.role)
    return items


def _nav_items(role: str) -> tuple[tuple[str, str, str], ...]:
    """The menu entries, in this order, whose page the role may open by its declared access."""
    menu = (
        ("subjects.mine", _("Hồ sơ của tôi")),
        ("dashboard.overview", _("Tổng quan")),
        ("reports.bottleneck_page", _("Điểm nghẽn")),
        ("reports.targets_page", _("Chỉ tiêu")),
        ("reports.denominators_page", _("Tổng số theo địa bàn")),
        ("queues.queue", _("Hàng chờ xử lý")),
        ("decisions.index", _("Quyết định công nhận")),
        ("queues.search", _("Tìm kiếm")),
        ("rounds.commune", _("Tiến độ của xã")),
        ("rounds.villages", _("Thôn, tổ dân phố")),
        ("subjects.commune", _("Cộng đồng học tập cấp xã")),
        ("rounds.index", _("Đợt xét")),
        ("imports.index", _("Nhập dữ liệu")),
        ("geography.assign_subjects", _("Xã bị chia tách")),
        ("admin.users", _("Người dùng")),
        ("notifications.deliveries", _("Thư điện tử gửi không được")),
        ("admin.audit", _("Nhật ký")),
        ("notifications.inbox", _("Thông báo")),
        ("auth.change_password", _("Đổi mật khẩu")),
    )
    views = current_app.view_functions
    return tuple(
        (endpoint, label, url_for(endpoint))
        for endpoint, label in menu
        if may_open(views[endpoint], role)
    )


def unread_notifications() -> int:
    """The signed-in user's unread messages, for the menu's "Thông báo" (0 when signed out)."""
    if not current_user.is_authenticated:
        return 0
    if "unread_notifications" not in g:
        g.unread_notifications = unread_count(current_user)
    return g.unread_notifications


def _template_context() -> dict:
    return {
        # the template's _() with the request's translations looked up once per rendering
        **template_translations(get_translations()),
        "nav_items": nav_items,
        "unread_notifications": unread_notifications,
        "current_locale": str(get_locale() or "vi"),
        "state_label": labels.state_label,
        "trigger_label": labels.trigger_label,
        "event_label": labels.event_label,
        "ROLE_LABELS": labels.ROLE_LABELS,
        "ROLE_LEVEL_LABELS": labels.ROLE_LEVEL_LABELS,
        "LEVEL_LABELS": labels.LEVEL_LABELS,
        "TITLE_LABELS": labels.TITLE_LABELS,
        "KIND_LABELS": labels.KIND_LABELS,
        "DEPARTMENT_LABELS": labels.DEPARTMENT_LABELS,
        "due_status": due_status,
    }


# --- error pages --------------------------------------------------------------------------


def _handle_http(exc: HTTPException):
    if is_api_request():
        return api_http_error(exc)
    status = exc.code or 500
    if status == 401:
        return login_manager.unauthorized()
    message = None
    if status == 400 and isinstance(exc, CSRFError):
        message = _(
            "Phiên làm việc của trang đã hết hạn hoặc không hợp lệ. Hãy quay lại, tải lại trang "
            "rồi gửi lại."
        )
    elif status == 400 and getattr(exc, "description_is_ours", False):
        message = exc.description
    if status not in ERROR_TITLES:
        return exc
    return error_page(status, message)


def _handle_domain(exc: DomainError):
    db.session.rollback()
    return error_page(exc.status, exc.message, details=exc.details)


def _database_unreachable(exc: Exception) -> bool:
    """Whether ``exc`` means the database is down or restarting, or every connection of the
    pool stayed busy for ``DB_POOL_TIMEOUT`` seconds (not a bug of ours)."""
    return isinstance(exc, OperationalError | PoolTimeout) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    )


def _handle_unexpected(exc: Exception):
    if isinstance(exc, HTTPException):
        return _handle_http(exc)
    if _database_unreachable(exc):
        # the transaction never committed, so nothing is half-applied; the pool's pre-ping
        # replaces the dead connections once the database is back
        with contextlib.suppress(Exception):
            db.session.rollback()
        # the page is shown as to a signed-out visitor: loading the user needs the database
        g._login_user = login_manager.anonymous_user()
        log.warning("database unavailable on %s %s: %s", request.method, request.path, exc)
        if is_api_request():
            response = api_database_unavailable()
        else:
            response = make_response(error_page(503))
        response.headers["Retry-After"] = "30"
        return response
    if is_api_request():
        return api_unexpected_error(exc)
    db.session.rollback()
    log.exception("unhandled error on %s %s", request.method, request.path)
    return error_page(500)


# --- pages --------------------------------------------------------------------------------


@access(public=True)
def home():
    """Signed in: the user's start page; otherwise a short welcome with the sign-in button."""
    if current_user.is_authenticated:
        return redirect(url_for(start_endpoint(current_user)))
    return render_template("home.html")


@access(public=True)
def healthz():
    return jsonify(status="ok")


def _migrations_current() -> bool:
    config = Config()
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    heads = set(ScriptDirectory.from_config(config).get_heads())
    with db.engine.connect() as connection:
        current = set(MigrationContext.configure(connection).get_current_heads())
    return current == heads


def _broker_reachable() -> bool:
    with Connection(current_app.config["CELERY"]["broker_url"], connect_timeout=2) as broker:
        broker.ensure_connection(max_retries=1, timeout=2)
    return True


@access(public=True)
def readyz():
    """Ready for traffic: database and broker reachable, migrations current."""
    checks = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = "ok"
        checks["migrations"] = "ok" if _migrations_current() else "pending"
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        db.session.rollback()
        checks["database"] = f"unavailable ({exc.__class__.__name__})"
    try:
        _broker_reachable()
        checks["broker"] = "ok"
    except Exception as exc:  # noqa: BLE001
        checks["broker"] = f"unavailable ({exc.__class__.__name__})"
    ready = all(value == "ok" for value in checks.values())
    return jsonify(status="ok" if ready else "unavailable", checks=checks), (200 if ready else 503)


def register_web(app: Flask) -> None:
    app.session_interface = SessionInterface()
    # an id in a URL larger than the database can hold is a 404, never a database error
    app.url_map.converters["int"] = IdConverter
    app.add_url_rule("/", "home", home)
    app.add_url_rule("/healthz", "healthz", healthz)
    app.add_url_rule("/readyz", "readyz", readyz)
    for blueprint in (
        auth_bp,
        admin_bp,
        subjects_bp,
        cases_bp,
        evidence_bp,
        queues_bp,
        dashboard_bp,
        notifications_bp,
        reports_bp,
        imports_bp,
        decisions_bp,
        rounds_bp,
        geography_bp,
    ):
        app.register_blueprint(blueprint)
    register_api(app)
    app.before_request(_refuse_nul_characters)
    app.before_request(_refuse_unsafe_redirects)
    app.before_request(_require_new_password)
    app.after_request(_security_headers)
    app.context_processor(_template_context)
    app.jinja_env.add_extension("jinja2.ext.do")
    app.jinja_env.filters["moment"] = format_moment
    app.jinja_env.filters["day"] = format_day
    app.jinja_env.filters["points"] = format_points
    app.jinja_env.filters["figure"] = format_figure
    app.register_error_handler(DomainError, _handle_domain)
    app.register_error_handler(HTTPException, _handle_http)
    app.register_error_handler(Exception, _handle_unexpected)
