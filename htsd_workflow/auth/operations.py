"""Creating, changing and deactivating users."""

from __future__ import annotations

import secrets

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from htsd_workflow.audit.operations import province_of, record_audit
from htsd_workflow.auth.models import ApiToken, User
from htsd_workflow.auth.roles import ROLE_LEVEL, ROLES, SUBJECT_BOUND_ROLES
from htsd_workflow.auth.scope import in_scope
from htsd_workflow.cases.operations import release_claims_of
from htsd_workflow.core.collation import collated
from htsd_workflow.core.errors import Conflict, InvalidInput, NotAllowed
from htsd_workflow.core.text import nfc
from htsd_workflow.core.time import utcnow
from htsd_workflow.extensions import db
from htsd_workflow.geography.models import Unit
from htsd_workflow.subjects.models import Subject

MIN_PASSWORD_LENGTH = 8


def check_password_policy(password: str, username: str = "") -> None:
    """Refuse passwords that are too short or too easy to guess."""
    if not password or len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            _l("Mật khẩu phải có ít nhất %(count)s ký tự.", count=MIN_PASSWORD_LENGTH),
            details={"password": _l("Tối thiểu %(count)s ký tự", count=MIN_PASSWORD_LENGTH)},
        )
    if username and password.lower() == username.lower():
        raise InvalidInput(
            _l("Mật khẩu không được trùng tên đăng nhập."),
            details={"password": _l("Không được trùng tên đăng nhập")},
        )
    if password.isdigit() and len(set(password)) <= 2:
        raise InvalidInput(
            _l("Mật khẩu quá dễ đoán."), details={"password": _l("Hãy dùng chữ và số khác nhau")}
        )


def _territory(role: str, unit_code: str | None, subject_id: int | None):
    """Check that a role fits its territory; return (unit_code, unit_level, subject_id)."""
    if role == "applicant":
        subject = db.session.get(Subject, subject_id) if subject_id is not None else None
        if subject is None:
            raise InvalidInput(
                _l("Tài khoản người nộp hồ sơ phải gắn với một hộ/dòng họ/cộng đồng/đơn vị."),
                details={"subject": _l("Nhập mã đối tượng (--subject ID)")},
            )
        unit = db.session.get(Unit, subject.unit_code)
        return subject.unit_code, unit.level if unit else None, subject.id
    if role == "village_head":
        village = db.session.get(Subject, subject_id) if subject_id is not None else None
        if village is None or village.kind != "community":
            raise InvalidInput(
                _l("Tài khoản trưởng thôn phải gắn với một thôn hoặc tổ dân phố."),
                details={"subject": _l("Chọn mã thôn/tổ dân phố (đối tượng loại cộng đồng)")},
            )
        unit = db.session.get(Unit, village.unit_code)
        return village.unit_code, unit.level if unit else None, village.id
    unit = db.session.get(Unit, unit_code) if unit_code else None
    if unit is None:
        raise InvalidInput(
            _l("Mã đơn vị hành chính “%(code)s” không tồn tại.", code=unit_code),
            details={"unit": _l("Nhập mã GSO của tỉnh, huyện hoặc xã")},
        )
    expected = ROLE_LEVEL.get(role)
    allowed = expected if isinstance(expected, tuple) else (expected,)
    if expected is not None and unit.level not in allowed:
        raise InvalidInput(
            _l(
                "Vai trò %(role)s phải gắn với đơn vị cấp %(levels)s, "
                "không phải %(level)s %(name)s.",
                role=role,
                levels="/".join(allowed),
                level=unit.level,
                name=unit.name,
            ),
            details={"unit": _l("Cần mã đơn vị cấp %(levels)s", levels="/".join(allowed))},
        )
    return unit.code, unit.level, None


def create_user(
    username: str,
    password: str,
    role: str,
    *,
    unit_code: str | None = None,
    subject_id: int | None = None,
    email: str | None = None,
    full_name: str | None = None,
    phone: str | None = None,
    actor: User | None = None,
) -> User:
    """Create a user bound to a territory (or, for applicants, a subject).

    ``actor`` is the admin doing it (None from the command line); the audit log keeps it.
    """
    username = (nfc(username) or "").lower()
    if not username:
        raise InvalidInput(_l("Thiếu tên đăng nhập."), details={"username": _l("Bắt buộc")})
    _check_role(role)
    check_password_policy(password, username)
    if db.session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(
            _l("Tên đăng nhập “%(username)s” đã có.", username=username),
            details={"username": _l("Đã tồn tại")},
        )
    unit_code, unit_level, subject_id = _territory(role, unit_code, subject_id)
    user = User(
        username=username,
        role=role,
        unit_code=unit_code,
        unit_level=unit_level,
        subject_id=subject_id,
        email=nfc(email) or None,
        full_name=nfc(full_name) or None,
        phone=phone,
        is_active_user=True,
        session_token=secrets.token_hex(8),
    )
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    _audit_user("user_created", user, actor, {"role": role, "unit": unit_code})
    return user


