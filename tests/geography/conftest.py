"""A database of its own for the 2025 reform: the shared one keeps Kon Tum as it was."""

from __future__ import annotations

import contextlib

import pytest

from htsd_workflow.extensions import db
from tests.conftest import TEST_DATABASE_URL, _make_app, service_unavailable
from tests.services import scratch_database


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh(request, tmp_path):
    """An app on an empty schema (no geography), on SQLite and on PostgreSQL."""
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path / 'reform.sqlite'}"
        else:
            if not TEST_DATABASE_URL:
                service_unavailable("TEST_DATABASE_URL is not set: PostgreSQL tests not run")
            url = stack.enter_context(scratch_database(TEST_DATABASE_URL, "htsd_reform"))
        app = _make_app(url, tmp_path)
        app.config["BACKEND"] = request.param
        with app.app_context():
            db.create_all()
            yield app
            db.session.rollback()
            db.session.remove()
            db.engine.dispose()
