"""``save_assessment_batch`` (many cases' scores with a few statements) writes what
``save_assessment`` (one case at a time) writes: the same items, totals, versions and history,
and refuses the same rows with the same codes — on SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import event, select

from htsd_workflow.cases.engine import get_registry
from htsd_workflow.cases.models import AssessmentItem, Case, CaseEvent
from htsd_workflow.cases.operations import (
    fire_trigger,
    save_assessment,
    save_assessment_batch,
    start_case,
)
from htsd_workflow.cases.rounds import save_assessments
from htsd_workflow.core.errors import DomainError
from htsd_workflow.extensions import db
from tests.factories import COMMUNE, OTHER_COMMUNE_SAME_DISTRICT

YEAR = 2026
SAVED_AT = datetime(2026, 3, 2, 8, 0)


def _scores(case, fraction=1.0, evidence="ok", count=None):
    items = get_registry().criteria_set(case.criteria_set_id).items[:count]
    return [
        {"code": i.code, "score": round(i.max_points * fraction, 1), "evidence": evidence}
        for i in items
    ]


def _world(make):
    village = make.subject("community", COMMUNE, name="Thôn 1")
    head = make.user("village_head", subject_id=village.id)
    officer = make.user("commune_reviewer", COMMUNE)
    return village, head, officer


def _plans(make, village, head, officer):
    """One list of (case, entries, actor, version) per way of saving, alike case by case."""
    foreign_officer = make.user("commune_reviewer", OTHER_COMMUNE_SAME_DISTRICT)
    sides = []
    for _side in range(2):
        homes = [make.subject("family", COMMUNE, community_id=village.id) for _ in range(8)]
        cases = [start_case(h.id, "family", YEAR, head) for h in homes]
        # one case already scored (the save changes some items only), one sent to review
        save_assessment(cases[1].id, _scores(cases[1], 0.5), head)
        save_assessment(cases[5].id, _scores(cases[5]), head)
        fire_trigger(cases[5].id, "submit", head)
        save_assessment(cases[7].id, _scores(cases[7]), head)
        fire_trigger(cases[7].id, "submit", head)
        elsewhere = make.subject("family", OTHER_COMMUNE_SAME_DISTRICT)
        foreign = start_case(elsewhere.id, "family", YEAR, foreign_officer)
        db.session.flush()
        review = [dict(e, note="đã xác minh", score=e["score"] - 1) for e in _scores(cases[5])]
        assert len(review) >= 3
        sides.append(
            [
                (cases[0], _scores(cases[0]), head, None),
                (cases[1], _scores(cases[1], 1.0, count=2), head, 2),
                (cases[2], _scores(cases[2], 0.5, evidence="mới", count=3), head, 1),
                (cases[3], _scores(cases[3], 9.0), head, None),  # over the maxima: refused
                (cases[4], _scores(cases[4]), head, 7),  # stale version: refused
                (cases[5], review[:3], officer, None),  # a reviewer's adjustment
                (cases[6], _scores(cases[6]), officer, None),  # commune officer on behalf
                (foreign, _scores(foreign), head, None),  # outside the territory: refused
                (
                    cases[7],
                    [dict(review[0], note="", evidence="")],
                    officer,
                    None,
                ),  # no note: refused
            ]
        )
    db.session.commit()
    return sides


#: every column of an item but its own id and its case's
ITEM_COLUMNS = [c for c in AssessmentItem.__table__.c if c.name not in ("id", "case_id")]


def _event(row):
    """A history row, its moment told only as whether it is the compared saves' (the set-up ran
    at other moments on each side)."""
    row = tuple(row)
    return row[:5] + (row[5] == SAVED_AT,) + row[6:]


def _rows(cases):
    """Everything a save writes on these cases, position by position (ids left out)."""
    ids = [c.id for c in cases]
    found = []
    for case_id in ids:
        case = db.session.get(Case, case_id)
        items = db.session.execute(
            select(*ITEM_COLUMNS)
            .where(AssessmentItem.case_id == case_id)
            .order_by(AssessmentItem.code)
        ).all()
        events = db.session.execute(
            select(
                CaseEvent.trigger,
                CaseEvent.actor_id,
                CaseEvent.actor_role,
                CaseEvent.from_state,
                CaseEvent.to_state,
                CaseEvent.at,
                CaseEvent.data,
            )
            .where(CaseEvent.case_id == case_id)
            .order_by(CaseEvent.id)
        ).all()
        found.append(
            (
                case.state,
                case.self_score,
                case.score,
                case.version,
                items,
                [_event(e) for e in events],
            )
        )
    return found


def test_a_batch_writes_the_same_rows_as_one_case_at_a_time(ctx, make):
    village, head, officer = _world(make)
    one_by_one, batched = _plans(make, village, head, officer)
    # one at a time, each in its own savepoint (as the bulk save used to)
    outcomes_one = []
    for case, entries, actor, version in one_by_one:
        try:
            with db.session.begin_nested():
                save_assessment(
                    case.id,
                    entries,
                    actor,
                    expected_version=version,
                    source={"via": "grid"},
                    now=SAVED_AT,
                )
            outcomes_one.append("saved")
        except DomainError as exc:
            outcomes_one.append(exc.code)
    db.session.commit()
    # the batch: one call per actor, as a grid or a file of one user would
    outcomes_batch = []
    for actor in (head, officer):
        rows = [
            {"case_id": c.id, "items": e, "version": v, "source": {"via": "grid"}}
            for c, e, a, v in batched
            if a is actor
        ]
        saved, failed = save_assessment_batch(rows, actor, now=SAVED_AT)
        outcomes = {f["position"]: f["code"] for f in failed}
        outcomes.update({s["position"]: "saved" for s in saved})
        outcomes_batch.append([outcomes[p] for p in range(len(rows))])
    db.session.commit()
    by_actor = [
        [o for o, p in zip(outcomes_one, one_by_one, strict=True) if p[2] is a]
        for a in (head, officer)
    ]
    assert outcomes_batch == by_actor
    assert outcomes_one == [
        "saved",
        "saved",
        "saved",
        "invalid_input",
        "conflict",
        "saved",
        "saved",
        "not_found",
        "invalid_input",
    ]
    db.session.expire_all()
    assert _rows([p[0] for p in batched]) == _rows([p[0] for p in one_by_one])


def test_the_bulk_save_of_many_cases_takes_as_many_statements_as_of_a_few(ctx, make):
    village, head, _ = _world(make)

    def statements_for(count):
        homes = [make.subject("family", COMMUNE, community_id=village.id) for _ in range(count)]
        cases = [start_case(h.id, "family", YEAR, head) for h in homes]
        db.session.commit()
        rows = [{"case_id": c.id, "items": _scores(c)} for c in cases]
        seen = []

        def count_it(*_args):
            seen.append(1)

        event.listen(db.engine, "before_cursor_execute", count_it)
        try:
            outcome = save_assessments(rows, head, submit=True, source={"via": "grid"})
        finally:
            event.remove(db.engine, "before_cursor_execute", count_it)
        assert outcome["saved"]["counts"]["succeeded"] == count
        assert outcome["submitted"]["counts"]["succeeded"] == count
        db.session.commit()
        return len(seen)

    statements_for(2)  # what is read once and kept (the working calendar) is read here
    assert statements_for(30) == statements_for(3)
