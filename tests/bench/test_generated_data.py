"""The benchmark data generator writes what the core operations would have written.

A small run (about 500 cases) on the test PostgreSQL database, then checks over every row:
history chains, case columns, stage visits, sign-offs, assessment items and accounts — and
that the core accepts the generated cases (a reviewer can act on them).
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime

import pytest
from click.testing import CliRunner
from sqlalchemy import select, text

from bench.data import append_cases, generate
from bench.data.cli import bench
from bench.data.dataset import BenchDataError
from htsd_workflow import create_app
from htsd_workflow.auth.models import User
from htsd_workflow.cases.engine import get_registry
from htsd_workflow.cases.models import Case
from htsd_workflow.cases.operations import fire_trigger
from htsd_workflow.core.calendar import get_calendar
from htsd_workflow.criteria.scoring import compute_result
from htsd_workflow.extensions import db
from htsd_workflow.geography.queries import dbkk_communes

NOW = datetime(2026, 11, 27, 3, 0)  # a Friday, 10:00 in Kon Tum
FINAL = {"recognized", "rejected", "withdrawn"}
REVIEW = {"commune_review", "district_verification", "provincial_confirmation"}


def rows(sql: str, **params):
    return db.session.execute(text(sql), params).mappings().all()


def events_by_case():
    history = defaultdict(list)
    for event in rows("SELECT * FROM case_events ORDER BY case_id, id"):
        history[event["case_id"]].append(event)
    return history


def check_history_and_cases(cases, history):
    """Chains gap-free from create to the case's state; case columns follow from them."""
    for case in cases:
        chain = history[case["id"]]
        assert chain[0]["trigger"] == "create" and chain[0]["from_state"] is None
        assert chain[0]["to_state"] == "draft"
        for before, after in zip(chain, chain[1:], strict=False):
            assert after["from_state"] == before["to_state"], (case["id"], before, after)
            assert after["at"] >= before["at"]
        assert chain[-1]["to_state"] == case["state"]
        moves = [e for e in chain[1:] if e["from_state"] != e["to_state"]]
        saves = [e for e in chain if e["trigger"] in ("assess", "adjust_scores")]
        assert case["version"] == 1 + len(moves) + len(saves)
        assert case["created_at"] == chain[0]["at"]
        assert case["stage_entered_at"] == (moves[-1]["at"] if moves else chain[0]["at"])
        assert case["submitted_at"] == (moves[0]["at"] if moves else None)
        assert case["is_open"] == (case["state"] not in FINAL)
        assert (case["decided_at"] is not None) == (case["state"] in FINAL)
        assert (case["due_at"] is not None) == (case["state"] in REVIEW)
        if case["state"] == "returned":
            assert case["returned_from"] == moves[-1]["from_state"]
        if case["claimed_by_id"] is not None:
            claim = [e for e in chain if e["trigger"] == "claim"][-1]
            assert claim["at"] >= case["stage_entered_at"]
            assert (claim["actor_id"], claim["at"]) == (case["claimed_by_id"], case["claimed_at"])
        signs = [e for e in chain if e["trigger"] == "sign"]
        assert all(
            json.loads(e["data"]) if isinstance(e["data"], str) else e["data"] for e in signs
        )


def check_stage_visits(cases, history):
    """One visit per stay in a stage (and per department part), closed by the event ending it."""
    calendar = get_calendar()
    registry = get_registry()
    visits = defaultdict(list)
    for visit in rows("SELECT * FROM stage_visits ORDER BY id"):
        visits[visit["case_id"]].append(visit)
    for case in cases:
        chain = history[case["id"]]
        definition = registry.definition(case["title"])
        entries = [e for e in chain if e["to_state"] in REVIEW and e["from_state"] != e["to_state"]]
        stays = [v for v in visits[case["id"]] if ":" not in v["stage"]]
        assert [(v["stage"], v["entered_at"]) for v in stays] == [
            (e["to_state"], e["at"]) for e in entries
        ]
        for visit in visits[case["id"]]:
            stage = visit["stage"].split(":")[0]
            sla = definition.states[stage].sla_days
            assert visit["due_at"] == calendar.due_at(visit["entered_at"], sla)
            assert (visit["province_code"], visit["commune_code"]) == (
                case["province_code"],
                case["commune_code"],
            )
            if visit["left_at"] is None:
                assert case["state"] == stage and case["due_at"] == visit["due_at"]
                continue
            ended = [e for e in chain if e["at"] == visit["left_at"] and e["from_state"] == stage]
            assert ended and visit["outcome"] == ended[-1]["trigger"]
            assert visit["working_days"] == calendar.elapsed_working_days(
                visit["entered_at"], visit["left_at"]
            )
            assert visit["is_late"] == (visit["left_at"] > visit["due_at"])
        open_parts = {v["stage"] for v in visits[case["id"]] if v["left_at"] is None}
        if case["state"] == "provincial_confirmation":
            signed = {
                r["department"]
                for r in rows("SELECT department FROM sign_offs WHERE case_id = :id", id=case["id"])
            }
            assert open_parts == {"provincial_confirmation"} | {
                f"provincial_confirmation:{d}" for d in {"education", "culture"} - signed
            }
        elif case["state"] in REVIEW:
            assert open_parts == {case["state"]}
        else:
            assert open_parts == set()


