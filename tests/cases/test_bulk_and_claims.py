"""Bulk transitions (set-based, per-case results) and claims."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import event, func, select

from htsd_workflow.auth.operations import deactivate_user
from htsd_workflow.cases.models import Case, CaseEvent, PartClaim
from htsd_workflow.cases.operations import (
    allowed_triggers,
    claim_case,
    fire_bulk,
    fire_trigger,
    release_case,
)
from htsd_workflow.core.errors import Conflict, InvalidInput, NotAllowed
from htsd_workflow.extensions import db
from htsd_workflow.notifications.models import OutboxMessage
from tests.factories import COMMUNE, DISTRICT, OTHER_COMMUNE_SAME_DISTRICT


class StatementCounter:
    def __init__(self, engine):
        self.engine = engine
        self.count = 0

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._count)

    def _count(self, *args, **kwargs):
        self.count += 1


def test_bulk_lists_refusals_and_lets_the_others_through(ctx, make):
    ready = [make.case_in("commune_review")[0] for _ in range(4)]
    draft, _ = make.draft()
    elsewhere, _ = make.case_in("commune_review", unit=OTHER_COMMUNE_SAME_DISTRICT)
    reviewer = make.reviewer("commune_reviewer", COMMUNE)
    ids = [c.id for c in ready] + [draft.id, elsewhere.id, 999999]
    result = fire_bulk(ids, "approve", reviewer).as_dict()
    db.session.commit()
    assert sorted(s["id"] for s in result["succeeded"]) == sorted(c.id for c in ready)
    failed = {f["id"]: f["code"] for f in result["failed"]}
    assert failed == {draft.id: "conflict", elsewhere.id: "not_found", 999999: "not_found"}
    for case in ready:
        assert db.session.get(Case, case.id).state == "district_verification"
    assert db.session.get(Case, elsewhere.id).state == "commune_review"
    outbox = db.session.scalar(
        select(func.count()).where(
            OutboxMessage.case_id.in_([c.id for c in ready]), OutboxMessage.kind == "approve"
        )
    )
    assert outbox == 4


def test_bulk_return_needs_the_comment_for_every_case(ctx, make):
    cases = [make.case_in("commune_review")[0] for _ in range(2)]
    reviewer = make.reviewer("commune_reviewer", COMMUNE)
    result = fire_bulk([c.id for c in cases], "return_to_applicant", reviewer)
    assert len(result.failed) == 2 and result.failed[0]["code"] == "invalid_input"
    result = fire_bulk([c.id for c in cases], "return_to_applicant", reviewer, comment="Thiếu")
    assert len(result.succeeded) == 2


def test_bulk_is_set_based_statement_count_does_not_grow_with_cases(ctx, make):
    reviewer = make.reviewer("commune_reviewer", COMMUNE)
    small = [make.case_in("commune_review")[0].id for _ in range(3)]
    large = [make.case_in("commune_review")[0].id for _ in range(30)]
    db.session.commit()
    with StatementCounter(db.engine) as few:
        fire_bulk(small, "approve", reviewer)
    db.session.commit()
    with StatementCounter(db.engine) as many:
        fire_bulk(large, "approve", reviewer)
    db.session.commit()
    assert many.count == few.count
    approvals = db.session.scalar(select(func.count()).where(CaseEvent.trigger == "approve"))
    assert approvals == 33


def test_only_the_claimant_acts_and_a_supervisor_takes_over_with_a_note(ctx, make):
    case, _ = make.case_in("commune_review")
    one = make.user("commune_reviewer", COMMUNE)
    two = make.user("commune_reviewer", COMMUNE)
    district = make.reviewer("district_reviewer", DISTRICT)
    claimed = claim_case(case.id, one)
    version = claimed.version
    assert claimed.claimed_by_id == one.id
    with pytest.raises(Conflict):
        claim_case(case.id, two)
    with pytest.raises(NotAllowed):
        fire_trigger(case.id, "approve", two)
    with pytest.raises(InvalidInput):
        claim_case(case.id, district, take_over=True)
    taken = claim_case(case.id, district, take_over=True, note="Cán bộ nghỉ phép")
    assert taken.claimed_by_id == district.id
    assert taken.version == version  # claims never make a reviewer's view stale
    release_case(case.id, district)
    claim_case(case.id, two)
    assert fire_trigger(case.id, "approve", two).claimed_by_id is None  # a new stage, free


def test_deactivating_a_user_releases_their_claims(ctx, make):
    cases = [make.case_in("commune_review")[0] for _ in range(2)]
    reviewer = make.user("commune_reviewer", COMMUNE)
    for case in cases:
        claim_case(case.id, reviewer)
    db.session.commit()
    assert deactivate_user(reviewer) == 2
    db.session.commit()
    assert all(db.session.get(Case, c.id).claimed_by_id is None for c in cases)
    with pytest.raises(NotAllowed):
        fire_trigger(cases[0].id, "approve", reviewer)


# --- a joint stage: each department's part is its own piece of work ---------------------


def joint_case(make):
    case, _ = make.case_in("provincial_confirmation")
    return (
        case.id,
        make.reviewer("education_reviewer", "62"),
        make.reviewer("culture_reviewer", "62"),
    )


def test_one_departments_claim_and_signature_do_not_block_the_other(ctx, make):
    """Education claims and signs; culture is offered its actions all along, claims, signs."""
    case_id, education, culture = joint_case(make)
    claim_case(case_id, education)
    db.session.commit()
    case = db.session.get(Case, case_id)
    assert case.claimed_by_id is None  # the claim holds education's part only
    assert "sign" in allowed_triggers(case, culture)
    fire_trigger(case_id, "sign", education)
    db.session.commit()
    assert db.session.get(PartClaim, (case_id, "education")) is None  # signing ended it
    assert "sign" in allowed_triggers(db.session.get(Case, case_id), culture)
    claim_case(case_id, culture)
    db.session.commit()
    assert db.session.get(PartClaim, (case_id, "culture")).user_id == culture.id
    assert fire_trigger(case_id, "sign", culture).state == "recognized"
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(PartClaim)) == 0


def test_a_department_part_is_held_against_its_own_colleagues_only(ctx, make):
    case_id, education, culture = joint_case(make)
    other_education = make.user("education_reviewer", "62")
    claim_case(case_id, education)
    db.session.commit()
    with pytest.raises(NotAllowed):
        fire_trigger(case_id, "sign", other_education)
    db.session.rollback()
    with pytest.raises(Conflict):
        claim_case(case_id, other_education)
    db.session.rollback()
    refused = fire_bulk([case_id], "sign", other_education)
    assert [f["id"] for f in refused.failed] == [case_id]
    db.session.rollback()
    # the other department claims its own part, and bulk-signs it while education holds its
    claim_case(case_id, culture)
    bulk = fire_bulk([case_id], "sign", culture)
    assert [s["id"] for s in bulk.succeeded] == [case_id]
    db.session.commit()
    assert db.session.get(PartClaim, (case_id, "education")).user_id == education.id
    assert db.session.get(PartClaim, (case_id, "culture")) is None


def test_releasing_gives_back_only_the_claimants_part_and_leaving_the_stage_ends_all(ctx, make):
    case_id, education, culture = joint_case(make)
    claim_case(case_id, education)
    claim_case(case_id, culture)
    db.session.commit()
    release_case(case_id, culture)
    db.session.commit()
    assert db.session.get(PartClaim, (case_id, "culture")) is None
    assert db.session.get(PartClaim, (case_id, "education")).user_id == education.id
    claim_case(case_id, culture)
    fire_trigger(case_id, "return_to_district", education, comment="Thiếu biên bản")
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(PartClaim)) == 0


def test_deactivating_a_department_reviewer_releases_their_part(ctx, make):
    case_id, education, culture = joint_case(make)
    claim_case(case_id, education)
    claim_case(case_id, culture)
    db.session.commit()
    assert deactivate_user(education, make.user("admin", "62")) == 1
    db.session.commit()
    assert db.session.get(PartClaim, (case_id, "education")) is None
    assert db.session.get(PartClaim, (case_id, "culture")).user_id == culture.id


def test_part_claims_follow_the_joint_stage_of_the_workflow_file(tmp_path):
    """The joint stage is data: renamed in the workflow files, the same rule holds there."""
    import shutil

    from htsd_workflow import create_app
    from htsd_workflow.geography.operations import import_province
    from tests.factories import Factory

    folder = tmp_path / "workflows"
    shutil.copytree(Path(__file__).resolve().parents[2] / "workflows", folder)
    for path in (folder / "three_tier").glob("*.yaml"):
        path.write_text(path.read_text().replace("provincial_confirmation", "joint_confirmation"))
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'joint.sqlite'}",
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "WORKFLOWS_DIR": str(folder),
            "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
            "NOTIFY_WORKER": False,
        }
    )
    with app.app_context():
        db.create_all()
        import_province("62")
        make = Factory()
        case, applicant = make.draft()
        fire_trigger(case.id, "submit", applicant)
        fire_trigger(case.id, "approve", make.reviewer("commune_reviewer", COMMUNE))
        fire_trigger(case.id, "approve", make.reviewer("district_reviewer", DISTRICT))
        education = make.reviewer("education_reviewer", "62")
        culture = make.reviewer("culture_reviewer", "62")
        claim_case(case.id, education)
        db.session.commit()
        assert db.session.get(Case, case.id).state == "joint_confirmation"
        assert db.session.get(PartClaim, (case.id, "education")).user_id == education.id
        assert "sign" in allowed_triggers(db.session.get(Case, case.id), culture)
        fire_trigger(case.id, "sign", education)
        assert fire_trigger(case.id, "sign", culture).state == "recognized"
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(PartClaim)) == 0
        db.session.remove()
        db.engine.dispose()
