"""What a transition writes, on both databases: the fast PostgreSQL path and the SQLAlchemy path
must leave the same stage visits, sign-offs and case columns, and hand back a current case."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import insert, inspect, select, text

from htsd_workflow.cases import pg_writer
from htsd_workflow.cases.models import Case, SignOff, StageVisit
from htsd_workflow.cases.operations import fire_bulk, fire_trigger
from htsd_workflow.core import pg
from htsd_workflow.core.calendar import get_calendar
from htsd_workflow.extensions import db
from tests.factories import COMMUNE, DISTRICT, PROVINCE

MONDAY = datetime(2026, 3, 2, 2, 0)  # 09:00 in Kon Tum


def visits_of(case_id):
    return db.session.scalars(
        select(StageVisit).where(StageVisit.case_id == case_id).order_by(StageVisit.id)
    ).all()


def test_a_late_approval_closes_the_stay_with_its_working_days_and_lateness(ctx, make):
    case, _ = make.case_in("commune_review", now=MONDAY)
    reviewer = make.reviewer("commune_reviewer", COMMUNE)
    later = MONDAY + timedelta(days=20)
    moved = fire_trigger(case.id, "approve", reviewer, now=later)
    db.session.commit()
    calendar = get_calendar()
    stay, next_stay = visits_of(case.id)
    assert (stay.stage, stay.left_at, stay.outcome) == ("commune_review", later, "approve")
    assert stay.working_days == calendar.elapsed_working_days(MONDAY, later) == 14
    assert stay.is_late is True
    assert next_stay.stage == "district_verification" and next_stay.left_at is None
    assert next_stay.due_at == calendar.due_at(later, 10) == moved.due_at


def test_an_approval_in_time_is_not_late(ctx, make):
    case, _ = make.case_in("commune_review", now=MONDAY)
    reviewer = make.reviewer("commune_reviewer", COMMUNE)
    fire_trigger(case.id, "approve", reviewer, now=MONDAY + timedelta(days=3))
    db.session.commit()
    stay = visits_of(case.id)[0]
    assert (stay.working_days, stay.is_late) == (3, False)


def test_departments_close_their_own_parts_and_the_last_signature_ends_the_stage(ctx, make):
    case, _ = make.case_in("provincial_confirmation", now=MONDAY)
    education = make.reviewer("education_reviewer", PROVINCE)
    culture = make.reviewer("culture_reviewer", PROVINCE)
    first, second = MONDAY + timedelta(days=1), MONDAY + timedelta(days=30)

    after_first = fire_trigger(case.id, "sign", education, now=first)
    db.session.commit()
    assert after_first.state == "provincial_confirmation"
    assert after_first.version == case.version
    parts = {v.stage: v for v in visits_of(case.id) if v.stage.startswith("provincial")}
    assert parts["provincial_confirmation:education"].left_at == first
    assert parts["provincial_confirmation:education"].outcome == "sign"
    assert parts["provincial_confirmation:culture"].left_at is None
    assert parts["provincial_confirmation"].left_at is None

    done = fire_trigger(case.id, "sign", culture, now=second)
    db.session.commit()
    assert (done.state, done.is_open, done.decided_at) == ("recognized", False, second)
    parts = {v.stage: v for v in visits_of(case.id) if v.stage.startswith("provincial")}
    assert all(v.left_at is not None for v in parts.values())
    assert parts["provincial_confirmation:culture"].is_late is True
    assert parts["provincial_confirmation:education"].is_late is False
    departments = db.session.scalars(select(SignOff.department).where(SignOff.case_id == case.id))
    assert sorted(departments) == ["culture", "education"]


def test_a_return_to_the_district_after_one_signature_clears_it(ctx, make):
    case, _ = make.case_in("provincial_confirmation", now=MONDAY)
    education = make.reviewer("education_reviewer", PROVINCE)
    culture = make.reviewer("culture_reviewer", PROVINCE)
    fire_trigger(case.id, "sign", education, now=MONDAY + timedelta(days=1))
    back = fire_trigger(
        case.id, "return_to_district", culture, comment="Xem lại", now=MONDAY + timedelta(days=2)
    )
    db.session.commit()
    assert back.state == "district_verification"
    assert db.session.scalar(select(SignOff.id).where(SignOff.case_id == case.id)) is None
    open_stays = [v.stage for v in visits_of(case.id) if v.left_at is None]
    assert open_stays == ["district_verification"]
    closed = [v for v in visits_of(case.id) if v.stage == "provincial_confirmation:culture"]
    assert closed[0].outcome == "return_to_district"


def test_bulk_closes_each_case_by_its_own_stay(ctx, make):
    early, _ = make.case_in("commune_review", now=MONDAY)
    late, _ = make.case_in("commune_review", now=MONDAY + timedelta(days=14))
    reviewer = make.reviewer("commune_reviewer", COMMUNE)
    when = MONDAY + timedelta(days=16)
    result = fire_bulk([early.id, late.id], "approve", reviewer, now=when)
    db.session.commit()
    assert len(result.succeeded) == 2
    first, second = visits_of(early.id)[0], visits_of(late.id)[0]
    assert (first.working_days, first.is_late) == (12, True)
    assert (second.working_days, second.is_late) == (2, False)


@pytest.mark.postgres_only
def test_closing_a_visit_finds_it_by_its_case_not_by_a_moment_many_visits_share(ctx, make):
    """A bulk call opens its cases' next visits at one moment; closing one of them later must
    look it up by case (``ix_stage_visits_open``), not read every visit begun at that moment
    through the reports' index on ``entered_at``."""
    from bench.capture import capture

    cases = [make.case_in("commune_review", now=MONDAY)[0] for _ in range(40)]
    reviewer = make.reviewer("commune_reviewer", COMMUNE)
    result = fire_bulk([c.id for c in cases], "approve", reviewer, now=MONDAY + timedelta(days=1))
    db.session.commit()
    assert len(result.succeeded) == 40  # 40 district visits, all begun at the same moment
    # as in a province's table: thousands of other open visits, each begun at its own moment
    # (so that a moment looks selective to the planner) — here all on one old case
    other, _ = make.case_in("commune_review", now=MONDAY)
    db.session.execute(
        text(
            "INSERT INTO stage_visits (case_id, stage, title, year, province_code, entered_at, "
            "is_escalated) SELECT :case, 'commune_review', 'family', 2025, '62', "
            "timestamp '2025-01-01' + n * interval '1 minute', false "
            "FROM generate_series(1, 5000) AS n"
        ),
        {"case": other.id},
    )
    db.session.execute(text("ANALYZE stage_visits"))
    db.session.commit()
    district = make.reviewer("district_reviewer", DISTRICT)
    later = MONDAY + timedelta(days=3)
    captured = capture(lambda: fire_trigger(cases[0].id, "approve", district, now=later))
    statement = next(s for s in captured.statements if s.sql.startswith("WITH"))
    db.session.rollback()
    cur = pg.cursor()
    cur.execute("EXPLAIN " + statement.sql, statement.params)
    plan = "\n".join(row[0] for row in cur.fetchall())
    closed = plan[plan.index("CTE closed") : plan.index("CTE opened")]
    assert "Index Cond: (entered_at" not in closed, plan
    assert "Index Cond: ((case_id = e.case_id) AND (left_at IS NULL))" in closed, plan
    db.session.rollback()


