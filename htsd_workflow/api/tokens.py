"""The API's /auth/token, /users/<id>/tokens and /me endpoints: bearer tokens and the caller."""

from __future__ import annotations

from flask import current_app, request
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from htsd_workflow.api.framework import (
    PASSWORD_CHANGE_REQUIRED,
    ApiError,
    endpoint,
    issue_token,
)
from htsd_workflow.api.schemas import (
    Empty,
    MeSchema,
    TokenRequest,
    TokenResponse,
)
from htsd_workflow.audit.operations import record_audit, record_sign_in
from htsd_workflow.auth.models import User
from htsd_workflow.auth.operations import revoke_api_tokens
from htsd_workflow.auth.scope import in_scope
from htsd_workflow.auth.signin import _check_password, sign_in_limited
from htsd_workflow.core.errors import NotFound
from htsd_workflow.core.text import nfc
from htsd_workflow.core.time import utcnow
from htsd_workflow.extensions import db, limiter
from htsd_workflow.geography.models import Unit


def _token_limit():
    return current_app.config["LOGIN_RATE_LIMIT_PER_ADDRESS"]


@endpoint(
    "/auth/token",
    "POST",
    summary="Exchange a username and password for a bearer token",
    body=TokenRequest,
    response=TokenResponse,
    public=True,
    status=201,
    tags=("auth",),
)
@sign_in_limited
@limiter.limit(_token_limit, scope="api-token")
def create_token(body):
    username = (nfc(body["username"]) or "").lower()
    user = db.session.scalar(select(User).where(User.username == username))
    matched = _check_password(user, body["password"])
    if not matched or not user.is_active:
        reason = "unknown_user" if user is None else "locked" if matched else "wrong_password"
        record_sign_in(body["username"], user, ok=False, reason=reason, api=True)
        db.session.commit()
        raise ApiError(401, "unauthorized", _l("Tên đăng nhập hoặc mật khẩu không đúng."))
    if user.must_change_password:
        raise ApiError(403, "password_change_required", PASSWORD_CHANGE_REQUIRED)
    token, row = issue_token(user)
    record_sign_in(body["username"], user, ok=True, api=True)
    return {"token": token, "expires_at": row.expires_at}


@endpoint(
    "/auth/token",
    "DELETE",
    summary="Revoke the token used for this call",
    response=Empty,
    tags=("auth",),
)
def revoke_token(user):
    request.api_token.revoked_at = utcnow()
    return {}


@endpoint(
    "/users/<int:user_id>/tokens",
    "DELETE",
    summary="An admin revokes a user's tokens",
    roles=("admin",),
    response=Empty,
    tags=("auth",),
)
def revoke_user_tokens(user, user_id):
    target = db.session.get(User, user_id)
    if target is None or target.unit_code is None or not in_scope(user, _unit_of(target)):
        raise NotFound(_l("Không tìm thấy người dùng."))
    revoke_api_tokens(user_id)
    record_audit("api_tokens_revoked", actor=user, target=f"user:{user_id}")
    return {}


def _unit_of(user: User) -> Unit:
    return db.session.get(Unit, user.unit_code)


@endpoint(
    "/me",
    "GET",
    summary="The caller's account, role and territory",
    response=MeSchema,
    tags=("auth",),
)
def me(user):
    return user
