"""The two-tier definition (no districts since July 2025), selected by configuration."""

from __future__ import annotations

from htsd_workflow import create_app
from htsd_workflow.cases.models import CaseEvent
from htsd_workflow.cases.operations import fire_trigger
from htsd_workflow.extensions import db
from tests.factories import COMMUNE, Factory


def test_case_runs_commune_then_province_without_a_district_stage(ctx, tmp_path):
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": ctx.config["SQLALCHEMY_DATABASE_URI"],
            "WORKFLOW_SET": "two_tier",
            "INSTANCE_PATH": str(tmp_path),
            "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
            "TESTING": True,
        }
    )
    with app.app_context():
        make = Factory()
        case, applicant = make.draft()
        assert case.workflow == "two_tier/family"
        commune = make.reviewer("commune_reviewer", COMMUNE)
        assert fire_trigger(case.id, "submit", applicant).state == "commune_review"
        after = fire_trigger(case.id, "approve", commune)
        assert after.state == "provincial_confirmation"  # straight to the province
        education = make.reviewer("education_reviewer", "62")
        culture = make.reviewer("culture_reviewer", "62")
        back = fire_trigger(case.id, "return_to_commune", education, comment="Bổ sung")
        assert back.state == "commune_review"
        fire_trigger(case.id, "approve", commune)
        fire_trigger(case.id, "sign", culture)
        assert fire_trigger(case.id, "sign", education).state == "recognized"
        db.session.commit()
        states = [e.to_state for e in db.session.query(CaseEvent).filter_by(case_id=case.id)]
        assert "district_verification" not in states
        db.session.remove()
        db.engine.dispose()
