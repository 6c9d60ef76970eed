"""Races on one case, with real concurrent connections: the same outcome on PostgreSQL (row locks)
and on the embedded SQLite default (a locking read takes the write lock: core/sqlite.py)."""

from __future__ import annotations

import threading
import time
from datetime import date

import pytest
from sqlalchemy import func, select

from htsd_workflow.cases.models import Case, CaseEvent, SignOff
from htsd_workflow.cases.operations import claim_case, fire_bulk, fire_trigger
from htsd_workflow.core.errors import Conflict
from htsd_workflow.extensions import db
from htsd_workflow.sla.operations import extend_deadline
from tests.factories import COMMUNE, PROVINCE


def run_in_thread(app, func, results, key, *, hold=None, started=None):
    """Run ``func`` in its own app context (own connection); commit, or record the error."""

    def target():
        with app.app_context():
            try:
                value = func()
                if started is not None:
                    started.set()
                if hold is not None:
                    hold.wait(5)
                db.session.commit()
                results[key] = ("ok", value)
            except Exception as exc:  # noqa: BLE001 - the test inspects it
                db.session.rollback()
                results[key] = ("error", exc)
                if started is not None:
                    started.set()
            finally:
                db.session.remove()

    thread = threading.Thread(target=target)
    thread.start()
    return thread


def firing(case_id, trigger, user, **options):
    """What a racer does: fire ``trigger`` on the case as ``user`` (loaded in the racer's own
    session), answering the state it reached."""
    return lambda: fire_trigger(
        case_id, trigger, db.session.get(type(user), user.id), **options
    ).state


def two_racers(app, first, second):
    """``first`` takes the row lock and holds it while ``second`` starts and waits."""
    results = {}
    hold, started = threading.Event(), threading.Event()
    a = run_in_thread(app, first, results, "first", hold=hold, started=started)
    started.wait(5)
    b = run_in_thread(app, second, results, "second")
    time.sleep(0.3)  # the second is now blocked on the row lock
    assert "second" not in results, "the second action did not wait for the row lock"
    hold.set()
    a.join(10)
    b.join(10)
    return results


def test_two_commune_reviewers_approving_at_once_exactly_one_wins(ctx, make):
    case, _ = make.case_in("commune_review")
    one = make.user("commune_reviewer", COMMUNE)
    two = make.user("commune_reviewer", COMMUNE)
    case_id, version = case.id, case.version
    db.session.commit()
    results = two_racers(
        ctx,
        firing(case_id, "approve", one, expected_version=version),
        firing(case_id, "approve", two, expected_version=version),
    )
    assert results["first"] == ("ok", "district_verification")
    kind, error = results["second"]
    assert kind == "error" and isinstance(error, Conflict)
    db.session.expire_all()
    approvals = db.session.scalar(
        select(func.count()).where(CaseEvent.case_id == case_id, CaseEvent.trigger == "approve")
    )
    assert approvals == 1


def test_approve_against_return_one_wins_even_without_versions(ctx, make):
    case, _ = make.case_in("commune_review")
    one = make.user("commune_reviewer", COMMUNE)
    two = make.user("commune_reviewer", COMMUNE)
    case_id = case.id
    results = two_racers(
        ctx,
        firing(case_id, "approve", one),
        firing(case_id, "return_to_applicant", two, comment="Thiếu"),
    )
    assert results["first"][0] == "ok"
    assert results["second"][0] == "error" and isinstance(results["second"][1], Conflict)
    db.session.expire_all()
    assert db.session.get(Case, case_id).state == "district_verification"


def test_both_departments_signing_at_once_records_both_and_recognises_once(ctx, make):
    case, _ = make.case_in("provincial_confirmation")
    education = make.reviewer("education_reviewer", PROVINCE)
    culture = make.reviewer("culture_reviewer", PROVINCE)
    case_id, version = case.id, case.version
    results = two_racers(
        ctx,
        firing(case_id, "sign", education, expected_version=version),
        firing(case_id, "sign", culture, expected_version=version),
    )
    assert results["first"] == ("ok", "provincial_confirmation")
    assert results["second"] == ("ok", "recognized")
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).where(SignOff.case_id == case_id)) == 2
    recognitions = db.session.scalar(
        select(func.count()).where(CaseEvent.case_id == case_id, CaseEvent.to_state == "recognized")
    )
    assert recognitions == 1


