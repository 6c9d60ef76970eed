"""PostgreSQL restarts under the app: in-flight work fails cleanly, then the app recovers."""

from __future__ import annotations

import pytest
import requests
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from htsd_workflow import create_app
from htsd_workflow.cases.models import Case, CaseEvent
from htsd_workflow.cases.operations import fire_trigger
from htsd_workflow.extensions import db
from htsd_workflow.geography.operations import import_province
from tests.factories import COMMUNE, PASSWORD, Factory
from tests.live_server import AppServer, WebUser, case_version
from tests.services import ThrowawayPostgres


@pytest.fixture
def own_postgres(tmp_path):
    server = ThrowawayPostgres().init().start()
    yield server
    server.remove()


def test_transition_after_a_restart_succeeds_and_nothing_is_half_applied(own_postgres, tmp_path):
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": own_postgres.url,
            "INSTANCE_PATH": str(tmp_path),
            "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
        }
    )
    with app.app_context():
        db.create_all()
        import_province("62")
        make = Factory()
        first, _ = make.case_in("commune_review")
        second, _ = make.case_in("commune_review")
        reviewer = make.reviewer("commune_reviewer", COMMUNE)
        reviewer_id, first_id, second_id = reviewer.id, first.id, second.id
        db.session.commit()

        # a transition in flight when the server goes away fails, and leaves nothing behind
        fire_trigger(first_id, "approve", db.session.get(type(reviewer), reviewer_id))
        own_postgres.stop("immediate")
        with pytest.raises(DBAPIError):
            db.session.commit()
        db.session.rollback()
        db.session.remove()
        own_postgres.start()

        # the pool notices the dead connections (pre-ping) and the app carries on by itself
        user = db.session.get(type(reviewer), reviewer_id)
        assert db.session.get(Case, first_id).state == "commune_review"
        fire_trigger(second_id, "approve", user)
        db.session.commit()
        assert db.session.get(Case, second_id).state == "district_verification"
        approvals = db.session.scalar(select(func.count()).where(CaseEvent.trigger == "approve"))
        assert approvals == 1
        db.session.remove()
        db.engine.dispose()


def test_a_database_outage_under_a_real_server_is_a_clear_503_then_the_app_recovers(
    own_postgres, tmp_path
):
    """gunicorn on its own PostgreSQL: people are signed in, the database stops; pages, forms
    and the API answer 503 with a message saying nothing was done; the database starts again
    and, without restarting the app, the same requests work and nothing was half-applied."""
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": own_postgres.url,
            "INSTANCE_PATH": str(tmp_path / "setup"),
            "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
        }
    )
    with app.app_context():
        db.create_all()
        import_province("62")
        make = Factory()
        case, _ = make.case_in("commune_review")
        reviewer = make.reviewer("commune_reviewer", COMMUNE)
        case_id, username = case.id, reviewer.username
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    server = AppServer(own_postgres.url, tmp_path / "web").start()
    try:
        officer = WebUser(server.url)
        assert officer.login(username, PASSWORD).status_code == 302
        page = officer.get(f"/cases/{case_id}").text
        token = api_token(server.url, username)

        own_postgres.stop("immediate")
        for response in (
            officer.get("/queue"),
            officer.get(f"/cases/{case_id}"),
            officer.post(
                f"/cases/{case_id}/actions",
                {"trigger": "approve", "version": case_version(page)},
                token_from=page,
            ),
        ):
            assert response.status_code == 503, response.text[:300]
            assert "Tạm thời không kết nối được cơ sở dữ liệu" in response.text
            assert response.headers["Retry-After"] == "30"
        api = requests.get(
            f"{server.url}/api/v1/cases/{case_id}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert api.status_code == 503 and api.json()["error"]["code"] == "service_unavailable"

        own_postgres.start()
        assert officer.get("/queue").status_code == 200  # the same session, no restart
        page = officer.get(f"/cases/{case_id}").text
        assert "Chờ xã xét duyệt" in page  # the approve sent during the outage did nothing
        done = officer.post(
            f"/cases/{case_id}/actions",
            {"trigger": "approve", "version": case_version(page)},
            token_from=page,
        )
        assert done.status_code == 302
        assert "Traceback" not in server.log(), server.log()[-3000:]
    finally:
        server.stop()
    with app.app_context():
        approvals = db.session.scalar(
            select(func.count()).where(CaseEvent.case_id == case_id, CaseEvent.trigger == "approve")
        )
        assert approvals == 1
        assert db.session.get(Case, case_id).state == "district_verification"
        db.session.remove()
        db.engine.dispose()


def api_token(base_url: str, username: str) -> str:
    response = requests.post(
        f"{base_url}/api/v1/auth/token",
        json={"username": username, "password": PASSWORD},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    return response.json()["token"]
