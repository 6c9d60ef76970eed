"""Beside the other engines (``--only engines``): the four-step chain on each, per action.

submit (the household's applicant) → approve (the commune reviewer) → approve (the district
reviewer) → sign (the education department), one action per transaction with its history row,
one connection per engine, on the same PostgreSQL: this project's ``fire_trigger`` on fresh
draft cases (appended, assessed), SpiffWorkflow and python-statemachine as ``bench/peers.py``
persists them. The engines take turns round by round (the same machine load for each), and
each round checks that every instance went through the whole chain. Printed: actions/s
(wall clock: moves with the machine's load) and client CPU per action (the process's own CPU:
other work hardly moves it), and the project's ratio to each peer.
"""

from __future__ import annotations

import statistics
import time

from sqlalchemy import select, text

from bench.context import BenchContext, Figure
from bench.data import append_cases
from bench.data.load import connect
from bench.peers import CHAIN, create_tables, drop_tables, peer_engines, run_chain
from bench.transitions import _detached_users, _one_connection
from htsd_workflow.auth.models import User
from htsd_workflow.cases.operations import fire_trigger
from htsd_workflow.extensions import db
from htsd_workflow.geography.models import Unit

ROUNDS = 3
#: what each engine does per action that the others do not
DOES = {
    "htsd": (
        "role, territory and claim checks against the acting user, guards (assessment "
        "complete, pass mark, joint sign-offs), the working-day deadline, the stage visits it "
        "ends and begins (with lateness), the case's counters and version, a history row with "
        "the facts, an outbox row and, after the commit, a notice to the worker (Redis); "
        "sign records the department's sign-off (one of two: the case waits for the other)"
    ),
    "SpiffWorkflow": (
        "deserializes and re-serializes the whole instance (spec and task tree, a few kB of "
        "JSON) to run one user task; checks only that the task is the ready one of its lane"
    ),
    "python-statemachine": (
        "builds a machine on the model and checks that the event leaves the current state; "
        "writes the state and a history row; no user, territory, guard, deadline or outbox"
    ),
}


def _project_chain(ctx: BenchContext, count: int):
    """Fresh draft cases, their actors (loaded once, as a request loads its user) and the
    function running the chain on them."""
    communes = db.session.scalars(
        select(Unit.code).where(Unit.level == "commune").order_by(Unit.code)
    ).all()[:10]
    ids = append_cases(count, "draft", communes)
    rows = db.session.execute(
        text(
            "SELECT c.id, u.id AS applicant, c.commune_code, c.district_code FROM cases c "
            "JOIN users u ON u.subject_id = c.subject_id AND u.role = 'applicant' "
            "WHERE c.id = ANY(:ids) ORDER BY c.id"
        ),
        {"ids": ids},
    ).all()
    db.session.commit()
    if len(rows) != len(ids):
        raise RuntimeError("an appended case has no applicant account")
    reviewers = _detached_users(
        {"sogddt"}
        | {f"xa{r.commune_code}" for r in rows}
        | {f"huyen{r.district_code}" for r in rows}
    )
    applicants = {
        u.id: u
        for u in db.session.scalars(select(User).where(User.id.in_([r.applicant for r in rows])))
    }
    for user in applicants.values():
        db.session.expunge(user)
    db.session.commit()
    actor_of = {
        "applicant": lambda r: applicants[r.applicant],
        "commune": lambda r: reviewers[f"xa{r.commune_code}"],
        "district": lambda r: reviewers[f"huyen{r.district_code}"],
        "education": lambda r: reviewers["sogddt"],
    }
    steps = [[(r.id, actor_of[actor](r)) for r in rows] for _, actor in CHAIN]

    def run() -> None:
        with _one_connection():
            for (trigger, _), step in zip(CHAIN, steps, strict=True):
                for case_id, user in step:
                    fire_trigger(case_id, trigger, user)
                    db.session.commit()

    return ids, run


