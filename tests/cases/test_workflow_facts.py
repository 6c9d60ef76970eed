"""What the case page says about an action comes from the workflow file: its word, whether a
comment is required, whether it ends the case (asks to confirm); and the district may return a
case to its commune."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from htsd_workflow import create_app
from htsd_workflow.cases.engine import get_registry
from htsd_workflow.cases.models import Case
from htsd_workflow.cases.operations import fire_trigger
from htsd_workflow.core.time import to_local, utcnow
from htsd_workflow.extensions import db
from htsd_workflow.notifications.models import OutboxMessage as Outbox
from htsd_workflow.notifications.recipients import recipients
from htsd_workflow.reports.queries import Filters, bottlenecks
from tests.clients import Browser, text
from tests.factories import COMMUNE, DISTRICT, Factory

WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"


@pytest.fixture
def other_app(ctx, tmp_path):
    """An app on the test database with another workflow set (or folder of files)."""
    made = []

    def make(set_name: str, workflows_dir: Path = WORKFLOWS):
        app = create_app(
            {
                "SQLALCHEMY_DATABASE_URI": ctx.config["SQLALCHEMY_DATABASE_URI"],
                "WORKFLOW_SET": set_name,
                "WORKFLOWS_DIR": str(workflows_dir),
                "INSTANCE_PATH": str(tmp_path / f"instance-{len(made)}"),
                "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
                "RATELIMIT_STORAGE_URI": "memory://",
                "NOTIFY_WORKER": False,
                "TESTING": True,
            }
        )
        made.append(app)
        return app

    yield make
    for app in made:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def _button(page: str, trigger: str) -> str:
    """The opening tag and word of the action button of ``trigger``."""
    start = page.index(f'name="trigger" value="{trigger}"')
    return page[start : page.index("</button>", start)]


def test_two_tier_province_sees_return_to_commune_by_its_word_with_a_required_comment(
    other_app,
):
    app = other_app("two_tier")
    with app.app_context():
        make = Factory()
        case, applicant = make.draft()
        fire_trigger(case.id, "submit", applicant)
        commune = make.reviewer("commune_reviewer", COMMUNE)
        db.session.commit()
        page = text(Browser(app.test_client()).login(commune).get(f"/cases/{case.id}"))
        assert "Đồng ý, chuyển tỉnh" in _button(page, "approve")  # not "chuyển huyện"
        fire_trigger(case.id, "approve", commune)
        db.session.commit()
        education = make.reviewer("education_reviewer", "62")
        page = text(Browser(app.test_client()).login(education).get(f"/cases/{case.id}"))
        button = _button(page, "return_to_commune")
        word = button.split(">", 1)[1]
        assert "Trả lại xã" in word and "return_to_commune" not in word
        assert "data-needs-comment" in button and "cần ý kiến" in word
        assert "data-needs-comment" not in _button(page, "sign")
        db.session.remove()


def test_a_new_trigger_in_a_file_is_shown_by_its_word_and_its_facts(other_app, tmp_path):
    folder = tmp_path / "workflows"
    shutil.copytree(WORKFLOWS / "three_tier", folder / "three_tier")
    shutil.copytree(WORKFLOWS / "criteria", folder / "criteria")
    base = folder / "three_tier" / "_base.yaml"
    data = yaml.safe_load(base.read_text(encoding="utf-8"))
    data["transitions"] += [
        {
            "trigger": "ask_commune_again",
            "source": "district_verification",
            "dest": "commune_review",
            "roles": ["district_reviewer"],
            "comment": True,
            "label": "Đề nghị xã xem xét lại",
        },
        {
            "trigger": "close_file",
            "source": "district_verification",
            "dest": "withdrawn",
            "roles": ["district_reviewer"],
            "label": "Đóng hồ sơ",
        },
    ]
    base.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    app = other_app("three_tier", folder)
    with app.app_context():
        make = Factory()
        case, _ = make.case_in("district_verification")
        district = make.reviewer("district_reviewer", DISTRICT)
        reviewer = Browser(app.test_client()).login(district)
        page = text(reviewer.get(f"/cases/{case.id}"))
        ask = _button(page, "ask_commune_again")
        assert "Đề nghị xã xem xét lại" in ask and "data-needs-comment" in ask
        assert "data-confirm" not in ask
        close = _button(page, "close_file")
        assert "Đóng hồ sơ" in close and "data-confirm" in close
        assert "data-needs-comment" not in close
        refused = reviewer.post(
            f"/cases/{case.id}/actions",
            {"trigger": "ask_commune_again", "version": case.version},
        )
        assert refused.status_code == 422
        db.session.remove()


def test_district_returns_a_case_to_its_commune_with_a_comment(as_user, make):
    case, applicant = make.case_in("district_verification")
    district = make.reviewer("district_reviewer", DISTRICT)
    reviewer = as_user(district)
    button = _button(text(reviewer.get(f"/cases/{case.id}")), "return_to_commune")
    assert "Trả lại xã" in button and "data-needs-comment" in button
    no_comment = reviewer.post(
        f"/cases/{case.id}/actions", {"trigger": "return_to_commune", "version": case.version}
    )
    assert no_comment.status_code == 422
    db.session.expire_all()
    assert db.session.get(Case, case.id).state == "district_verification"
    done = reviewer.post(
        f"/cases/{case.id}/actions",
        {"trigger": "return_to_commune", "comment": "Xã xác minh lại", "version": case.version},
    )
    assert done.status_code == 302
    db.session.expire_all()
    case = db.session.get(Case, case.id)
    assert case.state == "commune_review" and case.due_at is not None
    commune = make.reviewer("commune_reviewer", COMMUNE)
    message = db.session.query(Outbox).filter_by(case_id=case.id, kind="return_to_commune").one()
    told = recipients(message.kind, message.payload, case, get_registry().definition(case.title))
    assert {applicant.id, commune.id} <= set(told)
    # a return: the bottleneck report counts it so
    today = to_local(utcnow()).date()
    report = bottlenecks(
        make.user("manager", DISTRICT),
        Filters(date_from=today, date_to=today, stage="district_verification"),
    )
    assert sum(row["returned"] for row in report["rows"]) == 1
    fire_trigger(case.id, "approve", commune)
    db.session.commit()
    assert db.session.get(Case, case.id).state == "district_verification"