def check_sign_offs(cases, history):
    """Sign-offs only on recognised or provincial cases: the signatures since the stage began."""
    signed = defaultdict(set)
    for row in rows("SELECT case_id, department, user_id, at FROM sign_offs"):
        signed[row["case_id"]].add((row["department"], row["user_id"], row["at"]))
    for case in cases:
        chain = history[case["id"]]
        if case["state"] not in ("recognized", "provincial_confirmation"):
            assert not signed[case["id"]], case["id"]
            continue
        entered = [e for e in chain if e["to_state"] == "provincial_confirmation"][-1]["at"]
        signs = {
            (
                json.loads(e["data"])["department"]
                if isinstance(e["data"], str)
                else e["data"]["department"],
                e["actor_id"],
                e["at"],
            )
            for e in chain
            if e["trigger"] == "sign" and e["at"] >= entered
        }
        assert signed[case["id"]] == signs
        if case["state"] == "recognized":
            assert {d for d, _, _ in signs} == {"education", "culture"}


def check_assessment_items(cases, history):
    registry = get_registry()
    items = defaultdict(list)
    for item in rows("SELECT * FROM assessment_items ORDER BY case_id, position"):
        items[item["case_id"]].append(item)
    for case in cases:
        codes = [i.code for i in registry.criteria_set(case["criteria_set_id"]).items]
        assert [i["code"] for i in items[case["id"]]] == codes
        assessed = any(e["trigger"] == "assess" for e in history[case["id"]])
        scores = [i["score"] for i in items[case["id"]]]
        assert all(s is not None for s in scores) if assessed else all(s is None for s in scores)
        assert case["self_score"] == (sum(scores) if assessed else None)
        counted = [
            i["score"] if i["reviewed_score"] is None else i["reviewed_score"]
            for i in items[case["id"]]
        ]
        assert case["score"] == (sum(counted) if assessed else None)
        if case["state"] not in ("draft", "withdrawn"):
            assert assessed


def check_pass_marks(cases, history):
    """Every approval or signature of a case under its pass mark (the score that counts at that
    moment, the ĐBKK mark of its year) carries an override, as fire_trigger writes it."""
    registry = get_registry()
    dbkk = {}
    overridden = 0
    for case in cases:
        year = case["year"]
        if year not in dbkk:
            dbkk[year] = dbkk_communes([case["commune_code"] for case in cases], year)
        own, reviewed = {}, {}
        for event in history[case["id"]]:
            data = event["data"]
            data = json.loads(data) if isinstance(data, str) else (data or {})
            if event["trigger"] == "assess":
                own.update({change["code"]: change["new"] for change in data["items"]})
            elif event["trigger"] == "adjust_scores":
                reviewed.update({change["code"]: change["new"] for change in data["items"]})
            elif event["trigger"] in ("approve", "sign"):
                result = compute_result(
                    registry.criteria_set(case["criteria_set_id"]),
                    {**own, **reviewed},
                    case["commune_code"] in dbkk[year],
                )
                assert ("override" in data) == (not result.passed), (case["id"], event, result)
                overridden += "override" in data
    assert overridden, "some generated cases are moved on under their pass mark"