@pytest.mark.postgres_only
def test_the_bulk_reference_closes_each_case_by_its_own_stay(ctx, make):
    """The bench's replay of a bulk call (its reference) must do what the call did on other
    cases: close each one's own stay, whose start it reads under the lock — not the captured
    cases' starts, which would match nothing and leave the visits open."""
    import psycopg

    from bench.capture import capture, replay

    reviewer = make.reviewer("commune_reviewer", COMMUNE)
    captured_cases = [
        make.case_in("commune_review", now=MONDAY + timedelta(hours=n))[0].id for n in range(3)
    ]
    other_cases = [
        make.case_in("commune_review", now=MONDAY + timedelta(days=2, hours=n))[0].id
        for n in range(3)
    ]
    db.session.commit()
    later = MONDAY + timedelta(days=5)

    def approve_all():
        assert len(fire_bulk(captured_cases, "approve", reviewer, now=later).succeeded) == 3
        db.session.commit()

    captured = capture(approve_all)
    url = db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url) as connection:
        replay(connection, captured, dict(zip(captured_cases, other_cases, strict=True)))
    db.session.expire_all()
    for case_id in captured_cases + other_cases:
        assert db.session.get(Case, case_id).state == "district_verification"
        stays = visits_of(case_id)
        assert [(v.stage, v.left_at is None) for v in stays] == [
            ("commune_review", False),
            ("district_verification", True),
        ], case_id


