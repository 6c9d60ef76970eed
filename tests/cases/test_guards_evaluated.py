"""The buttons offered (``allowed_triggers``) evaluate the guards the machine evaluates when the
trigger is fired (issue 20): a guard written in a workflow file holds for both, with no second
copy of its rule. The fixture definition puts a guard on the commune's "approve", which the
shipped files leave unguarded."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import update

from htsd_workflow import create_app
from htsd_workflow.cases.models import AssessmentItem, Case
from htsd_workflow.cases.operations import allowed_triggers, fire_trigger
from htsd_workflow.core.errors import DomainError
from htsd_workflow.extensions import db
from htsd_workflow.geography.operations import import_province
from tests.factories import COMMUNE, Factory

APPROVE = (
    "  - {trigger: approve, source: commune_review, dest: district_verification, "
    "roles: [commune_reviewer], "
)


def _app_with_guard(tmp_path: Path, guard: str):
    folder = tmp_path / "workflows"
    shutil.copytree(Path(__file__).resolve().parents[2] / "workflows", folder)
    base = folder / "three_tier" / "_base.yaml"
    source = base.read_text()
    assert APPROVE in source
    base.write_text(source.replace(APPROVE, f"{APPROVE}guards: [{guard}], "))
    return create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'guards.sqlite'}",
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "WORKFLOWS_DIR": str(folder),
            "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
            "NOTIFY_WORKER": False,
        }
    )


@pytest.mark.parametrize(
    ("guard", "unscored", "holds"),
    [
        ("managed_at_commune", False, True),
        ("managed_at_district", False, False),
        ("assessment_complete", False, True),
        ("assessment_complete", True, False),
    ],
)
def test_a_guard_in_the_workflow_file_decides_the_button_and_the_firing(
    tmp_path, guard, unscored, holds
):
    app = _app_with_guard(tmp_path, guard)
    with app.app_context():
        db.create_all()
        import_province("62")
        make = Factory()
        case, _ = make.case_in("commune_review")
        if unscored:
            db.session.execute(
                update(AssessmentItem)
                .where(AssessmentItem.case_id == case.id)
                .values(score=None)
                .execution_options(synchronize_session=False)
            )
        db.session.commit()
        reviewer = make.reviewer("commune_reviewer", COMMUNE)
        offered = "approve" in allowed_triggers(db.session.get(Case, case.id), reviewer)
        try:
            fired = fire_trigger(case.id, "approve", reviewer).state == "district_verification"
        except DomainError:
            fired = False
        assert (offered, fired) == (holds, holds)
        db.session.remove()
        db.engine.dispose()
