"""HTTP wiring shared by every feature: sign-in session loading and the health endpoints."""

from __future__ import annotations

from flask import Flask, jsonify, render_template
from sqlalchemy import func, select, text

from htsd_workflow.auth.access import access
from htsd_workflow.auth.models import User
from htsd_workflow.cases.models import Case
from htsd_workflow.extensions import db, login_manager


@login_manager.user_loader
def load_user(session_id: str):
    """Load a signed-in user; a changed password or deactivation ends old sessions."""
    user_id, _, token = session_id.partition(":")
    if not user_id.isdigit():
        return None
    user = db.session.get(User, int(user_id))
    if user is None or not user.is_active or user.session_token != token:
        return None
    return user


@access(public=True)
def home():
    """The public start page: what the system is and how many cases it holds."""
    counts = dict(db.session.execute(select(Case.state, func.count()).group_by(Case.state)).all())
    return render_template("home.html", counts=counts)


@access(public=True)
def healthz():
    return jsonify(status="ok")


@access(public=True)
def readyz():
    try:
        db.session.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        return jsonify(status="unavailable", database=str(exc.__class__.__name__)), 503
    return jsonify(status="ok")


def register_web(app: Flask) -> None:
    app.add_url_rule("/", "home", home)
    app.add_url_rule("/healthz", "healthz", healthz)
    app.add_url_rule("/readyz", "readyz", readyz)
