"""The full case the API answers (GET, PUT assessment, transitions): the same answer as the
ORM relationships give, in a fixed number of statements whatever the items and sign-offs."""

from __future__ import annotations

import contextlib
import json

import psycopg
import pytest
from sqlalchemy import event, text

from htsd_workflow.api.framework import _schema
from htsd_workflow.api.schemas import CaseSchema
from htsd_workflow.cases.engine import get_registry
from htsd_workflow.cases.models import Case
from htsd_workflow.cases.operations import (
    allowed_triggers,
    assessment_result,
    claim_case,
    fire_trigger,
    save_assessment,
)
from htsd_workflow.extensions import db
from tests.factories import COMMUNE, PROVINCE


def _through_the_orm(case_id: int, user) -> dict:
    """The answer built the straightforward way: lazy relationships, marshmallow, JSON."""
    db.session.expire_all()
    case = db.session.get(Case, case_id)
    cset_items = {item.code: item for item in case.items}
    result = assessment_result(case)
    cset = get_registry().criteria_set(case.criteria_set_id)
    answer = {
        "id": case.id,
        "subject": {"id": case.subject.id, "name": case.subject.name, "kind": case.subject.kind},
        "title": case.title,
        "year": case.year,
        "state": case.state,
        "version": case.version,
        "unit_code": case.commune_code or case.district_code or case.province_code,
        "due_at": case.due_at,
        "claimed_by": case.claimed_by.username if case.claimed_by_id else None,
        "is_escalated": bool(case.is_escalated),
        "workflow": case.workflow,
        "returned_from": case.returned_from,
        "is_extended": bool(case.is_extended),
        "allowed_triggers": allowed_triggers(case, user),
        "assessment": {
            "criteria_set_id": cset.id,
            "items": [
                {
                    "code": ci.code,
                    "label": ci.label,
                    "max_points": ci.max_points,
                    "score": getattr(cset_items.get(ci.code), "score", None),
                    "evidence": getattr(cset_items.get(ci.code), "evidence", None),
                    "reviewed_score": getattr(cset_items.get(ci.code), "reviewed_score", None),
                    "review_note": getattr(cset_items.get(ci.code), "review_note", None),
                }
                for ci in cset.items
            ],
            "total": result.total,
            "passed": result.passed,
            "missing": list(result.missing),
            "kind": cset.kind,
            "level": None,
            "level_applied": None,
        },
        "sign_offs": [
            {"department": s.department, "user": s.user.username, "at": s.at}
            for s in case.sign_offs
        ],
        "part_claims": [
            {"part": c.part, "user": c.user.username, "at": c.claimed_at}
            for c in sorted(case.part_claims, key=lambda c: c.part)
        ],
        "decision": _decision_through_the_orm(case),
    }
    db.session.rollback()
    return json.loads(json.dumps(_schema(CaseSchema).dump(answer)))


def _decision_through_the_orm(case) -> dict | None:
    from sqlalchemy import select

    from htsd_workflow.decisions.models import DecisionEntry

    entry = db.session.scalar(select(DecisionEntry).where(DecisionEntry.case_id == case.id))
    if entry is None or not entry.decision.is_issued:
        return None
    return {
        "number": entry.decision.number,
        "date": entry.decision.issued_on,
        "body_name": entry.decision.body_name,
        "certificate": f"/api/v1/cases/{case.id}/certificate",
    }


def _provincial_case(make):
    """A case at the joint provincial stage of a ĐBKK commune: one department has signed, the
    other has claimed it and adjusted a score with a note."""
    case, _ = make.case_in("provincial_confirmation")
    db.session.execute(text("UPDATE units SET is_dbkk = true WHERE code = :c"), {"c": COMMUNE})
    culture = make.reviewer("culture_reviewer", PROVINCE)
    education = make.reviewer("education_reviewer", PROVINCE)
    fire_trigger(case.id, "sign", culture)
    claim_case(case.id, education)
    db.session.commit()
    code = get_registry().criteria_set(case.criteria_set_id).items[0].code
    save_assessment(case.id, [{"code": code, "score": 0, "note": "Chưa đủ minh chứng"}], education)
    db.session.commit()
    return case.id, education


