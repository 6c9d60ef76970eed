"""The embedded SQLite default: a writer that still holds the write lock when the busy timeout
runs out makes the second one a clear 503 ("nothing was done"), never a 500."""

from __future__ import annotations

import sqlite3

from sqlalchemy import func, select

from htsd_workflow import create_app
from htsd_workflow.cases.models import Case, CaseEvent
from htsd_workflow.extensions import db
from htsd_workflow.geography.operations import import_province
from tests.clients import Browser
from tests.factories import COMMUNE, Factory


def test_a_write_lock_held_past_the_busy_timeout_is_a_503_and_changes_nothing(tmp_path):
    path = tmp_path / "locked.sqlite"
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}",
            "SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"timeout": 0.3}},
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
            "NOTIFY_WORKER": False,
            "WTF_CSRF_ENABLED": False,
            "RATELIMIT_STORAGE_URI": "memory://",
        }
    )
    with app.app_context():
        db.create_all()
        import_province("62")
        make = Factory()
        case, _ = make.case_in("commune_review")
        reviewer = make.reviewer("commune_reviewer", COMMUNE)
        case_id = case.id
        db.session.commit()
        browser = Browser(app.test_client()).login(reviewer)
        db.session.remove()
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another writer, holding on
        try:
            answer = browser.client.post(f"/cases/{case_id}/actions", data={"trigger": "approve"})
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert answer.status_code == 503, answer.get_data(as_text=True)[:500]
        assert answer.headers["Retry-After"] == "30"
        db.session.remove()
        assert db.session.get(Case, case_id).state == "commune_review"
        approvals = db.session.scalar(select(func.count()).where(CaseEvent.trigger == "approve"))
        assert approvals == 0
        db.session.remove()
        db.engine.dispose()
