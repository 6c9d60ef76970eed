"""Random trigger sequences by random actors keep the workflow's invariants.

Who may change a case is judged by an oracle table written here, not by the code's own scope
function.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from htsd_workflow.cases.engine import get_registry
from htsd_workflow.cases.models import Case, CaseEvent, SignOff
from htsd_workflow.cases.operations import fire_trigger
from htsd_workflow.core.errors import DomainError
from htsd_workflow.extensions import db
from tests.factories import COMMUNE, COMMUNE_IN_OTHER_DISTRICT, DISTRICT, OTHER_DISTRICT

TRIGGERS = [
    "submit",
    "approve",
    "sign",
    "return_to_district",
    "return_to_applicant",
    "resubmit",
    "reject",
    "withdraw",
    "teleport",
]
REVIEW = ["commune_review", "district_verification", "provincial_confirmation"]

#: (actor kind, trigger) -> states from which that actor may ever fire it
ORACLE = {
    ("own_applicant", "submit"): {"draft"},
    ("own_applicant", "resubmit"): {"returned"},
    ("own_applicant", "withdraw"): {"draft", "returned", *REVIEW},
    ("commune_here", "submit"): {"draft"},
    ("commune_here", "resubmit"): {"returned"},
    ("commune_here", "approve"): {"commune_review"},
    ("commune_here", "return_to_applicant"): {"commune_review"},
    ("commune_here", "reject"): {"commune_review"},
    ("district_here", "approve"): {"district_verification"},
    ("district_here", "return_to_applicant"): {"district_verification"},
    ("district_here", "reject"): {"district_verification"},
}
for department in ("education", "culture"):
    for trigger in ("sign", "return_to_district", "return_to_applicant", "reject"):
        ORACLE[(department, trigger)] = {"provincial_confirmation"}

ACTOR_KINDS = [
    "own_applicant",
    "other_applicant",
    "commune_here",
    "commune_elsewhere",
    "district_here",
    "district_elsewhere",
    "education",
    "culture",
    "province_officer",
    "manager",
]


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    steps=st.lists(
        st.tuples(st.sampled_from(ACTOR_KINDS), st.sampled_from(TRIGGERS), st.booleans()),
        min_size=1,
        max_size=14,
    )
)
def test_random_actions_keep_the_invariants(ctx, make, steps):
    case, own_applicant = make.draft()
    other_case, other_applicant = make.draft(unit=COMMUNE_IN_OTHER_DISTRICT)
    actors = {
        "own_applicant": own_applicant,
        "other_applicant": other_applicant,
        "commune_here": make.reviewer("commune_reviewer", COMMUNE),
        "commune_elsewhere": make.reviewer("commune_reviewer", COMMUNE_IN_OTHER_DISTRICT),
        "district_here": make.reviewer("district_reviewer", DISTRICT),
        "district_elsewhere": make.reviewer("district_reviewer", OTHER_DISTRICT),
        "education": make.reviewer("education_reviewer", "62"),
        "culture": make.reviewer("culture_reviewer", "62"),
        "province_officer": make.reviewer("province_officer", "62"),
        "manager": make.reviewer("manager", "62"),
    }
    definition = get_registry().definition("family")
    for actor_kind, trigger, with_comment in steps:
        before = db.session.get(Case, case.id)
        state_before, version_before = before.state, before.version
        try:
            after = fire_trigger(
                case.id, trigger, actors[actor_kind], comment="Lý do" if with_comment else None
            )
            db.session.commit()
        except DomainError:
            db.session.rollback()
            after = db.session.get(Case, case.id)
            assert (after.state, after.version) == (state_before, version_before)
            continue
        # only in-scope actors with the right role ever change a case
        assert state_before in ORACLE.get((actor_kind, trigger), set()), (
            actor_kind,
            trigger,
            state_before,
        )
        assert after.state in definition.states
        if after.state != state_before:
            assert after.version == version_before + 1
        else:
            assert after.version == version_before

    final = db.session.get(Case, case.id)
    events = db.session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id)
    ).all()
    assert events[0].from_state is None and events[0].to_state == "draft"
    for previous, event in zip(events, events[1:], strict=False):
        assert event.from_state == previous.to_state
    assert events[-1].to_state == final.state
    departments = set(
        db.session.scalars(select(SignOff.department).where(SignOff.case_id == case.id))
    )
    if final.state == "recognized":
        assert departments == {"education", "culture"}
    # the other subject's case was never touched
    assert db.session.get(Case, other_case.id).state == "draft"
