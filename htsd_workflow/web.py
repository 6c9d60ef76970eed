"""HTTP wiring shared by every feature: sign-in session loading and the health endpoints."""

from __future__ import annotations

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask, current_app, jsonify, render_template
from kombu import Connection
from sqlalchemy import func, select, text

from htsd_workflow.auth.access import access
from htsd_workflow.auth.models import User
from htsd_workflow.cases.models import Case
from htsd_workflow.config import PROJECT_ROOT
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
    app.add_url_rule("/", "home", home)
    app.add_url_rule("/healthz", "healthz", healthz)
    app.add_url_rule("/readyz", "readyz", readyz)