@pytest.mark.postgres_only
def test_generated_cases_keep_every_invariant_of_the_core(ctx):
    result = generate(500, years=(2024, 2026), seed=3, now=NOW)

    assert result.rows["cases"] == 500
    assert result.rows["case_events"] >= 7 * 500
    cases = rows("SELECT * FROM cases ORDER BY id")
    assert [c["id"] for c in cases] == list(range(1, 501))
    assert sorted({c["year"] for c in cases}) == [2024, 2025, 2026]
    current = {c["state"] for c in cases if c["year"] == 2026}
    assert current >= REVIEW | FINAL | {"draft", "returned"}
    overdue = [c for c in cases if c["due_at"] is not None and c["due_at"] < NOW]
    assert overdue, "some open cases are overdue"
    older = [c for c in cases if c["year"] < 2026]
    assert sum(c["state"] in FINAL for c in older) > 0.8 * len(older)

    communes = {r["code"] for r in rows("SELECT code FROM units WHERE level = 'commune'")}
    with_subjects = {r["commune_code"] for r in rows("SELECT DISTINCT commune_code FROM subjects")}
    assert communes <= with_subjects
    kinds = {
        (r["kind"], r["managing_level"])
        for r in rows("SELECT DISTINCT kind, managing_level FROM subjects")
    }
    assert {("family", "commune"), ("clan", "commune"), ("community", "commune")} <= kinds
    assert {("unit", "commune"), ("unit", "district"), ("unit", "province")} <= kinds

    history = events_by_case()
    check_history_and_cases(cases, history)
    check_stage_visits(cases, history)
    check_sign_offs(cases, history)
    check_assessment_items(cases, history)
    check_pass_marks(cases, history)

    usernames = {r["username"] for r in rows("SELECT username FROM users")}
    assert {f"xa{code}" for code in communes} <= usernames
    assert {"huyen608", "huyen615", "sogddt", "sovhttdl"} <= usernames
    assert rows("SELECT count(DISTINCT password_hash) AS n FROM users")[0]["n"] == 1

    with pytest.raises(BenchDataError, match="bench.data reset"):
        generate(10, years=(2026, 2026), now=NOW)


@pytest.mark.postgres_only
def test_the_core_accepts_generated_cases_and_appended_pools(ctx):
    generate(300, years=(2025, 2026), seed=5, now=NOW)
    for state, trigger in (
        ("commune_review", "approve"),
        ("district_verification", "approve"),
        ("provincial_confirmation", "sign"),
    ):
        case = db.session.scalars(
            select(Case).where(Case.state == state, Case.year == 2026).order_by(Case.id)
        ).first()
        username = {
            "commune_review": f"xa{case.commune_code}",
            "district_verification": f"huyen{case.district_code}",
        }.get(state)
        if username is None:
            signed = rows("SELECT department FROM sign_offs WHERE case_id = :id", id=case.id)
            username = (
                "sovhttdl" if {r["department"] for r in signed} == {"education"} else "sogddt"
            )
        reviewer = db.session.scalar(select(User).where(User.username == username))
        fire_trigger(case.id, trigger, reviewer)
        db.session.commit()
        last = rows("SELECT * FROM case_events WHERE case_id = :id ORDER BY id", id=case.id)[-1]
        assert (last["trigger"], last["from_state"], last["actor_id"]) == (
            trigger,
            state,
            reviewer.id,
        )

    ids = append_cases(20, "district_verification", ["23281", "23284"], now=NOW)
    assert ids == list(range(301, 321))
    pool = rows("SELECT * FROM cases WHERE id >= 301 ORDER BY id")
    assert {c["state"] for c in pool} == {"district_verification"}
    assert {c["commune_code"] for c in pool} == {"23281", "23284"}
    assert all(c["due_at"] > NOW for c in pool)
    history = events_by_case()
    check_history_and_cases(pool, history)
    check_stage_visits(pool, history)
    reviewer = db.session.scalar(select(User).where(User.username == "huyen608"))
    fire_trigger(ids[0], "approve", reviewer)
    db.session.commit()


def test_the_generator_refuses_sqlite_with_a_clear_message(tmp_path):
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'bench.sqlite'}",
            "SECRET_KEY": "test",
            "INSTANCE_PATH": str(tmp_path),
        }
    )
    result = CliRunner().invoke(bench, ["generate", "--cases", "10"], obj=app)
    assert result.exit_code != 0
    assert "needs PostgreSQL" in result.output
