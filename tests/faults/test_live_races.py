"""Races through the API of a real server (gunicorn, 2 workers x 8 threads), on the embedded
SQLite default and on PostgreSQL: the same outcome on both.

Each race sends two requests released by one barrier, from two threads, many times over.
"""

from __future__ import annotations

import contextlib
import os
import threading

import pytest
import requests
from sqlalchemy import func, select

from htsd_workflow import create_app
from htsd_workflow.cases.models import Case, CaseEvent, SignOff
from htsd_workflow.extensions import db
from htsd_workflow.geography.operations import import_province
from tests.factories import COMMUNE, PASSWORD, PROVINCE, Factory
from tests.live_server import AppServer
from tests.services import scratch_database

ROUNDS = 8


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'htsd.sqlite'}"
        return
    server = os.environ.get("TEST_DATABASE_URL")
    if not server:
        pytest.skip("TEST_DATABASE_URL is not set: PostgreSQL tests not run")
    with scratch_database(server, "htsd_races") as url:
        yield url


@pytest.fixture
def world(database_url, tmp_path):
    """Cases waiting at the province and at the commune, the people who race on them, and a
    server; ``world.app`` reads the database afterwards."""
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "INSTANCE_PATH": str(tmp_path / "setup"),
            "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
            "NOTIFY_WORKER": False,
        }
    )
    with app.app_context():
        db.create_all()
        import_province("62")
        make = Factory()
        people = {
            name: make.user(role, unit).username
            for name, role, unit in (
                ("education", "education_reviewer", PROVINCE),
                ("education2", "education_reviewer", PROVINCE),
                ("culture", "culture_reviewer", PROVINCE),
                ("commune", "commune_reviewer", COMMUNE),
                ("commune2", "commune_reviewer", COMMUNE),
            )
        }
        province = [make.case_in("provincial_confirmation")[0].id for _ in range(3 * ROUNDS)]
        commune = [make.case_in("commune_review")[0].id for _ in range(2 * ROUNDS)]
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    server = AppServer(database_url, tmp_path / "web").start()
    try:
        tokens = {name: token(server.url, username) for name, username in people.items()}
        yield _World(app, server, tokens, province, commune)
        assert "Traceback" not in server.log(), server.log()[-3000:]
    finally:
        server.stop()
        with app.app_context(), contextlib.suppress(Exception):
            db.session.remove()
            db.engine.dispose()


class _World:
    def __init__(self, app, server, tokens, province, commune):
        self.app, self.server, self.tokens = app, server, tokens
        self.province, self.commune = province, commune

    def post(self, who: str, path: str, body: dict) -> requests.Response:
        return requests.post(
            f"{self.server.url}/api/v1{path}",
            json=body,
            headers={"Authorization": f"Bearer {self.tokens[who]}"},
            timeout=60,
        )

    def version(self, case_id: int) -> int:
        return requests.get(
            f"{self.server.url}/api/v1/cases/{case_id}",
            headers={"Authorization": f"Bearer {self.tokens['commune']}"},
            timeout=60,
        ).json()["version"]

    def race(self, first: tuple, second: tuple) -> list[requests.Response]:
        """Two requests ``(who, path, body)`` sent at the same instant; their answers in order."""
        barrier = threading.Barrier(2)
        answers: list = [None, None]

        def send(index, request):
            barrier.wait(10)
            try:
                answers[index] = self.post(*request)
            except Exception as exc:  # noqa: BLE001 - the test reports it
                answers[index] = exc

        threads = [
            threading.Thread(target=send, args=(i, r)) for i, r in enumerate((first, second))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(90)
        return answers


def token(base_url: str, username: str) -> str:
    response = requests.post(
        f"{base_url}/api/v1/auth/token",
        json={"username": username, "password": PASSWORD},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    return response.json()["token"]


def test_both_departments_signing_at_once_recognises_once(world):
    for case_id in world.province[:ROUNDS]:
        sign = {"trigger": "sign"}
        answers = world.race(
            ("education", f"/cases/{case_id}/transitions", sign),
            ("culture", f"/cases/{case_id}/transitions", sign),
        )
        assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
        assert sorted(a.json()["state"] for a in answers) == [
            "provincial_confirmation",
            "recognized",
        ]
    with world.app.app_context():
        for case_id in world.province[:ROUNDS]:
            assert db.session.get(Case, case_id).state == "recognized"
            signatures = db.session.scalar(select(func.count()).where(SignOff.case_id == case_id))
            assert signatures == 2
            into_recognized = db.session.scalar(
                select(func.count()).where(
                    CaseEvent.case_id == case_id, CaseEvent.to_state == "recognized"
                )
            )
            assert into_recognized == 1
        db.session.remove()


def test_one_department_signing_twice_at_once_is_one_signature_and_one_conflict(world):
    for case_id in world.province[ROUNDS : 2 * ROUNDS]:
        sign = {"trigger": "sign"}
        answers = world.race(
            ("education", f"/cases/{case_id}/transitions", sign),
            ("education2", f"/cases/{case_id}/transitions", sign),
        )
        assert sorted(a.status_code for a in answers) == [200, 409], [a.text for a in answers]
        refused = next(a for a in answers if a.status_code == 409)
        assert refused.json()["error"]["code"] == "conflict"
    with world.app.app_context():
        for case_id in world.province[ROUNDS : 2 * ROUNDS]:
            signatures = db.session.scalar(select(func.count()).where(SignOff.case_id == case_id))
            assert signatures == 1
        db.session.remove()


def test_racing_approvals_and_claims_have_one_winner(world):
    for case_id in world.commune[:ROUNDS]:
        approve = {"trigger": "approve", "version": world.version(case_id)}
        answers = world.race(
            ("commune", f"/cases/{case_id}/transitions", approve),
            ("commune2", f"/cases/{case_id}/transitions", approve),
        )
        assert sorted(a.status_code for a in answers) == [200, 409], [a.text for a in answers]
    for case_id in world.commune[ROUNDS:]:
        claim = {"take_over": False}
        answers = world.race(
            ("commune", f"/cases/{case_id}/claim", claim),
            ("commune2", f"/cases/{case_id}/claim", claim),
        )
        assert sorted(a.status_code for a in answers) == [200, 409], [a.text for a in answers]
    with world.app.app_context():
        for case_id in world.commune[:ROUNDS]:
            assert db.session.get(Case, case_id).state == "district_verification"
            approvals = db.session.scalar(
                select(func.count()).where(
                    CaseEvent.case_id == case_id, CaseEvent.trigger == "approve"
                )
            )
            assert approvals == 1
        for case_id in world.commune[ROUNDS:]:
            claims = db.session.scalar(
                select(func.count()).where(
                    CaseEvent.case_id == case_id, CaseEvent.trigger == "claim"
                )
            )
            assert claims == 1
        db.session.remove()


def test_a_bulk_signature_and_a_single_one_at_once_recognise_once(world):
    for case_id in world.province[2 * ROUNDS :]:
        answers = world.race(
            ("education", "/cases/bulk-transitions", {"ids": [case_id], "trigger": "sign"}),
            ("culture", f"/cases/{case_id}/transitions", {"trigger": "sign"}),
        )
        assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
        assert answers[0].json()["counts"] == {"succeeded": 1, "failed": 0}
    with world.app.app_context():
        for case_id in world.province[2 * ROUNDS :]:
            assert db.session.get(Case, case_id).state == "recognized"
            into_recognized = db.session.scalar(
                select(func.count()).where(
                    CaseEvent.case_id == case_id, CaseEvent.to_state == "recognized"
                )
            )
            assert into_recognized == 1
        db.session.remove()