def test_an_open_visit_from_another_stay_stops_the_transition(ctx, make):
    case, _ = make.case_in("commune_review", now=MONDAY)
    db.session.execute(
        insert(StageVisit).values(
            case_id=case.id,
            stage="commune_review",
            title="family",
            year=case.year,
            province_code=PROVINCE,
            district_code=DISTRICT,
            commune_code=COMMUNE,
            entered_at=MONDAY - timedelta(days=40),
            is_escalated=False,
        )
    )
    db.session.commit()
    reviewer = make.reviewer("commune_reviewer", COMMUNE)
    with pytest.raises(RuntimeError, match="stage_visits"):
        fire_trigger(case.id, "approve", reviewer, now=MONDAY + timedelta(days=1))
    db.session.rollback()
    assert db.session.get(Case, case.id).state == "commune_review"


def test_the_case_handed_back_is_current_even_if_the_caller_held_it(ctx, make):
    case, _ = make.case_in("commune_review", now=MONDAY)
    case_id, subject_id = case.id, case.subject_id
    reviewer = make.reviewer("commune_reviewer", COMMUNE)
    held = db.session.get(Case, case_id)
    version = held.version
    moved = fire_trigger(case_id, "approve", reviewer, now=MONDAY + timedelta(days=1))
    assert moved is held
    assert (held.state, held.version) == ("district_verification", version + 1)
    assert held.stage_entered_at == MONDAY + timedelta(days=1)
    assert held.subject.id == subject_id
    db.session.commit()
    district = make.reviewer("district_reviewer", DISTRICT)
    db.session.refresh(district)  # a request's user: loaded once, then only read
    db.session.expunge_all()
    fresh = fire_trigger(case_id, "approve", district)
    assert (fresh.state, fresh.version) == ("provincial_confirmation", version + 2)
    assert fresh.subject.name
    db.session.commit()
    assert db.session.get(Case, case_id).state == "provincial_confirmation"


def test_the_case_handed_back_is_a_clean_persistent_instance_of_the_session(ctx, make):
    """The returned case (put in the session the way the ORM's loader does, when the session
    did not hold it) is persistent, has nothing to flush, is the session's own instance, and
    expires on commit like any loaded object."""
    case, _ = make.case_in("commune_review", now=MONDAY)
    case_id, subject_id = case.id, case.subject_id
    reviewer = make.reviewer("commune_reviewer", COMMUNE)
    db.session.refresh(reviewer)
    db.session.expunge_all()
    moved = fire_trigger(case_id, "approve", reviewer, now=MONDAY + timedelta(days=1))
    state = inspect(moved)
    assert state.persistent and state.session is db.session()
    assert not db.session.dirty and not db.session.new and not state.modified
    assert db.session.get(Case, case_id) is moved
    assert moved.subject.id == subject_id  # relationships load when used
    db.session.commit()
    assert "state" not in moved.__dict__  # expired on commit
    assert moved.state == "district_verification"  # and reloaded


@pytest.mark.postgres_only
def test_the_postgres_path_reuses_one_cursor_per_connection(ctx, make):
    case, _ = make.case_in("commune_review", now=MONDAY)
    reviewer = make.reviewer("commune_reviewer", COMMUNE)
    first = pg.cursor()
    assert first.connection is db.session.connection().connection.driver_connection
    fire_trigger(case.id, "approve", reviewer, now=MONDAY + timedelta(days=1))
    assert pg.cursor() is first  # same connection: same cursor
    assert first.row_factory is pg_writer.tuple_row  # the lock's row factory is put back
    first.close()
    again = pg.cursor()  # a closed one is replaced
    assert again is not first and not again.closed
    assert pg.cursor() is again
    db.session.commit()
    assert db.session.get(Case, case.id).state == "district_verification"
