"""Admin pages: list, create and edit user accounts (role and territory), lock and unlock them,
and give a temporary password."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import or_, select

from htsd_workflow.admin.forms import UserForm
from htsd_workflow.audit.operations import ACTIONS, audit_entries
from htsd_workflow.auth.access import access
from htsd_workflow.auth.models import User
from htsd_workflow.auth.operations import (
    create_user,
    deactivate_user,
    reactivate_user,
    reset_password,
    temporary_password,
    update_user,
)
from htsd_workflow.auth.roles import ROLES, SUBJECT_BOUND_ROLES
from htsd_workflow.auth.scope import in_scope, units_in_territory
from htsd_workflow.core import transaction
from htsd_workflow.core.collation import collated
from htsd_workflow.core.errors import Conflict, InvalidInput
from htsd_workflow.core.labels import AUDIT_ACTION_LABELS, ROLE_LABELS
from htsd_workflow.core.text import nfc, search_key, whole_number
from htsd_workflow.extensions import db
from htsd_workflow.geography.models import Unit
from htsd_workflow.subjects.models import Subject

bp = Blueprint("admin", __name__, url_prefix="/admin")

PAGE = 50
#: form fields that an operation's error details name differently
_DETAIL_FIELDS = {"unit": "unit_code", "subject": "subject_id"}


def _units() -> list[Unit]:
    return db.session.scalars(
        select(Unit)
        .where(units_in_territory(current_user))
        .order_by(Unit.level.desc(), collated(Unit.name), Unit.code)
    ).all()


def _prepare(form: UserForm) -> None:
    form.role.choices = [(role, str(ROLE_LABELS[role])) for role in ROLES]
    prefix = {"province": "", "district": "– ", "commune": "– – "}
    form.unit_code.choices = [("", _("(theo đối tượng, với người nộp hồ sơ)"))] + [
        (u.code, f"{prefix.get(u.level, '')}{u.name} ({u.code})") for u in _units()
    ]


def _user_in_scope(user_id: int) -> User:
    """A user of the admin's province; 404 for anyone else's."""
    user = db.session.get(User, user_id)
    if user is None or user.unit_code is None:
        abort(404)
    unit = db.session.get(Unit, user.unit_code)
    if unit is None or not in_scope(current_user, unit):
        abort(404)
    return user


def _matching_subjects(query: str, limit: int = 20) -> list[Subject]:
    """The admin's province's subjects whose code is ``query`` or whose name holds it (with or
    without diacritics), by name."""
    key = search_key(query)
    if not key:
        return []
    return list(
        db.session.scalars(
            select(Subject)
            .where(
                Subject.province_code == current_user.unit_code,
                or_(Subject.external_code == query.strip(), Subject.name_search.contains(key)),
            )
            .order_by(collated(Subject.name), Subject.id)
            .limit(limit)
        )
    )


def _check_subject(form: UserForm) -> bool:
    """An applicant account is linked to one subject of the admin's province, found by its
    code or name: one match is taken, several are offered to choose from."""
    form.subject_matches = []
    if form.role.data not in SUBJECT_BOUND_ROLES:
        return True
    query = (form.subject_query.data or "").strip()
    if query:
        matches = _matching_subjects(query)
        if form.subject_id.data and any(m.id == form.subject_id.data for m in matches):
            return True
        if len(matches) == 1:
            form.subject_id.data = matches[0].id
            return True
        form.subject_matches = matches
        form.subject_query.errors = [
            _("Có %(num)s đối tượng khớp: chọn một ở dưới.", num=len(matches))
            if matches
            else _("Không tìm thấy đối tượng nào của tỉnh có mã hoặc tên này.")
        ]
        return False
    subject = db.session.get(Subject, form.subject_id.data) if form.subject_id.data else None
    if subject is None or subject.province_code != current_user.unit_code:
        form.subject_query.errors = [
            _("Nhập mã hộ hoặc tên của hộ, dòng họ, cộng đồng, đơn vị trong tỉnh để tìm.")
        ]
        return False
    return True


def _show_errors(form: UserForm, exc) -> None:
    placed = False
    for key in exc.details:
        field = getattr(form, _DETAIL_FIELDS.get(key, key), None)
        if field is not None and hasattr(field, "errors"):
            field.errors = list(field.errors) + [exc.message]
            placed = True
    if not placed:
        flash(exc.message, "error")


@bp.route("/users")
@access("admin")
def users():
    """Accounts of the admin's province, filtered by name, role or unit."""
    query = nfc(request.args.get("q") or "") or ""
    role = request.args.get("role", "")
    after = request.args.get("after", "")
    statement = (
        select(User, Unit.name)
        .join(Unit, Unit.code == User.unit_code)
        .where(units_in_territory(current_user))
    )
    if query:
        like = f"%{query.lower()}%"
        statement = statement.where(
            or_(User.username.like(like), User.full_name.ilike(like), User.unit_code == query)
        )
    if role in ROLES:
        statement = statement.where(User.role == role)
    if after:
        statement = statement.where(User.username > after)
    rows = db.session.execute(statement.order_by(User.username).limit(PAGE + 1)).all()
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    args = {k: v for k, v in (("q", query), ("role", role)) if v}
    return render_template(
        "admin/users.html",
        rows=rows,
        query=query,
        role=role,
        roles=ROLES,
        next_after=rows[-1][0].username if more and rows else None,
        args=args,
    )


