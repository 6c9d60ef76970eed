"""Signing in, for the sign-in page and the API's token endpoint alike: the password check
that spends the same time for an unknown name, and the shared rate limits on failed attempts."""

from __future__ import annotations

from flask import current_app, g, request
from flask_limiter.util import get_remote_address
from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from htsd_workflow.audit.operations import record_sign_in
from htsd_workflow.auth.models import User
from htsd_workflow.core.text import nfc, search_key
from htsd_workflow.extensions import db, limiter

_dummy_hash: list[str] = []


def _typed_username() -> str:
    """The user name a sign-in names: the form's on the web, the JSON body's on the API."""
    if request.is_json:  # a JSON body is never run through the form parser
        try:
            body = request.get_json(silent=True)
        except RecursionError:  # nested too deep: the endpoint refuses it
            body = None
        typed = body.get("username") if isinstance(body, dict) else None
    else:
        typed = request.form.get("username")
    return typed if isinstance(typed, str) else ""


def _login_key() -> str:
    """Failed sign-ins are counted per address and user name."""
    return f"{get_remote_address()}|{search_key(_typed_username())}"


def _failed(response) -> bool:
    # a successful sign-in redirects (web) or issues a token (API, 201); everything else
    # counts as a failed attempt
    return response.status_code not in (201, 302)


def _check_password(user: User | None, password: str) -> bool:
    """Check a password; for an unknown name spend the same time, so names cannot be probed."""
    if user is None:
        if not _dummy_hash:
            _dummy_hash.append(generate_password_hash("not-a-password"))
        check_password_hash(_dummy_hash[0], password)
        return False
    return user.check_password(password)


def _user_named(typed: str | None) -> User | None:
    """The account a sign-in form names (user names are stored NFC, lower case)."""
    username = (nfc(typed) or "").lower()
    return db.session.scalar(select(User).where(User.username == username)) if username else None


def _throttled(_limit) -> None:
    """A sign-in refused by the rate limit (before the form is read) is a failed sign-in too:
    the audit log keeps it, once per request even when both limits are reached."""
    if g.get("throttle_logged"):
        return
    g.throttle_logged = True
    typed = _typed_username()
    api = request.blueprint == "api"
    record_sign_in(typed, _user_named(typed), ok=False, reason="rate_limited", api=api)
    db.session.commit()


def sign_in_limited(view):
    """The sign-in limits, for the sign-in form and the API's token endpoint alike: failed
    attempts through either count against one allowance per account (address and user name)
    and one per address, so neither path gives more guesses than the other."""
    view = limiter.shared_limit(
        lambda: current_app.config["LOGIN_RATE_LIMIT_PER_ADDRESS"],
        scope="sign-in-address",
        methods=["POST"],
        deduct_when=_failed,
        on_breach=_throttled,
    )(view)
    return limiter.shared_limit(
        lambda: current_app.config["LOGIN_RATE_LIMIT"],
        scope="sign-in-account",
        key_func=_login_key,
        methods=["POST"],
        deduct_when=_failed,
        on_breach=_throttled,
    )(view)