def test_signatures_released_by_a_barrier_both_count(ctx, make):
    """No hold: two threads fire at the same instant, many times over."""
    education = make.reviewer("education_reviewer", PROVINCE)
    culture = make.reviewer("culture_reviewer", PROVINCE)
    for _ in range(5):
        case, _ = make.case_in("provincial_confirmation")
        barrier = threading.Barrier(2)
        results = {}

        def sign(user, key, case_id=case.id, barrier=barrier, results=results):
            with ctx.app_context():
                try:
                    barrier.wait(5)
                    fire_trigger(case_id, "sign", db.session.get(type(user), user.id))
                    db.session.commit()
                    results[key] = "ok"
                except Exception as exc:  # noqa: BLE001
                    db.session.rollback()
                    results[key] = exc
                finally:
                    db.session.remove()

        threads = [
            threading.Thread(target=sign, args=(education, "education")),
            threading.Thread(target=sign, args=(culture, "culture")),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert results == {"education": "ok", "culture": "ok"}
        db.session.expire_all()
        assert db.session.get(Case, case.id).state == "recognized"


def test_one_department_signing_twice_at_once_gives_one_conflict(ctx, make):
    """Not a 500 (the second insert of the same department's signature): a clear conflict."""
    case, _ = make.case_in("provincial_confirmation")
    one = make.user("education_reviewer", PROVINCE)
    two = make.user("education_reviewer", PROVINCE)
    case_id = case.id
    results = two_racers(
        ctx,
        firing(case_id, "sign", one),
        firing(case_id, "sign", two),
    )
    assert results["first"] == ("ok", "provincial_confirmation")
    kind, error = results["second"]
    assert kind == "error" and isinstance(error, Conflict), error
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).where(SignOff.case_id == case_id)) == 1


def test_two_reviewers_claiming_at_once_one_holds_the_case(ctx, make):
    case, _ = make.case_in("commune_review")
    one = make.user("commune_reviewer", COMMUNE)
    two = make.user("commune_reviewer", COMMUNE)
    case_id = case.id
    results = two_racers(
        ctx,
        lambda: claim_case(case_id, db.session.get(type(one), one.id)).claimed_by_id,
        lambda: claim_case(case_id, db.session.get(type(two), two.id)).claimed_by_id,
    )
    assert results["first"] == ("ok", one.id)
    kind, error = results["second"]
    assert kind == "error" and isinstance(error, Conflict), error
    db.session.expire_all()
    assert db.session.get(Case, case_id).claimed_by_id == one.id
    claims = db.session.scalar(
        select(func.count()).where(CaseEvent.case_id == case_id, CaseEvent.trigger == "claim")
    )
    assert claims == 1


@pytest.mark.pinned_clock
def test_two_deadline_extensions_at_once_extend_once(ctx, make):
    case, _ = make.case_in("commune_review")
    one = make.user("commune_reviewer", COMMUNE)
    two = make.user("commune_reviewer", COMMUNE)
    case_id = case.id
    results = two_racers(
        ctx,
        lambda: extend_deadline(
            case_id, db.session.get(type(one), one.id), date(2027, 1, 8), "Chờ họp thôn"
        ).is_extended,
        lambda: extend_deadline(
            case_id, db.session.get(type(two), two.id), date(2027, 1, 8), "Chờ họp xã"
        ).is_extended,
    )
    assert results["first"] == ("ok", True)
    kind, error = results["second"]
    assert kind == "error" and isinstance(error, Conflict), error
    db.session.expire_all()
    extensions = db.session.scalar(
        select(func.count()).where(
            CaseEvent.case_id == case_id, CaseEvent.trigger == "extend_deadline"
        )
    )
    assert extensions == 1


def test_bulk_and_single_approval_on_the_same_case_do_not_both_apply(ctx, make):
    cases = [make.case_in("commune_review")[0] for _ in range(3)]
    one = make.user("commune_reviewer", COMMUNE)
    two = make.user("commune_reviewer", COMMUNE)
    ids = [c.id for c in cases]
    results = two_racers(
        ctx,
        firing(ids[1], "approve", one),
        lambda: fire_bulk(ids, "approve", db.session.get(type(two), two.id)).as_dict(),
    )
    bulk = results["second"][1]
    assert [f["id"] for f in bulk["failed"]] == [ids[1]]
    assert bulk["failed"][0]["code"] == "conflict"
    assert sorted(s["id"] for s in bulk["succeeded"]) == [ids[0], ids[2]]


@pytest.mark.postgres_only
def test_history_rows_cannot_be_changed_or_deleted(ctx, make):
    case, _ = make.case_in("commune_review")
    db.session.commit()
    with pytest.raises(Exception, match="append-only"):
        db.session.execute(
            CaseEvent.__table__.update().where(CaseEvent.case_id == case.id).values(comment="x")
        )
    db.session.rollback()
    with pytest.raises(Exception, match="append-only"):
        db.session.execute(CaseEvent.__table__.delete().where(CaseEvent.case_id == case.id))
    db.session.rollback()
