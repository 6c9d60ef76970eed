"""The demo is today's Quảng Ngãi: Kon Tum's three-tier years carried across the reform."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from htsd_workflow.auth.models import User
from htsd_workflow.cases.models import Case, CaseEvent
from htsd_workflow.demo.seed import seed_demo_today
from htsd_workflow.extensions import db
from htsd_workflow.geography.models import Unit
from htsd_workflow.subjects.models import Subject

TODAY = date(2026, 11, 20)


def test_demo_is_today_s_quang_ngai_with_kon_tum_s_history(fresh):
    accounts = seed_demo_today(case_count=300, today=TODAY, commune_limit=3)
    db.session.commit()
    where = {a["username"]: a["unit"] for a in accounts}
    assert set(where) == {
        "admin",
        "hoikhuyenhoc",
        "sogddt",
        "sovhttdl",
        "lanhdaotinh",
        "lanhdaohuyen",
        "xa",
        "chuho",
        "truongthon",
    }
    assert where["xa"] == "23293 Phường Kon Tum" and where["sogddt"].startswith("51 ")
    assert where["chuho"] == "23293 Phường Kon Tum"
    # a village of the demo commune whose 30 households are not registered yet, and its head
    assert where["truongthon"] == "23293 Phường Kon Tum (Tổ dân phố 9)"
    head = db.session.scalar(select(User).where(User.username == "truongthon"))
    assert head.role == "village_head" and head.check_password("demo1234")
    homes = db.session.scalars(select(Subject.id).where(Subject.community_id == head.subject_id))
    homes = list(homes)
    assert len(homes) == 30
    assert not db.session.scalar(select(func.count()).where(Case.subject_id.in_(homes)))
    assert db.session.get(Unit, "51").structure == "two_tier"
    assert db.session.scalar(select(User).where(User.username == "huyen")).is_active_user is False
    xa = db.session.scalar(select(User).where(User.username == "xa"))
    assert xa.check_password("demo1234") and xa.unit_code == "23293.2025"

    history = dict(
        db.session.execute(
            select(Case.workflow, func.count()).where(Case.year == 2025).group_by(Case.workflow)
        ).all()
    )
    assert history.get("three_tier/family")  # finished in Kon Tum's three-tier months
    this_year = set(
        db.session.execute(select(Case.workflow, Case.state).where(Case.year == 2026)).all()
    )
    assert {w for w, _ in this_year} <= {
        "two_tier/family",
        "two_tier/clan",
        "two_tier/community",
        "two_tier/commune",
        "two_tier/unit",
    }
    # the showcase commune applies as itself: sent to the province
    assert ("two_tier/commune", "provincial_confirmation") in this_year
    assert {"commune_review", "provincial_confirmation", "recognized"} <= {s for _, s in this_year}
    carried = db.session.scalar(
        select(func.count()).select_from(CaseEvent).where(CaseEvent.trigger == "carry_definition")
    )
    assert carried > 0
    cases = db.session.scalar(select(func.count()).select_from(Case))
    again = seed_demo_today(case_count=300, today=TODAY, commune_limit=3)
    db.session.commit()
    assert again == accounts
    assert db.session.scalar(select(func.count()).select_from(Case)) == cases
