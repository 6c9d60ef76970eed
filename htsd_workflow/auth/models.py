"""Users, roles and API tokens."""

from __future__ import annotations

from datetime import datetime

from flask import current_app
from flask_login import UserMixin
from sqlalchemy import Boolean, DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash

from htsd_workflow.core.time import utcnow
from htsd_workflow.extensions import db


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    #: one of htsd_workflow.auth.roles.ROLES
    role: Mapped[str] = mapped_column(String(30), index=True)
    #: GSO code of the user's territory (their commune, district or province)
    unit_code: Mapped[str | None] = mapped_column(ForeignKey("units.code"), index=True)
    #: level of unit_code (province, district, commune), kept for fast scope filters
    unit_level: Mapped[str | None] = mapped_column(String(10))
    #: for applicants: the household, clan, community or unit they represent
    subject_id: Mapped[int | None] = mapped_column(ForeignKey("subjects.id"), index=True)
    full_name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(20))
    is_active_user: Mapped[bool] = mapped_column(Boolean, default=True)
    locale: Mapped[str] = mapped_column(String(5), default="vi")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    #: changes whenever the password changes or the user is deactivated, ending old sessions
    session_token: Mapped[str] = mapped_column(String(64), default="")
    #: set when someone else chose the password (a new account, a reset): change it at sign-in
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)

    @property
    def is_active(self) -> bool:  # Flask-Login
        return bool(self.is_active_user)

    def get_id(self) -> str:  # Flask-Login: sessions die with a new password or deactivation
        return f"{self.id}:{self.session_token}"

    def set_password(self, password: str) -> None:
        # tests lower the cost through PASSWORD_HASH_METHOD; production keeps scrypt
        method = (
            current_app.config.get("PASSWORD_HASH_METHOD", "scrypt") if current_app else "scrypt"
        )
        self.password_hash = generate_password_hash(password, method=method)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    @property
    def display_name(self) -> str:
        return self.full_name or self.username


class ApiToken(db.Model):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    #: SHA-256 of the token; the token itself is shown once and never stored
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)