def _audit_user(action: str, user: User, actor: User | None, details: dict | None = None) -> None:
    """An audit entry about ``user``; from the command line (no actor) it belongs to the
    user's province."""
    record_audit(
        action,
        actor=actor,
        target=f"user:{user.id}",
        details={"username": user.username, **(details or {})},
        province_code=province_of(actor or user),
    )


def end_sessions(user: User) -> None:
    """End every signed-in session of ``user``, on every device: a session cookie names the
    account's session token, and a new token makes every cookie issued before worth nothing
    (a copied one too)."""
    user.session_token = secrets.token_hex(8)


def revoke_api_tokens(user_id: int) -> None:
    """End every API token of a user for good (a new password, a locked account)."""
    db.session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def set_password(user: User, password: str, *, temporary: bool = False) -> None:
    """Change a password, end the user's sessions and API tokens; a ``temporary`` one (chosen
    by someone else: a reset, a login slip) must be changed at the next sign-in."""
    check_password_policy(password, user.username)
    user.set_password(password)
    end_sessions(user)
    user.must_change_password = temporary
    db.session.flush()  # (a new account gets its id)
    # a new password ends every API token issued under the old one
    revoke_api_tokens(user.id)
    db.session.flush()


def deactivate_user(user: User, actor: User | None = None) -> int:
    """Lock a user out (sessions and API tokens end, and unlocking does not revive them) and
    give their claimed cases back to the queue; return how many."""
    user.is_active_user = False
    end_sessions(user)
    db.session.flush()
    revoke_api_tokens(user.id)
    released = release_claims_of(user.id, actor)
    _audit_user("user_deactivated", user, actor, {"released_claims": released})
    return released


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise InvalidInput(
            _l("Vai trò “%(role)s” không tồn tại.", role=role),
            details={"role": _l("Chọn một trong: %(choices)s", choices=", ".join(ROLES))},
        )


def _account_fields(user: User) -> dict:
    """What an admin may change on an account, as the audit log compares it."""
    return {
        "role": user.role,
        "unit": user.unit_code,
        "subject": user.subject_id,
        "full_name": user.full_name,
        "email": user.email,
        "phone": user.phone,
    }


def update_user(
    user: User,
    *,
    role: str,
    unit_code: str | None = None,
    subject_id: int | None = None,
    full_name: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    actor: User | None = None,
) -> User:
    """Change a user's role, territory and contact details.

    A new role or territory ends the user's sessions and gives their claimed cases back to the
    queue, since they may no longer act on them.
    """
    _check_role(role)
    unit_code, unit_level, subject_id = _territory(role, unit_code, subject_id)
    moved = (role, unit_code, subject_id) != (user.role, user.unit_code, user.subject_id)
    before = _account_fields(user)
    user.role = role
    user.unit_code = unit_code
    user.unit_level = unit_level
    user.subject_id = subject_id
    user.full_name = nfc(full_name) or None
    user.email = nfc(email) or None
    user.phone = nfc(phone) or None
    if moved:
        end_sessions(user)
        db.session.flush()
        release_claims_of(user.id, None)
    db.session.flush()
    after = _account_fields(user)
    changed = {key: [before[key], after[key]] for key in before if before[key] != after[key]}
    if changed:
        _audit_user("user_changed", user, actor, {"changed": changed})
    return user


def reactivate_user(user: User, actor: User | None = None) -> None:
    """Let a deactivated user sign in again."""
    user.is_active_user = True
    db.session.flush()
    _audit_user("user_activated", user, actor)


#: letters and digits that cannot be mistaken for each other when read out or written down
_TEMPORARY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


def temporary_password(length: int = 10) -> str:
    return "".join(secrets.choice(_TEMPORARY_ALPHABET) for _ in range(length))


