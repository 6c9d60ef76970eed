"""The connection pool is sized per process and a pool that stays busy answers 503, not 500."""

from __future__ import annotations

import pytest

from htsd_workflow.extensions import db
from tests.conftest import _make_app


@pytest.fixture
def pg_app_with(postgres_url, tmp_path, monkeypatch):
    def build(**environment):
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        return _make_app(postgres_url, tmp_path)

    return build


def test_the_pool_is_sized_for_a_gunicorn_worker_and_can_be_set(pg_app_with):
    app = pg_app_with()
    with app.app_context():
        assert (db.engine.pool.size(), db.engine.pool._max_overflow) == (4, 2)
        assert db.engine.pool._pre_ping is True
    app = pg_app_with(DB_POOL_SIZE="7", DB_MAX_OVERFLOW="0", DB_POOL_TIMEOUT="3")
    with app.app_context():
        assert (db.engine.pool.size(), db.engine.pool._max_overflow) == (7, 0)
        assert db.engine.pool._timeout == 3
        db.engine.dispose()


def test_sqlite_keeps_its_own_pool_settings(tmp_path):
    app = _make_app(f"sqlite:///{tmp_path / 'x.sqlite'}", tmp_path)
    assert "pool_size" not in app.config["SQLALCHEMY_ENGINE_OPTIONS"]
    with app.app_context():
        assert db.session.execute(db.text("SELECT 1")).scalar() == 1


def test_a_page_waiting_too_long_for_a_connection_gets_503_and_retry_after(pg_app_with):
    app = pg_app_with(DB_POOL_SIZE="1", DB_MAX_OVERFLOW="0", DB_POOL_TIMEOUT="1")
    with app.app_context():
        held = db.engine.connect()  # the pool's only connection, busy elsewhere
        try:
            browser = app.test_client()
            with browser.session_transaction() as session:
                session["_user_id"] = "1"  # loading the signed-in user needs the database
            page = browser.get("/queue")
            api = app.test_client().get("/api/v1/cases", headers={"Authorization": "Bearer x"})
        finally:
            held.close()
        assert page.status_code == 503 and api.status_code == 503
        assert page.headers["Retry-After"] == api.headers["Retry-After"] == "30"
        # once the connection is free again, the next request is served
        assert app.test_client().get("/login").status_code == 200
        db.engine.dispose()


def test_a_forked_celery_process_drops_the_inherited_pool_without_closing_it():
    import worker

    with worker.flask_app.app_context():
        before = db.engine.pool
    worker._own_connections()
    with worker.flask_app.app_context():
        assert db.engine.pool is not before
