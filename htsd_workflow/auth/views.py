"""Signing in and out, changing one's password, and choosing the language."""

from __future__ import annotations

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from htsd_workflow.audit.operations import record_audit, record_sign_in
from htsd_workflow.auth.access import access, start_endpoint
from htsd_workflow.auth.forms import ChangePasswordForm, LoginForm
from htsd_workflow.auth.models import User
from htsd_workflow.auth.operations import end_sessions, set_password
from htsd_workflow.auth.signin import _check_password, _user_named, sign_in_limited
from htsd_workflow.core import transaction
from htsd_workflow.core.errors import InvalidInput
from htsd_workflow.core.pages import safe_next
from htsd_workflow.extensions import db

bp = Blueprint("auth", __name__)


def _start_session(user: User) -> None:
    """Sign ``user`` in on a fresh session (a new CSRF token; nothing carried over but the
    language), so that a session planted before sign-in is worth nothing after it."""
    language = session.get("lang")
    session.clear()
    if language:
        session["lang"] = language
    login_user(user)
    session.permanent = True


@bp.route("/login", methods=["GET", "POST"])
@sign_in_limited
@access(public=True)
def login():
    """The sign-in form."""
    if current_user.is_authenticated and request.method == "GET":
        return redirect(url_for(start_endpoint(current_user)))
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        user = _user_named(form.username.data)
        if _check_password(user, form.password.data or ""):
            if not user.is_active:
                record_sign_in(form.username.data, user, ok=False, reason="locked")
                transaction.keep_writes()  # the refused sign-in is recorded
                error = _("Tài khoản này đã bị khóa. Hãy liên hệ cán bộ quản trị.")
            else:
                record_sign_in(form.username.data, user, ok=True)
                _start_session(user)
                if user.must_change_password:
                    flash(_("Bạn đang dùng mật khẩu tạm. Hãy đặt mật khẩu mới."), "warning")
                    return redirect(url_for("auth.change_password"))
                target = safe_next(request.args.get("next"))
                return redirect(target or url_for(start_endpoint(user)))
        else:
            reason = "unknown_user" if user is None else "wrong_password"
            record_sign_in(form.username.data, user, ok=False, reason=reason)
            transaction.keep_writes()  # the refused sign-in is recorded
            error = _("Tên đăng nhập hoặc mật khẩu không đúng.")
    status = 401 if request.method == "POST" else 200
    return render_template("auth/login.html", form=form, error=error), status


@bp.route("/logout", methods=["POST"])
@access()
def logout():
    """Sign out and end the session on the server too, so that a copy of its cookie opens
    nothing any more (the language choice stays)."""
    language = session.get("lang")
    user = db.session.get(User, current_user.id)
    end_sessions(user)
    record_audit("logout", actor=user)
    logout_user()
    session.clear()
    if language:
        session["lang"] = language
    flash(_("Bạn đã đăng xuất."), "info")
    response = redirect(url_for("auth.login"))
    # the pages the browser kept to ask again (the queue's conditional GET) go with the session
    response.headers["Clear-Site-Data"] = '"cache"'
    return response


@bp.route("/account/password", methods=["GET", "POST"])
@access()
def change_password():
    """Change one's own password."""
    form = ChangePasswordForm()
    if form.validate_on_submit():
        user = db.session.get(User, current_user.id)
        if not user.check_password(form.current_password.data or ""):
            form.current_password.errors.append(_("Mật khẩu hiện tại không đúng"))
        elif form.new_password.data == form.current_password.data:
            form.new_password.errors.append(_("Mật khẩu mới phải khác mật khẩu hiện tại"))
        else:
            try:
                with transaction.undone_on_refusal():
                    set_password(user, form.new_password.data)
                    record_audit("password_changed", actor=user, target=f"user:{user.id}")
            except InvalidInput as exc:
                form.new_password.errors.append(exc.message)
            else:
                _start_session(user)  # the old sessions ended with the new password
                flash(_("Đã đổi mật khẩu."), "success")
                return redirect(url_for(start_endpoint(user)))
    status = 422 if request.method == "POST" else 200
    return render_template("auth/change_password.html", form=form), status


@bp.route("/language", methods=["POST"])
@access(public=True)
def set_language():
    """Switch between Vietnamese and English; signed-in users keep the choice."""
    language = request.form.get("lang", "")
    if language in current_app.config["LANGUAGES"]:
        session["lang"] = language
        if current_user.is_authenticated:
            user = db.session.get(User, current_user.id)
            user.locale = language
    return redirect(safe_next(request.form.get("next")) or url_for("home"))
