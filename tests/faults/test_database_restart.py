"""PostgreSQL restarts under the app: in-flight work fails cleanly, then the app recovers."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from htsd_workflow import create_app
from htsd_workflow.cases.models import Case, CaseEvent
from htsd_workflow.cases.operations import fire_trigger
from htsd_workflow.extensions import db
from htsd_workflow.geography.operations import import_province
from tests.factories import COMMUNE, Factory
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