def _project_finished(ids: list[int]) -> int:
    """Cases that went through the chain: signed by education, four history rows more."""
    done = db.session.scalar(
        text(
            "SELECT count(*) FROM cases c WHERE c.id = ANY(:ids) "
            "AND c.state = 'provincial_confirmation' "
            "AND EXISTS (SELECT 1 FROM sign_offs s WHERE s.case_id = c.id "
            "AND s.department = 'education') "
            "AND (SELECT count(*) FROM case_events e WHERE e.case_id = c.id "
            "AND e.trigger IN ('submit', 'approve', 'sign')) = 4"
        ),
        {"ids": ids},
    )
    db.session.commit()
    return done


def engine_chains(ctx: BenchContext) -> list[Figure]:
    count = 100 if ctx.quick else 300
    rounds = ROUNDS
    if ctx.case_count < 1000:  # the test's tiny run
        count, rounds = 5, 1
    actions = count * len(CHAIN)
    peers = peer_engines()
    connection = connect(ctx.database_uri)
    rates: dict[str, list[float]] = {"htsd": [], **{p.name: [] for p in peers}}
    cpu: dict[str, list[float]] = {name: [] for name in rates}
    try:
        create_tables(connection)
        for number in range(rounds):
            ids, run = _project_chain(ctx, count)
            started, cpu_started = time.perf_counter(), time.process_time()
            run()
            rates["htsd"].append(actions / (time.perf_counter() - started))
            cpu["htsd"].append((time.process_time() - cpu_started) / actions * 1e6)
            if _project_finished(ids) != count:
                raise RuntimeError("fire_trigger did not take every case through the chain")
            for peer in peers:
                ids = peer.create(connection, count)
                started, cpu_started = time.perf_counter(), time.process_time()
                run_chain(peer, connection, ids)
                rates[peer.name].append(actions / (time.perf_counter() - started))
                cpu[peer.name].append((time.process_time() - cpu_started) / actions * 1e6)
                if peer.finished(connection, ids) != count:
                    raise RuntimeError(f"{peer.name} did not take every instance through the chain")
            ctx.say(
                f"   round {number + 1}: "
                + ", ".join(
                    f"{name} {rates[name][-1]:.0f} actions/s ({cpu[name][-1]:.0f} µs CPU each)"
                    for name in rates
                )
            )
    finally:
        drop_tables(connection)
        connection.close()
    rate = {name: statistics.median(values) for name, values in rates.items()}
    micro = {name: statistics.median(values) for name, values in cpu.items()}
    details = {
        "chain": [f"{trigger} by {actor}" for trigger, actor in CHAIN],
        "instances_per_round": count,
        "round_count": rounds,
        "rounds": {
            **{f"{name} actions/s": [round(v, 1) for v in rates[name]] for name in rates},
            **{f"{name} client CPU µs per action": [round(v) for v in cpu[name]] for name in cpu},
        },
        "does_per_action": DOES,
    }
    figures = [
        Figure(
            key="engines_htsd",
            name=(
                f"peers: this project's four-step chain (submit, approve, approve, sign), "
                f"{count} cases × {rounds} rounds, 1 connection (median)"
            ),
            value=round(rate["htsd"], 1),
            unit="actions/s",
            reference=round(micro["htsd"]),
            reference_name="µs client CPU per action",
            goal="(for information: it does the most per action — see details)",
            details=details,
        )
    ]
    goals = {"SpiffWorkflow": 3.0, "python-statemachine": 1.0}
    for peer in peers:
        name = peer.name
        ratio = rate["htsd"] / rate[name]
        cpu_ratio = micro[name] / micro["htsd"]
        figures.append(
            Figure(
                key=f"engines_{name.replace('-', '_').lower()}",
                name=(
                    f"peers: the same chain on {name}, 1 connection (median; "
                    f"{micro[name]:.0f} µs client CPU per action, "
                    f"{cpu_ratio:.2f} × this project's)"
                ),
                value=round(rate[name], 1),
                unit="actions/s",
                reference=round(rate["htsd"], 1),
                reference_name="this project's actions/s",
                ratio=round(ratio, 3),
                goal=f"this project ≥ {goals[name]:g} × {name} per action",
                met=ratio >= goals[name],
                details={"does_per_action": DOES[name]},
            )
        )
    return figures
