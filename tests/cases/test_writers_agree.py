"""The two writers of a transition write the same rows: the PostgreSQL statement that
``pg_writer`` renders from ``cases.rules``, and the SQLAlchemy statements, on PostgreSQL.

Two identical cases walk the workflow side by side, one written by each path; after every
transition their case rows, history, stage visits, sign-offs, part claims and outbox rows must
be the same (ids aside). The walk fires every trigger from every source stage of every title's
definition (and of a unit managed by a district and by the province), in the three-tier and
the two-tier workflow sets.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update

from htsd_workflow import create_app
from htsd_workflow.cases.engine import get_registry
from htsd_workflow.cases.models import Case, CaseEvent, PartClaim, SignOff, StageVisit
from htsd_workflow.cases.operations import allowed_triggers, fire_trigger
from htsd_workflow.core import pg
from htsd_workflow.extensions import db
from htsd_workflow.notifications.models import OutboxMessage
from tests.factories import COMMUNE, DISTRICT, PROVINCE, Factory

pytestmark = pytest.mark.postgres_only

MONDAY = datetime(2026, 3, 2, 2, 0)
REVIEWERS = {
    "commune_reviewer": COMMUNE,
    "district_reviewer": DISTRICT,
    "education_reviewer": PROVINCE,
    "culture_reviewer": PROVINCE,
    "province_officer": PROVINCE,
}
#: per title, the units its subjects are walked from (a unit may be managed by the commune,
#: the district or the province: each enters the workflow at its own level)
SUBJECTS = {
    "family": [COMMUNE],
    "clan": [COMMUNE],
    "community": [COMMUNE],
    "unit": [COMMUNE, DISTRICT, PROVINCE],
}
#: columns that differ between two cases by construction
IDS = {"id", "case_id", "event_id", "subject_id"}


#: columns that name a user (each case has its own applicant)
USERS = {"actor_id", "user_id", "claimed_by_id", "entered_by_id", "reviewed_by_id"}


def _values(row, model, applicant: int) -> dict:
    values = {}
    for column in model.__mapper__.columns:
        value = getattr(row, column.key)
        if column.name in USERS and value == applicant:
            value = "the applicant"
        if column.name == "payload" and value.get("actor_id") == applicant:
            value = {**value, "actor_id": "the applicant"}
        if column.name not in IDS:
            values[column.name] = value
    return values


def _rows(model, case_id, order, applicant):
    rows = db.session.scalars(select(model).where(model.case_id == case_id).order_by(*order))
    return [_values(row, model, applicant) for row in rows]


def written(case_id: int, applicant: int) -> dict:
    db.session.expire_all()
    return {
        "case": _values(db.session.get(Case, case_id), Case, applicant),
        "history": _rows(CaseEvent, case_id, [CaseEvent.id], applicant),
        "visits": _rows(StageVisit, case_id, [StageVisit.stage, StageVisit.id], applicant),
        "sign_offs": _rows(SignOff, case_id, [SignOff.department], applicant),
        "part_claims": _rows(PartClaim, case_id, [PartClaim.part], applicant),
        "outbox": _rows(OutboxMessage, case_id, [OutboxMessage.id], applicant),
    }


def fire_both(monkeypatch, pair, trigger, actors, now):
    """Fire on the first case through the PostgreSQL writer, on the second through the
    SQLAlchemy writer (no psycopg cursor), with the same moment, comment and reason."""
    options = {"comment": "Cần bổ sung", "override_reason": "Vẫn chuyển tiếp", "now": now}
    # what a move resets, set beforehand on both (an extension, an escalation rung)
    db.session.execute(
        update(Case)
        .where(Case.id.in_(pair))
        .values(is_extended=True, escalation_rung=2, is_escalated=True)
    )
    fast = fire_trigger(pair[0], trigger, actors[0], **options)
    with monkeypatch.context() as patched:
        patched.setattr(pg, "cursor", lambda: None)
        portable = fire_trigger(pair[1], trigger, actors[1], **options)
    db.session.commit()
    return fast, portable


@pytest.mark.parametrize("title", SUBJECTS)
def test_both_writers_write_the_same_rows_for_every_trigger(ctx, make, monkeypatch, title):
    walk_every_trigger(make, monkeypatch, title)


@pytest.mark.parametrize("title", SUBJECTS)
def test_both_writers_agree_on_the_two_tier_definitions(ctx, monkeypatch, tmp_path, title):
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
        try:
            walk_every_trigger(Factory(), monkeypatch, title)
        finally:
            db.session.remove()
            db.engine.dispose()


def walk_every_trigger(make, monkeypatch, title):
    """Walk pairs of cases until every (trigger, source stage) of the title's definition has
    fired, comparing the two writers' rows after each transition."""
    assert pg.cursor() is not None  # the fast path is there to compare with
    definition = get_registry().definition(title)
    to_cover = {(t.trigger, source) for t in definition.transitions for source in t.sources}
    reviewers = {role: make.reviewer(role, where) for role, where in REVIEWERS.items()}
    covered: set[tuple[str, str]] = set()
    for walk in range(3 * len(to_cover)):
        unit = SUBJECTS[title][walk % len(SUBJECTS[title])]
        if covered >= to_cover:
            break
        now = MONDAY  # each walk within the round's year
        drafts = [make.draft(title, unit, now=now) for _ in range(2)]
        pair = [case.id for case, _ in drafts]
        applicants = [applicant for _, applicant in drafts]
        for _step in range(12):
            case = db.session.get(Case, pair[0])
            if not case.is_open and case.state != "recognized":
                break  # a recognition may still be revoked; other final states end the walk
            options = [
                (trigger, who)
                for who in ["applicant", *reviewers]
                for trigger in allowed_triggers(
                    case, applicants[0] if who == "applicant" else reviewers[who]
                )
            ]
            if not options:
                break
            fresh = [o for o in options if (o[0], case.state) not in covered]
            forward = [o for o in options if o[0] in ("submit", "resubmit", "approve", "sign")]
            trigger, who = (fresh or forward or options)[0]
            actors = applicants if who == "applicant" else [reviewers[who]] * 2
            source = case.state
            covered.add((trigger, source))
            now += timedelta(days=3, hours=5)
            fast, portable = fire_both(monkeypatch, pair, trigger, actors, now)
            assert (fast.state, fast.version) == (portable.state, portable.version)
            same = written(pair[0], applicants[0].id) == written(pair[1], applicants[1].id)
            assert same, (title, trigger, source)
    assert covered >= to_cover, sorted(to_cover - covered)
