"""The JSON API's framework: bearer tokens, schema-validated input, stable errors, OpenAPI.

Adding an endpoint is one decorator, which registers the route, checks the token and role,
validates the query string or body with a marshmallow schema (422 naming the field), and
records the operation for ``/api/v1/openapi.json``::

    @endpoint("/things/<int:thing_id>", "GET", response=ThingSchema, roles=("admin",),
              summary="One thing")
    def get_thing(user, thing_id): ...

The view receives the authenticated user first, then the path values, then ``query=`` or
``body=`` (the validated data) when a schema is given. Domain errors become JSON errors.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import re
import secrets
from dataclasses import dataclass, field
from datetime import timedelta

from flask import Blueprint, Response, current_app, jsonify, make_response, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from marshmallow import Schema, ValidationError
from sqlalchemy import String, bindparam, select
from werkzeug.exceptions import HTTPException

from htsd_workflow.auth.access import AccessRule
from htsd_workflow.auth.models import ApiToken, User
from htsd_workflow.auth.roles import ROLES
from htsd_workflow.core import transaction
from htsd_workflow.core.errors import DomainError, rendered
from htsd_workflow.core.time import utcnow
from htsd_workflow.extensions import db

bp = Blueprint("api", __name__, url_prefix="/api/v1")
TOKEN_LIFETIME = timedelta(hours=12)


@dataclass
class Operation:
    rule: str
    method: str
    view: object
    summary: str
    roles: tuple[str, ...]
    query: type[Schema] | None = None
    body: type[Schema] | None = None
    response: type[Schema] | None = None
    response_many: bool = False
    status: int = 200
    public: bool = False
    tags: tuple[str, ...] = field(default_factory=tuple)
    #: what a successful answer is: JSON, or a file (``application/pdf``) the view returns
    media_type: str = "application/json"


#: every endpoint, for the OpenAPI document
OPERATIONS: list[Operation] = []


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details or {}


def error_response(status: int, code: str, message: str, details: dict | None = None):
    return jsonify(error={"code": code, "message": message, "details": details or {}}), status


# --- tokens -------------------------------------------------------------------------------


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(user: User) -> tuple[str, ApiToken]:
    """A new bearer token for ``user``; only its hash is stored."""
    token = secrets.token_urlsafe(32)
    row = ApiToken(
        user_id=user.id,
        token_hash=_hash(token),
        created_at=utcnow(),
        expires_at=utcnow() + TOKEN_LIFETIME,
    )
    db.session.add(row)
    db.session.flush()
    return token, row


#: the token and its user in one round trip (one indexed look-up: ``api_tokens.token_hash`` is
#: unique); built once, not on every request
_TOKEN_AND_USER = (
    select(ApiToken, User)
    .join(User, User.id == ApiToken.user_id)
    .where(ApiToken.token_hash == bindparam("token_hash", type_=String))
)


#: why an account with a temporary password gets no token and no answer
PASSWORD_CHANGE_REQUIRED = _l("Hãy đăng nhập trên trang web và đặt mật khẩu mới trước.")


def token_user(header: str | None) -> tuple[User, ApiToken]:
    if not header or not header.startswith("Bearer "):
        raise ApiError(401, "unauthorized", _l("Thiếu mã truy cập (Authorization: Bearer …)."))
    found = db.session.execute(_TOKEN_AND_USER, {"token_hash": _hash(header[7:].strip())}).first()
    row, user = found if found is not None else (None, None)
    if row is None or row.revoked_at is not None or row.expires_at <= utcnow():
        raise ApiError(
            401, "unauthorized", _l("Mã truy cập không hợp lệ, đã hết hạn hoặc bị thu hồi.")
        )
    if user is None or not user.is_active:
        raise ApiError(401, "unauthorized", _l("Tài khoản không còn hoạt động."))
    if user.must_change_password:
        # a password someone else chose (a reset, a login slip) opens nothing but the page
        # where its holder replaces it
        raise ApiError(403, "password_change_required", PASSWORD_CHANGE_REQUIRED)
    return user, row


# --- the decorator ------------------------------------------------------------------------


@functools.cache
def _schema(schema_cls, many: bool = False):
    """One instance per schema class, reused by every request (building one costs ~0.3 ms;
    the schemas keep no state between calls, so threads may share them)."""
    return schema_cls(many=many)


def _load(schema_cls, data, message):
    try:
        return _schema(schema_cls).load(data)
    except ValidationError as exc:
        raise ApiError(
            422,
            "invalid_input",
            message,
            {k: v for k, v in exc.messages.items()}
            if isinstance(exc.messages, dict)
            else {"_": exc.messages},
        ) from exc


def endpoint(
    rule,
    method,
    *,
    summary,
    roles=(),
    query=None,
    body=None,
    response=None,
    response_many=False,
    status=200,
    public=False,
    tags=(),
    media_type="application/json",
):
    roles = tuple(roles) or ROLES
    for role in roles:
        if role not in ROLES:
            raise ValueError(f"unknown role {role}")

    def decorator(view):
        @functools.wraps(view)
        def wrapper(**path):
            user = None
            if not public:
                user, token = token_user(request.headers.get("Authorization"))
                if user.role not in roles:
                    raise ApiError(
                        403, "forbidden", _l("Vai trò của bạn không được dùng chức năng này.")
                    )
                request.api_token = token
            kwargs = dict(path)
            if query is not None:
                kwargs["query"] = _load(
                    query, request.args.to_dict(), _l("Dữ liệu truy vấn không hợp lệ.")
                )
            if body is not None:
                try:
                    payload = request.get_json(silent=True)
                except RecursionError:
                    # nested thousands of levels deep: the json module gives up with this,
                    # not with the ValueError that ``silent`` swallows
                    payload = None
                if not isinstance(payload, dict):
                    raise ApiError(400, "bad_request", _l("Nội dung phải là một đối tượng JSON."))
                kwargs["body"] = _load(body, payload, _l("Dữ liệu gửi lên không hợp lệ."))
            result = view(user, **kwargs) if not public else view(**kwargs)
            transaction.finish(_status_of(result, status))
            if isinstance(result, tuple | Response):
                return result
            if response is not None:
                return jsonify(_schema(response, response_many).dump(result)), status
            return jsonify(result), status

        wrapper.access_rule = AccessRule(roles=roles, public=public)
        endpoint_name = view.__name__
        bp.add_url_rule(rule, endpoint=f"{endpoint_name}", view_func=wrapper, methods=[method])
        OPERATIONS.append(
            Operation(
                rule=rule,
                method=method.lower(),
                view=wrapper,
                summary=summary,
                roles=roles,
                query=query,
                body=body,
                response=response,
                response_many=response_many,
                status=status,
                public=public,
                tags=tags,
                media_type=media_type,
            )
        )
        return wrapper

    return decorator


def _status_of(result, default: int) -> int:
    """The status of what an endpoint returned (its declared ``status`` when it gave data)."""
    if isinstance(result, Response):
        return result.status_code
    if isinstance(result, tuple) and len(result) > 1 and isinstance(result[1], int):
        return result[1]
    return default


# --- errors -------------------------------------------------------------------------------


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError):
    db.session.rollback()
    return error_response(exc.status, exc.code, str(exc.message), rendered(exc.details))


@bp.errorhandler(DomainError)
def _domain_error(exc: DomainError):
    db.session.rollback()
    details = dict(exc.details)
    return error_response(exc.status, exc.code, exc.message, details)


def api_http_error(exc: HTTPException):
    """JSON for 404/405/413/… under /api (Flask routes unknown URLs to the app handler)."""
    return error_response(
        exc.code or 500,
        re.sub(r"\W+", "_", (exc.name or "error").lower()),
        exc.description or exc.name,
    )


def api_unexpected_error(exc: Exception):
    db.session.rollback()
    current_app.logger.exception("API error on %s %s", request.method, request.path)
    return error_response(500, "internal_error", _("Lỗi hệ thống; đã ghi nhận để xử lý."))


def api_database_unavailable():
    """503 while the database is down or restarting; the client may retry."""
    with contextlib.suppress(Exception):
        db.session.rollback()
    return make_response(
        error_response(
            503,
            "service_unavailable",
            _(
                "Tạm thời không kết nối được cơ sở dữ liệu; thao tác chưa được thực hiện. "
                "Hãy thử lại sau ít phút."
            ),
        )
    )
