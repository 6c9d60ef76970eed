"""Running cases carried between definitions; start-up refuses states a file no longer has."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select

from htsd_workflow import create_app
from htsd_workflow.auth.models import User
from htsd_workflow.cases.models import Case, CaseEvent, StageVisit
from htsd_workflow.cases.operations import fire_trigger
from htsd_workflow.core.errors import ConfigurationError
from htsd_workflow.extensions import db
from tests.factories import COMMUNE, COMMUNE_IN_OTHER_DISTRICT, OTHER_DISTRICT

WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"


def run(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


def counts() -> dict:
    return dict(
        db.session.execute(
            select(Case.workflow + ":" + Case.state, func.count()).group_by(
                Case.workflow, Case.state
            )
        ).all()
    )


def test_migrate_carries_running_cases_with_a_history_row_each(ctx, make, as_user):  # noqa: F811
    at_district, _ = make.case_in("district_verification")
    at_commune, _ = make.case_in("commune_review")
    finished, _ = make.case_in("commune_review")
    fire_trigger(finished.id, "reject", make.reviewer("commune_reviewer", COMMUNE), comment="Không")
    # returned from the district: resubmission must find its stage in the new definition
    returned, applicant = make.case_in("district_verification")
    district = make.reviewer("district_reviewer", "608")
    fire_trigger(returned.id, "return_to_applicant", district, comment="Bổ sung")
    db.session.commit()
    before = counts()

    dry = run(ctx, "workflows", "migrate", "--from", "three_tier", "--to", "two_tier", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "three_tier/district_verification → two_tier/provincial_confirmation: 1" in dry.output
    assert "nothing changed" in dry.output
    db.session.expire_all()
    assert counts() == before

    result = run(ctx, "workflows", "migrate", "--from", "three_tier", "--to", "two_tier")
    assert result.exit_code == 0, result.output
    assert "carried 3 case(s)" in result.output
    db.session.expire_all()
    assert counts() == {
        "two_tier/family:provincial_confirmation": 1,
        "two_tier/family:commune_review": 1,
        "two_tier/family:returned": 1,
        "three_tier/family:rejected": 1,  # finished cases stay as they were
    }
    case = db.session.get(Case, at_district.id)
    event = db.session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id.desc())
    ).first()
    assert (event.trigger, event.from_state, event.to_state) == (
        "carry_definition",
        "district_verification",
        "provincial_confirmation",
    )
    assert event.data["from_workflow"] == "three_tier/family"
    page = as_user(make.reviewer("education_reviewer", "62")).get(f"/cases/{case.id}")
    assert page.status_code == 200 and "Chuyển quy trình" in page.get_data(as_text=True)
    open_stages = set(
        db.session.scalars(
            select(StageVisit.stage).where(
                StageVisit.case_id == case.id, StageVisit.left_at.is_(None)
            )
        )
    )
    assert open_stages == {
        "provincial_confirmation",
        "provincial_confirmation:education",
        "provincial_confirmation:culture",
    }
    assert db.session.get(Case, returned.id).returned_from == "provincial_confirmation"
    # the carried cases work on: the returned one goes back to the province
    back = fire_trigger(returned.id, "resubmit", applicant)
    assert back.state == "provincial_confirmation"
    db.session.commit()

    again = run(ctx, "workflows", "migrate", "--from", "three_tier", "--to", "two_tier")
    assert again.exit_code == 0 and "carried 0 case(s)" in again.output


def test_migrate_of_one_unit_and_a_state_the_target_lacks(ctx, make):
    here, _ = make.case_in("district_verification")
    there, _ = make.case_in("district_verification", unit=COMMUNE_IN_OTHER_DISTRICT)
    refused = run(
        ctx,
        "workflows",
        "migrate",
        "--from",
        "three_tier",
        "--to",
        "two_tier",
        "--unit",
        OTHER_DISTRICT,
        "--map",
        "district_verification=nowhere",
    )
    assert refused.exit_code == 1 and "give --map district_verification" in refused.output
    result = run(
        ctx,
        "workflows",
        "migrate",
        "--from",
        "three_tier",
        "--to",
        "two_tier",
        "--unit",
        OTHER_DISTRICT,
        "--map",
        "district_verification=commune_review",
    )
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert db.session.get(Case, there.id).state == "commune_review"
    assert db.session.get(Case, here.id).workflow == "three_tier/family"


def _without_district_stage(tmp_path) -> Path:
    """A workflows folder whose three-tier files have lost district_verification."""
    folder = tmp_path / "workflows"
    shutil.copytree(WORKFLOWS, folder)
    for path in (folder / "three_tier").glob("*.yaml"):
        shutil.copy(folder / "two_tier" / path.name, path)
    return folder


def test_start_up_stops_on_a_state_the_files_no_longer_have(ctx, make, tmp_path):
    make.case_in("district_verification")
    make.case_in("district_verification")
    folder = _without_district_stage(tmp_path)
    config = {
        "SQLALCHEMY_DATABASE_URI": ctx.config["SQLALCHEMY_DATABASE_URI"],
        "INSTANCE_PATH": str(tmp_path),
        "WORKFLOWS_DIR": str(folder),
        "TESTING": True,
    }
    db.session.remove()
    with pytest.raises(ConfigurationError) as refused:
        create_app(config)
    message = str(refused.value)
    assert "three_tier/_base.yaml" in message or "three_tier/family.yaml" in message
    assert "'district_verification'" in message and "2 running case(s)" in message
    # with a mapping given, it starts, and migrate carries them (same set, new files)
    mapped = create_app({**config, "WORKFLOW_STATE_MAP": "district_verification=commune_review"})
    with mapped.app_context():
        result = run(mapped, "workflows", "migrate", "--from", "three_tier", "--to", "three_tier")
        assert result.exit_code == 0, result.output
        assert "carried 2 case(s)" in result.output
        db.session.remove()
        if mapped.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
            db.engine.dispose()
    create_app(config)  # nothing stranded any more


def test_a_case_runs_under_its_own_set_when_the_default_changes(ctx, make, tmp_path):
    """Switching WORKFLOW_SET used to leave a district-stage case a 500 and refuse every action,
    and send a commune-stage case of the old set straight to the province."""
    at_district, _ = make.case_in("district_verification")
    at_commune, _ = make.case_in("commune_review")
    district = make.reviewer("district_reviewer", "608")
    district_id, district_login = district.id, district.get_id()
    commune_id = make.reviewer("commune_reviewer", COMMUNE).id
    district_case, commune_case = at_district.id, at_commune.id
    db.session.remove()
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": ctx.config["SQLALCHEMY_DATABASE_URI"],
            "INSTANCE_PATH": str(tmp_path),
            "WORKFLOW_SET": "two_tier",
            "SECRET_KEY": "test-secret",
            "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
            "RATELIMIT_STORAGE_URI": "memory://",
            "NOTIFY_WORKER": False,
            "TESTING": True,
        }
    )
    with app.app_context():
        client = app.test_client()
        with client.session_transaction() as session:
            session["_user_id"] = district_login
            session["_fresh"] = True
        page = client.get(f"/cases/{district_case}")
        assert page.status_code == 200
        district = db.session.get(User, district_id)
        moved = fire_trigger(district_case, "approve", district)
        assert moved.state == "provincial_confirmation"
        commune = db.session.get(User, commune_id)
        # its record says three_tier: it goes to the district, as it always would have
        assert fire_trigger(commune_case, "approve", commune).state == "district_verification"
        db.session.commit()
        db.session.remove()
        if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
            db.engine.dispose()