def may_reset_password(actor: User, target: User) -> bool:
    """Admins reset anyone in their province; commune officers reset the applicants of the
    households, clans, communities and units their commune manages (many have no e-mail)."""
    if not actor.is_active or actor.id == target.id:
        return False
    if actor.role == "admin":
        return province_of(target) == actor.unit_code
    if actor.role == "commune_reviewer" and target.role == "applicant":
        subject = db.session.get(Subject, target.subject_id) if target.subject_id else None
        return subject is not None and subject.commune_code == actor.unit_code
    return False


def reset_password(target: User, actor: User) -> str:
    """Give ``target`` a new temporary password (returned once), to change at next sign-in."""
    if not may_reset_password(actor, target):
        raise NotAllowed(_l("Bạn không được đặt lại mật khẩu của tài khoản này."))
    password = temporary_password()
    set_password(target, password, temporary=True)
    record_audit(
        "password_reset",
        actor=actor,
        target=f"user:{target.id}",
        details={"username": target.username},
    )
    return password


def _slip_username(subject: Subject, role: str = "applicant") -> str:
    base = (subject.external_code or f"ho{subject.id}").lower()
    if role == "village_head":
        base = f"truongthon-{subject.external_code or subject.id}".lower()
    return "".join(ch for ch in base if ch.isalnum() or ch in "-_.")[:80]


#: the accounts a login slip creates: a subject's own (applicant), or a village's head
SLIP_ROLES = ("applicant", "village_head")


def issue_login_slips(
    subject_ids: list[int], actor: User, *, role: str = "applicant"
) -> list[dict]:
    """Create or reset applicant accounts for households (or, with ``role="village_head"``,
    the head's account of each village) and return one-time login slips.

    The password is shown once on the printed slip and never stored in clear; the holder must
    choose a new one at first sign-in. No e-mail is needed. A new slip ends the account's
    sessions and API tokens; it never unlocks an account that an admin locked.
    """
    if role not in SLIP_ROLES:
        raise InvalidInput(_l("Loại tài khoản không hợp lệ."), details={"role": list(SLIP_ROLES)})
    subjects = db.session.scalars(
        select(Subject)
        .where(Subject.id.in_(subject_ids))
        .order_by(collated(Subject.name), Subject.id)
    ).all()
    found = {s.id for s in subjects}
    missing = [i for i in subject_ids if i not in found]
    if missing:
        raise InvalidInput(_l("Có đối tượng không tồn tại."), details={"subject_ids": missing})
    slips = []
    for subject in subjects:
        if actor.role in SUBJECT_BOUND_ROLES or not in_scope(actor, subject):
            raise InvalidInput(
                _l("“%(name)s” ngoài địa bàn bạn quản lý.", name=subject.name),
                details={"subject_ids": [subject.id]},
            )
        if role == "village_head" and subject.kind != "community":
            raise InvalidInput(
                _l("“%(name)s” không phải thôn hoặc tổ dân phố.", name=subject.name),
                details={"subject_ids": [subject.id]},
            )
        user = db.session.scalar(
            select(User).where(User.subject_id == subject.id, User.role == role)
        )
        if user is not None and not user.is_active_user:
            raise InvalidInput(
                _l(
                    "Tài khoản “%(username)s” của “%(name)s” đang bị khóa; phiếu đăng nhập không "
                    "mở khóa tài khoản. Hãy đề nghị cán bộ quản trị mở khóa trước.",
                    username=user.username,
                    name=subject.name,
                ),
                details={"subject_ids": [subject.id]},
            )
        password = temporary_password()
        if user is None:
            username = _slip_username(subject, role)
            if db.session.scalar(select(User.id).where(User.username == username)):
                username = f"{username}-{subject.id}"
            unit = db.session.get(Unit, subject.unit_code)
            user = User(
                username=username,
                role=role,
                unit_code=subject.unit_code,
                unit_level=unit.level,
                subject_id=subject.id,
                full_name=subject.head_name or subject.name,
                phone=subject.phone,
                is_active_user=True,
            )
            db.session.add(user)
        set_password(user, password, temporary=True)
        slips.append(
            {
                "subject": subject.name,
                "head_name": subject.head_name,
                "commune_code": subject.commune_code,
                "username": user.username,
                "password": password,
                "role": role,
            }
        )
    db.session.flush()
    record_audit(
        "login_slips",
        actor=actor,
        details={
            "role": role,
            "subjects": [s.id for s in subjects],
            "usernames": [s["username"] for s in slips],
        },
    )
    return slips
