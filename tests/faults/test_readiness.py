"""GET /readyz against real servers: ready with PostgreSQL and Redis up and the migrations
applied; 503 naming the failing check when PostgreSQL or Redis goes down; ready again after."""

from __future__ import annotations

from flask_migrate import upgrade

from htsd_workflow import create_app
from htsd_workflow.extensions import db
from htsd_workflow.notifications.dispatch import reset_broker_backoff
from tests.faults.test_database_restart import own_postgres  # noqa: F401 (fixture)
from tests.services import ThrowawayRedis


def test_readiness_follows_postgresql_and_redis(own_postgres, tmp_path):  # noqa: F811
    redis = ThrowawayRedis().start()
    try:
        app = create_app(
            {
                "SQLALCHEMY_DATABASE_URI": own_postgres.url,
                "INSTANCE_PATH": str(tmp_path),
                "CELERY": {"broker_url": redis.url},
            }
        )
        reset_broker_backoff()
        client = app.test_client()
        with app.app_context():
            assert client.get("/readyz").json["checks"]["migrations"] == "pending"
            upgrade()
            ready = client.get("/readyz")
            assert ready.status_code == 200, ready.json

            own_postgres.stop("immediate")
            down = client.get("/readyz")
            assert down.status_code == 503
            assert down.json["checks"]["database"].startswith("unavailable")
            assert down.json["checks"]["broker"] == "ok"
            assert client.get("/healthz").status_code == 200  # alive, just not ready
            own_postgres.start()
            assert client.get("/readyz").status_code == 200

            redis.stop()
            down = client.get("/readyz")
            assert down.status_code == 503 and down.json["checks"]["database"] == "ok"
            assert down.json["checks"]["broker"].startswith("unavailable")
            redis.start()
            assert client.get("/readyz").status_code == 200
            db.session.remove()
            db.engine.dispose()
    finally:
        redis.stop()