def _temporary_page(user: User, password: str):
    return render_template(
        "auth/temporary_password.html",
        target=user,
        password=password,
        done_url=url_for("admin.edit_user", user_id=user.id),
    )


@bp.route("/users/new", methods=["GET", "POST"])
@access("admin")
def new_user():
    """Create an account; without a typed password a temporary one is made and shown once."""
    form = UserForm()
    _prepare(form)
    if form.validate_on_submit() and _check_subject(form):
        password = form.password.data or temporary_password()
        try:
            with transaction.undone_on_refusal():
                user = create_user(
                    form.username.data,
                    password,
                    form.role.data,
                    unit_code=form.unit_code.data or None,
                    subject_id=form.subject_id.data,
                    email=form.email.data,
                    full_name=form.full_name.data,
                    phone=form.phone.data,
                    actor=current_user,
                )
                user.must_change_password = True
                db.session.flush()
        except (InvalidInput, Conflict) as exc:
            _show_errors(form, exc)
        else:
            if not form.password.data:
                return _temporary_page(user, password)
            flash(_("Đã tạo tài khoản %(name)s.", name=user.username), "success")
            return redirect(url_for("admin.edit_user", user_id=user.id))
    status = 422 if request.method == "POST" else 200
    return render_template("admin/user_form.html", form=form, user=None), status


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@access("admin")
def edit_user(user_id: int):
    """Change an account's role, territory and contact details."""
    user = _user_in_scope(user_id)
    form = UserForm(obj=user)
    _prepare(form)
    form.username.data = user.username
    del form.password
    if request.method == "GET":
        form.unit_code.data = "" if user.role in SUBJECT_BOUND_ROLES else user.unit_code
        subject = db.session.get(Subject, user.subject_id) if user.subject_id else None
        if subject is not None:
            form.subject_query.data = subject.external_code or subject.name
    if form.validate_on_submit() and _check_subject(form):
        try:
            with transaction.undone_on_refusal():
                update_user(
                    user,
                    role=form.role.data,
                    unit_code=form.unit_code.data or None,
                    subject_id=form.subject_id.data,
                    full_name=form.full_name.data,
                    email=form.email.data,
                    phone=form.phone.data,
                    actor=current_user,
                )
        except (InvalidInput, Conflict) as exc:
            _show_errors(form, exc)
        else:
            flash(_("Đã lưu tài khoản %(name)s.", name=user.username), "success")
            return redirect(url_for("admin.edit_user", user_id=user.id))
    status = 422 if request.method == "POST" else 200
    return render_template("admin/user_form.html", form=form, user=user), status


@bp.route("/users/<int:user_id>/deactivate", methods=["POST"])
@access("admin")
def deactivate(user_id: int):
    """Lock an account; its claimed cases go back to the queue."""
    user = _user_in_scope(user_id)
    if user.id == current_user.id:
        flash(_("Bạn không thể tự khóa tài khoản của mình."), "error")
        return redirect(url_for("admin.edit_user", user_id=user.id))
    released = deactivate_user(user, current_user)
    flash(
        _(
            "Đã khóa tài khoản %(name)s; %(num)s hồ sơ đang giữ đã trả về hàng chờ.",
            name=user.username,
            num=released,
        ),
        "success",
    )
    return redirect(url_for("admin.edit_user", user_id=user.id))


@bp.route("/users/<int:user_id>/activate", methods=["POST"])
@access("admin")
def activate(user_id: int):
    """Unlock an account."""
    user = _user_in_scope(user_id)
    reactivate_user(user, current_user)
    flash(_("Đã mở khóa tài khoản %(name)s.", name=user.username), "success")
    return redirect(url_for("admin.edit_user", user_id=user.id))


@bp.route("/users/<int:user_id>/reset-password", methods=["POST"])
@access("admin")
def reset(user_id: int):
    """Give the account a temporary password, shown once."""
    user = _user_in_scope(user_id)
    password = reset_password(user, current_user)
    return _temporary_page(user, password)


@bp.route("/audit")
@access("admin")
def audit():
    """The audit log (read only): sign-ins, admin actions, imports and exports, newest first."""
    action = request.args.get("action", "")
    if action not in ACTIONS:
        action = ""
    username = (nfc(request.args.get("username") or "") or "").strip()[:80]
    before = request.args.get("before", "")
    before_id = whole_number(before, 1)
    entries = audit_entries(
        current_user,
        action=action or None,
        username=username or None,
        before_id=before_id,
        limit=PAGE + 1,
    )
    more = len(entries) > PAGE
    entries = entries[:PAGE]
    args = {k: v for k, v in (("action", action), ("username", username)) if v}
    return render_template(
        "admin/audit.html",
        entries=entries,
        action=action,
        username=username,
        actions=ACTIONS,
        labels=AUDIT_ACTION_LABELS,
        next_before=entries[-1].id if more and entries else None,
        args=args,
    )
