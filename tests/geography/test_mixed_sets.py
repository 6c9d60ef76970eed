"""A database holding cases of both workflow sets: each is read by the set it records.

A province switched to the two-tier set keeps its three-tier cases running (say, one waiting at
the district) until they are carried. Whatever the installation's default set, the escalation
scan (SQLAlchemy and PostgreSQL paths), the queue's filters and the stage counts must treat
every case by its own definition: before, the scan walked the default set's stages only (a
three-tier case at district verification under a two-tier default was never escalated), and
the queue and the overview listed only the default set's stages.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from htsd_workflow import create_app
from htsd_workflow.auth.models import User
from htsd_workflow.cases.models import Case, CaseEvent
from htsd_workflow.cases.operations import fire_trigger
from htsd_workflow.extensions import db
from htsd_workflow.geography.models import Unit
from htsd_workflow.queues.queries import QueueFilter, count_matching, queue_page
from htsd_workflow.sla.operations import scan_sla
from tests.factories import COMMUNE, PROVINCE

MONDAY = datetime(2026, 12, 7, 2)  # 09:00 local


@contextlib.contextmanager
def province_on(set_name: str):
    """Kon Tum's new cases run ``set_name`` (the geography outlives the test: put it back)."""
    province = db.session.get(Unit, PROVINCE)
    before = province.workflow_set
    province.workflow_set = set_name
    db.session.commit()
    try:
        yield
    finally:
        db.session.rollback()
        db.session.get(Unit, PROVINCE).workflow_set = before
        db.session.commit()


@pytest.fixture
def mixed(ctx, make):
    """A three-tier case at district verification, and two two-tier cases (one at commune
    review, one at the provincial confirmation) of the same province: {name: case id}."""
    three, _ = make.case_in("district_verification", now=MONDAY)
    with province_on("two_tier"):
        at_commune, _ = make.case_in("commune_review", now=MONDAY)
        at_province, _ = make.case_in("commune_review", now=MONDAY)
        fire_trigger(
            at_province.id, "approve", make.reviewer("commune_reviewer", COMMUNE), now=MONDAY
        )
        db.session.commit()
        ids = {"three_tier": three.id, "two_commune": at_commune.id, "two_province": at_province.id}
        workflows = dict(db.session.execute(select(Case.id, Case.workflow)).all())
        assert workflows == {
            three.id: "three_tier/family",
            at_commune.id: "two_tier/family",
            at_province.id: "two_tier/family",
        }
        yield ids


def app_with_default(ctx, tmp_path, default: str):
    db.session.remove()
    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": ctx.config["SQLALCHEMY_DATABASE_URI"],
            "INSTANCE_PATH": str(tmp_path),
            "WORKFLOW_SET": default,
            "SECRET_KEY": "test-secret",
            "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
            "RATELIMIT_STORAGE_URI": "memory://",
            "NOTIFY_WORKER": False,
            "TESTING": True,
        }
    )


def states() -> dict[int, tuple[str, int]]:
    db.session.expire_all()
    return {c.id: (c.state, c.escalation_rung) for c in db.session.scalars(select(Case))}


@pytest.mark.parametrize("default", ["three_tier", "two_tier"])
def test_every_case_escalates_on_time_by_its_own_set(ctx, mixed, tmp_path, default):
    app = app_with_default(ctx, tmp_path, default)
    with app.app_context():
        due = {c.id: c.due_at for c in db.session.scalars(select(Case))}
        assert all(due.values())
        assert len(set(due.values())) == 2  # ten working days at the commune and district
        for moment in sorted(set(due.values())):
            # just before its own deadline a case is not escalated; just after it is
            scan_sla(moment - timedelta(minutes=1))
            now = states()
            assert all(now[c][1] < 2 for c in due if due[c] >= moment), (default, now)
            scan_sla(moment + timedelta(hours=1))
            now = states()
            assert all(now[c][1] >= 2 for c in due if due[c] <= moment), (default, now)
        escalated = db.session.scalars(
            select(CaseEvent.case_id).where(CaseEvent.trigger == "escalate").distinct()
        ).all()
        assert set(escalated) == set(mixed.values())
        db.session.commit()
        db.session.remove()
        if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
            db.engine.dispose()


def signed_in(app, user_id: int):
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = db.session.get(User, user_id).get_id()
        session["_fresh"] = True
    return client


@pytest.mark.parametrize("default", ["three_tier", "two_tier"])
def test_queue_filters_and_stage_counts_show_both_sets(ctx, make, mixed, tmp_path, default):
    officer_id = make.user("province_officer", PROVINCE).id
    manager_id = make.user("manager", PROVINCE).id
    app = app_with_default(ctx, tmp_path, default)
    with app.app_context():
        officer = db.session.get(User, officer_id)
        everything = queue_page(officer, QueueFilter(), MONDAY)
        assert {row.id for row in everything.rows} == set(mixed.values())
        by_state = {
            state: {row.id for row in queue_page(officer, QueueFilter(state=state), MONDAY).rows}
            for state in ("commune_review", "district_verification", "provincial_confirmation")
        }
        assert by_state == {
            "commune_review": {mixed["two_commune"]},
            "district_verification": {mixed["three_tier"]},
            "provincial_confirmation": {mixed["two_province"]},
        }
        overdue = QueueFilter(overdue=True)
        assert count_matching(officer, overdue, MONDAY + timedelta(days=60)) == 3

        client = signed_in(app, officer_id)
        page = client.get("/queue?state=district_verification")
        assert page.status_code == 200
        assert f"/cases/{mixed['three_tier']}" in page.text
        assert 'value="district_verification"' in page.text  # the filter offers the stage
        assert client.get("/queue").status_code == 200

        client = signed_in(app, manager_id)
        overview = client.get("/overview?year=2026")
        assert overview.status_code == 200
        assert "Chờ huyện thẩm định" in overview.text
        assert "Chờ tỉnh xác nhận" in overview.text
        db.session.remove()
        if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
            db.engine.dispose()


def test_a_case_s_buttons_are_its_own_set_s_words(ctx, make, tmp_path):
    """Under a two-tier default a three-tier case at the commune still goes to the district:
    its button must say so (the two-tier file's word is "Đồng ý, chuyển tỉnh")."""
    three, _ = make.case_in("commune_review", now=MONDAY)
    with province_on("two_tier"):
        two, _ = make.case_in("commune_review", now=MONDAY)
        officer_id = make.reviewer("commune_reviewer", COMMUNE).id
        three_id, two_id = three.id, two.id
        app = app_with_default(ctx, tmp_path, "two_tier")
        with app.app_context():
            client = signed_in(app, officer_id)
            assert "Đồng ý, chuyển huyện" in client.get(f"/cases/{three_id}").text
            assert "Đồng ý, chuyển tỉnh" in client.get(f"/cases/{two_id}").text
            db.session.remove()
            if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
                db.engine.dispose()
