"""The demo data: every state present, accounts listed, a second run changes nothing."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from htsd_workflow.auth.models import User
from htsd_workflow.cases.models import Case, CaseEvent
from htsd_workflow.demo.seed import seed_demo
from htsd_workflow.extensions import db


def test_seed_demo_is_idempotent_and_covers_the_workflow(ctx):
    accounts = seed_demo(case_count=3000, today=date(2026, 11, 20), commune_limit=2)
    db.session.commit()
    roles = {a["role"] for a in accounts}
    assert roles >= {
        "applicant",
        "commune_reviewer",
        "district_reviewer",
        "education_reviewer",
        "culture_reviewer",
        "province_officer",
        "manager",
        "admin",
    }
    cases = db.session.scalar(select(func.count()).select_from(Case))
    events = db.session.scalar(select(func.count()).select_from(CaseEvent))
    states = set(db.session.scalars(select(Case.state).distinct()))
    assert {
        "draft",
        "commune_review",
        "district_verification",
        "provincial_confirmation",
        "recognized",
        "returned",
    } <= states
    assert cases > 50
    # the showcase commune applies as itself ("Cộng đồng học tập cấp xã"): at the district
    assert db.session.execute(
        select(Case.workflow, Case.state, Case.criteria_set_id).where(Case.title == "commune")
    ).all() == [("three_tier/commune", "district_verification", "commune-tt25-2023")]
    # issued decisions with certificates, and one draft, so a newcomer sees the whole path
    from htsd_workflow.decisions.models import Decision, DecisionEntry
    from htsd_workflow.decisions.queries import verification

    statuses = set(db.session.scalars(select(Decision.status)))
    assert statuses == {"draft", "issued"}
    entry = db.session.scalar(
        select(DecisionEntry).join(Decision).where(Decision.status == "issued").limit(1)
    )
    assert verification(entry.code)["status"] == "valid"
    decisions = db.session.scalar(select(func.count()).select_from(Decision))
    seed_demo(case_count=3000, today=date(2026, 11, 20), commune_limit=2)
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(Case)) == cases
    assert db.session.scalar(select(func.count()).select_from(CaseEvent)) == events
    assert db.session.scalar(select(func.count()).select_from(Decision)) == decisions
    demo = db.session.scalar(select(User).where(User.username == "xa"))
    assert demo.check_password("demo1234") and demo.unit_code == "23281"
