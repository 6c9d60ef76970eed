"""The same Alembic migrations build the schema on SQLite and PostgreSQL, matching the models."""

from __future__ import annotations

import uuid

import pytest
from flask_migrate import check, downgrade, upgrade
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from htsd_workflow import create_app
from htsd_workflow.config import normalize_database_url
from htsd_workflow.extensions import db
from tests.conftest import TEST_DATABASE_URL, service_unavailable


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrate.sqlite'}"
        return
    if not TEST_DATABASE_URL:
        service_unavailable("TEST_DATABASE_URL is not set: PostgreSQL migration test not run")
    base = make_url(normalize_database_url(TEST_DATABASE_URL))
    name = f"htsd_migrate_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield base.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def fillfactors() -> dict:
    """The fillfactor set on the tables the escalation scan flags (PostgreSQL)."""
    rows = db.session.execute(
        text(
            "SELECT relname, reloptions FROM pg_class "
            "WHERE relname IN ('cases', 'stage_visits') AND relkind = 'r'"
        )
    ).all()
    return {
        name: int(option.split("=")[1])
        for name, options in rows
        for option in options or ()
        if option.startswith("fillfactor=")
    }


def test_migrations_upgrade_match_the_models_and_downgrade(empty_database, tmp_path):
    app = create_app({"SQLALCHEMY_DATABASE_URI": empty_database, "INSTANCE_PATH": str(tmp_path)})
    with app.app_context():
        upgrade()
        tables = set(inspect(db.engine).get_table_names())
        assert {"cases", "case_events", "stage_visits", "outbox", "units"} <= tables
        check()  # raises when the models and the migrations differ
        if db.engine.dialect.name == "postgresql":
            triggers = db.session.scalars(
                text("SELECT tgname FROM pg_trigger WHERE tgrelid = 'case_events'::regclass")
            ).all()
            assert "case_events_append_only" in triggers
            assert fillfactors() == {"cases": 90, "stage_visits": 90}
        downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        db.session.remove()
        db.engine.dispose()