def test_the_answer_is_what_the_relationships_give(ctx, api, make):
    case_id, education = _provincial_case(make)
    client = api(education)
    shown = client.get(f"/cases/{case_id}")
    assert shown.status_code == 200
    expected = _through_the_orm(case_id, education)
    assert shown.json == expected
    # what makes this case worth comparing: a claim, a reviewed score, a sign-off, ĐBKK
    assert expected["claimed_by"] is None  # at a joint stage a claim holds a department's part
    assert [(c["part"], c["user"]) for c in expected["part_claims"]] == [
        ("education", education.username)
    ]
    assert len(expected["sign_offs"]) == 1
    assert any(i["review_note"] for i in expected["assessment"]["items"])

    signed = client.post(f"/cases/{case_id}/transitions", json={"trigger": "sign"})
    assert signed.status_code == 200, signed.json
    assert signed.json == _through_the_orm(case_id, education)
    assert len(signed.json["sign_offs"]) == 2


def test_a_draft_without_items_and_a_filled_one(ctx, api, make):
    draft, applicant = make.draft()
    client = api(applicant)
    assert client.get(f"/cases/{draft.id}").json == _through_the_orm(draft.id, applicant)
    some = get_registry().criteria_set(draft.criteria_set_id).items[:2]
    filled = client.put(
        f"/cases/{draft.id}/assessment",
        json={"items": [{"code": i.code, "score": i.max_points, "evidence": "Có"} for i in some]},
    )
    assert filled.status_code == 200
    assert filled.json == _through_the_orm(draft.id, applicant)


@contextlib.contextmanager
def statements():
    """Count the statements sent to the database: at the driver on PostgreSQL (the case
    operations send some straight through the session's psycopg cursor), else through
    SQLAlchemy."""
    counted = []
    if db.engine.dialect.name == "postgresql":
        execute = psycopg.Cursor.execute

        def recording(cursor, query, params=None, **kwargs):
            counted.append(query if isinstance(query, str) else query.as_string(cursor))
            return execute(cursor, query, params, **kwargs)

        psycopg.Cursor.execute = recording
        try:
            yield counted
        finally:
            psycopg.Cursor.execute = execute
    else:

        def count(_conn, _cursor, statement, *args):
            counted.append(statement)

        event.listen(db.engine, "before_cursor_execute", count)
        try:
            yield counted
        finally:
            event.remove(db.engine, "before_cursor_execute", count)


def test_the_answer_takes_the_same_statements_whatever_the_items_and_sign_offs(ctx, api, make):
    # the same stage, the same reviewer: no sign-off yet, or one sign-off, a claim and a note
    unsigned, _ = make.case_in("provincial_confirmation")
    unsigned_id = unsigned.id
    signed_id, education = _provincial_case(make)
    client = api(education)
    with statements() as few:
        assert client.get(f"/cases/{unsigned_id}").status_code == 200
    with statements() as many:
        assert client.get(f"/cases/{signed_id}").status_code == 200
    assert len(few) == len(many)
    # an approval: every item scored, or no item rows at all
    full, _ = make.case_in("commune_review")
    bare, _ = make.case_in("commune_review")
    full_id, bare_id = full.id, bare.id
    db.session.execute(text("DELETE FROM assessment_items WHERE case_id = :c"), {"c": bare_id})
    reviewer = api(make.reviewer("commune_reviewer", COMMUNE))
    with statements() as with_items:
        answer = reviewer.post(f"/cases/{full_id}/transitions", json={"trigger": "approve"})
    assert answer.status_code == 200 and len(answer.json["assessment"]["items"]) > 1
    with statements() as without_items:
        answer = reviewer.post(
            f"/cases/{bare_id}/transitions",
            json={"trigger": "approve", "override_reason": "Hồ sơ giấy đã kiểm"},
        )
    assert answer.status_code == 200 and answer.json["assessment"]["missing"]
    assert len(with_items) == len(without_items)


@pytest.mark.postgres_only
def test_an_approval_over_the_api_is_six_statements(ctx, api, make):
    """The token with its user, the row lock, the score against the pass mark, the write, the
    case's facts with its sign-offs, its items (BEGIN and COMMIT aside; no lazy loads)."""
    case, _ = make.case_in("commune_review")
    case_id = case.id
    client = api(make.reviewer("commune_reviewer", COMMUNE))
    db.session.remove()
    with statements() as sent:
        answer = client.post(f"/cases/{case_id}/transitions", json={"trigger": "approve"})
    assert answer.status_code == 200 and answer.json["state"] == "district_verification"
    sent = [s for s in sent if s.strip() not in ("", ";", "SELECT 1")]  # the pool's pre-ping
    assert len(sent) == 6, sent
