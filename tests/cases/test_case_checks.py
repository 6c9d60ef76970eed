"""`flask cases check [--repair]`: cases whose stored facts disagree are listed, and put right
through the normal operation with an audit entry each."""

from __future__ import annotations

from sqlalchemy import func, select, update

from htsd_workflow.audit.models import AuditEntry
from htsd_workflow.cases.checks import find_disagreements
from htsd_workflow.cases.models import Case, CaseEvent, PartClaim, SignOff, StageVisit
from htsd_workflow.cases.operations import claim_case, fire_trigger
from htsd_workflow.core.time import utcnow
from htsd_workflow.extensions import db
from tests.factories import COMMUNE, PROVINCE


def check(ctx, *args):
    return ctx.test_cli_runner().invoke(args=["cases", "check", *args])


def stuck_joint_case(make):
    """What a simultaneous signature left on SQLite before: both signatures stored, both parts'
    visits closed, the case still waiting at the province."""
    case, _ = make.case_in("provincial_confirmation")
    culture = make.reviewer("culture_reviewer", PROVINCE)
    fire_trigger(case.id, "sign", make.reviewer("education_reviewer", PROVINCE))
    now = utcnow()
    db.session.add(SignOff(case_id=case.id, department="culture", user_id=culture.id, at=now))
    db.session.execute(
        update(StageVisit)
        .where(StageVisit.case_id == case.id, StageVisit.stage == f"{case.state}:culture")
        .values(left_at=now, outcome="sign", working_days=0, is_late=False)
    )
    db.session.commit()
    return case.id


def test_a_clean_database_has_no_disagreements(ctx, make):
    joint, _ = make.case_in("provincial_confirmation")
    claim_case(joint.id, make.reviewer("education_reviewer", PROVINCE))
    fire_trigger(joint.id, "sign", make.reviewer("culture_reviewer", PROVINCE))
    claimed, _ = make.case_in("commune_review")
    claim_case(claimed.id, make.reviewer("commune_reviewer", COMMUNE))
    fire_trigger(claimed.id, "approve", make.reviewer("commune_reviewer", COMMUNE))
    db.session.commit()
    result = check(ctx)
    assert result.exit_code == 0, result.output
    assert "no disagreements" in result.output


def test_every_department_signed_but_not_recognised_is_completed_once(ctx, make):
    case_id = stuck_joint_case(make)
    listed = check(ctx)
    assert listed.exit_code == 1
    assert f"HS-{case_id}: all_signed_not_recognised" in listed.output
    assert db.session.get(Case, case_id).state == "provincial_confirmation"  # only listed

    repaired = check(ctx, "--repair")
    assert repaired.exit_code == 0, repaired.output
    db.session.expire_all()
    case = db.session.get(Case, case_id)
    assert case.state == "recognized" and case.is_open is False and case.decided_at
    into = db.session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.to_state == "recognized")
    ).all()
    assert len(into) == 1 and into[0].actor_id is None and "Sửa dữ liệu" in into[0].comment
    open_visits = db.session.scalar(
        select(func.count()).where(StageVisit.case_id == case_id, StageVisit.left_at.is_(None))
    )
    assert open_visits == 0
    audit = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "case_repaired")).all()
    assert [(a.target, a.details["problem"]) for a in audit] == [
        (f"case:{case_id}", "all_signed_not_recognised")
    ]
    assert check(ctx).exit_code == 0  # nothing left; a second repair does nothing twice


def test_a_claim_on_a_finished_case_and_a_stray_part_claim_are_released(ctx, make):
    finished, _ = make.case_in("commune_review")
    fire_trigger(
        finished.id, "reject", make.reviewer("commune_reviewer", COMMUNE), comment="Không đạt"
    )
    waiting, _ = make.case_in("commune_review")
    holder = make.user("commune_reviewer", COMMUNE)
    db.session.execute(update(Case).where(Case.id == finished.id).values(claimed_by_id=holder.id))
    db.session.add(PartClaim(case_id=waiting.id, part="education", user_id=holder.id))
    db.session.commit()
    listed = check(ctx).output
    assert f"HS-{finished.id}: claim_outside_review" in listed
    assert f"HS-{waiting.id}: stray_part_claim" in listed
    assert check(ctx, "--repair").exit_code == 0
    db.session.expire_all()
    assert db.session.get(Case, finished.id).claimed_by_id is None
    assert db.session.scalar(select(func.count()).select_from(PartClaim)) == 0
    releases = db.session.scalar(
        select(func.count()).where(
            CaseEvent.trigger == "release", CaseEvent.case_id.in_([finished.id, waiting.id])
        )
    )
    assert releases == 2


def test_a_visit_left_open_is_closed_when_the_history_says_the_case_left(ctx, make):
    case, _ = make.case_in("district_verification")
    db.session.execute(
        update(StageVisit)
        .where(StageVisit.case_id == case.id, StageVisit.stage == "commune_review")
        .values(left_at=None, outcome=None, working_days=None, is_late=None)
    )
    db.session.commit()
    assert f"HS-{case.id}: open_visit" in check(ctx).output
    assert check(ctx, "--repair").exit_code == 0
    db.session.expire_all()
    visit = db.session.scalar(
        select(StageVisit).where(
            StageVisit.case_id == case.id, StageVisit.stage == "commune_review"
        )
    )
    approved = db.session.scalar(
        select(CaseEvent.at).where(CaseEvent.case_id == case.id, CaseEvent.trigger == "approve")
    )
    assert (visit.left_at, visit.outcome) == (approved, "approve")
    assert find_disagreements() == []
