"""Decisions (issue 22): issuing a decision of 1,000 cases, certificates as PDF pages per
second, and the public ``/verify/<code>`` page under load.

* ``decisions``: ``issue_decision`` on a draft listing 1,000 recognised cases and a commit
  (history row and outbox row per case), beside the same statements replayed by psycopg on
  another draft of 1,000 (``bench.capture``). Goal ≤ 2 s.
* ``certificates``: 500 certificates rendered by WeasyPrint into one PDF; pages per second.
* ``verify_http``: ``GET /verify/<code>`` by 16 clients, closed loop, on gunicorn, each client
  walking its own codes; the rate limit is lifted for the run (it would answer 429s, which
  measure nothing). Goal ≥ 500 req/s, p99 ≤ 100 ms. Beside it, the same server answering
  ``/healthz`` to as many clients (the framework's floor), and the CPU per request of
  gunicorn's workers, PostgreSQL's backends and the load tool (load-independent; 500 req/s
  on two cores leave 4 ms per request for all of them). ``python -m bench.verify_profile``
  measures the page's CPU in-process.
"""

from __future__ import annotations

import statistics
import time
from datetime import date

from sqlalchemy import select, text

from bench.capture import capture, replay
from bench.context import BenchContext, Figure
from bench.data import append_cases
from bench.data.load import connect
from bench.http_benches import _seconds, cpu_budget_figure, measured_load
from bench.httpload import Server, run_locust, verdict
from bench.transitions import _abbreviated
from htsd_workflow.auth.models import User
from htsd_workflow.cases.operations import fire_bulk
from htsd_workflow.decisions import pdf as pdfs
from htsd_workflow.decisions.models import Decision, DecisionEntry
from htsd_workflow.decisions.operations import draft_decision, issue_decision, remove_from_draft
from htsd_workflow.extensions import db
from htsd_workflow.geography.models import Unit

SIZE = 1000
ROUNDS = 3
CERTIFICATES = 500
DISTRICT = "608"
VERIFY_RPS_GOAL = 500.0
VERIFY_P99_GOAL = 100.0


def _users(*names) -> dict[str, User]:
    found = db.session.scalars(select(User).where(User.username.in_(names))).all()
    for user in found:
        db.session.expunge(user)
    db.session.commit()
    return {u.username: u for u in found}


def _recognised_pool(commune: str, count: int, signers) -> list[int]:
    """``count`` new family cases of ``commune`` recognised through the core operation."""
    ids = append_cases(count, "provincial_confirmation", [commune])
    for signer in signers:
        result = fire_bulk(ids, "sign", signer)
        if result.failed:
            raise RuntimeError(f"signing refused cases: {result.failed[:3]}")
        db.session.commit()
    return ids


def _draft_of(pool: list[int], commune: str, year: int, officer: User) -> int:
    """A draft listing exactly ``pool`` (other recognised cases of the commune taken off)."""
    decision = draft_decision("family", year, commune, officer)
    others = [e.case_id for e in decision.entries if e.case_id not in set(pool)]
    if others:
        remove_from_draft(decision.id, others, officer)
    db.session.commit()
    listed = db.session.scalar(
        text("SELECT count(*) FROM decision_entries WHERE decision_id = :d"), {"d": decision.id}
    )
    db.session.commit()
    if listed != len(pool):
        raise RuntimeError(f"the draft lists {listed} cases, not {len(pool)}")
    return decision.id


def _commune() -> str:
    return db.session.scalars(
        select(Unit.code)
        .where(Unit.district_code == DISTRICT, Unit.level == "commune")
        .order_by(Unit.code)
    ).first()


def issue_bench(ctx: BenchContext) -> list[Figure]:
    commune = _commune()
    users = _users("sogddt", "sovhttdl", f"xa{commune}", f"lanhdaohuyen{DISTRICT}", "lanhdaotinh")
    signers = [users["sogddt"], users["sovhttdl"]]
    officer = users[f"xa{commune}"]
    leader = users.get(f"lanhdaohuyen{DISTRICT}") or users["lanhdaotinh"]
    year = date.today().year
    ctx.say(f"decisions: preparing {2 * ROUNDS + 1} drafts of {SIZE} recognised cases")
    seconds, raw_seconds = [], []
    number = int(time.time()) % 100000  # numbers unique across bench runs on one database

    def issue(decision_id: int) -> None:
        nonlocal number
        number += 1
        issue_decision(decision_id, str(number), date.today(), "Nguyễn Văn Bench", leader)
        db.session.commit()

    # one issue recorded statement by statement, then timed ones, then the replays
    pool = _recognised_pool(commune, SIZE, signers)
    captured_draft = _draft_of(pool, commune, year, officer)
    captured = capture(lambda: issue(captured_draft))
    captured_number = db.session.get(Decision, captured_draft).number
    db.session.commit()
    for _ in range(ROUNDS):
        pool = _recognised_pool(commune, SIZE, signers)
        draft = _draft_of(pool, commune, year, officer)
        started = time.perf_counter()
        issue(draft)
        seconds.append(time.perf_counter() - started)
    captured_pool = db.session.scalars(
        select(DecisionEntry.case_id)
        .where(DecisionEntry.decision_id == captured_draft)
        .order_by(DecisionEntry.case_id)
    ).all()
    db.session.commit()
    connection = connect(ctx.database_uri)
    try:
        for _ in range(ROUNDS):
            pool = sorted(_recognised_pool(commune, SIZE, signers))
            draft = _draft_of(pool, commune, year, officer)
            mapping = dict(zip(captured_pool, pool, strict=True))
            mapping[captured_draft] = draft
            # the replay sets the captured number again: whoever holds it gives it up first
            db.session.execute(
                text(
                    "UPDATE decisions SET number = number || '-' || id "
                    "WHERE unit_code = :unit AND number = :number"
                ),
                {"unit": commune, "number": captured_number},
            )
            db.session.commit()
            raw_seconds.append(replay(connection, captured, mapping))
            written = db.session.execute(
                text(
                    "SELECT (SELECT count(*) FROM case_events WHERE case_id = ANY(:ids) "
                    "AND trigger = 'decision_issued'), (SELECT count(*) FROM outbox WHERE "
                    "case_id = ANY(:ids) AND kind = 'decision_issued'), "
                    "(SELECT status FROM decisions WHERE id = :d)"
                ),
                {"ids": pool, "d": draft},
            ).one()
            db.session.commit()
            if tuple(written) != (SIZE, SIZE, "issued"):
                raise RuntimeError(f"the replay wrote other rows than issue_decision: {written}")
    finally:
        connection.close()
    value, reference = statistics.median(seconds), statistics.median(raw_seconds)
    ctx.say(f"   issue_decision {value:.3f} s, raw statements {reference:.3f} s")
    return [
        Figure(
            key="decision_issue",
            name=f"decisions: issue a decision of {SIZE} cases (history + outbox) + commit",
            value=round(value, 3),
            unit="s",
            reference=round(reference, 3),
            reference_name="same statements via psycopg",
            ratio=round(reference / value, 3) if value else None,
            goal="≤ 2 s",
            met=value <= 2.0,
            details={
                "rounds_seconds": {"issue_decision": seconds, "raw": raw_seconds},
                "statements": [
                    _abbreviated(s.sql)
                    for s in captured.statements
                    if "calendar_exceptions" not in s.sql
                ],
            },
        )
    ]


def _issued_decision(ctx: BenchContext, size: int) -> Decision:
    """An issued decision of at least ``size`` cases (made when none exists)."""
    found = db.session.execute(
        text(
            "SELECT d.id FROM decisions d JOIN decision_entries e ON e.decision_id = d.id "
            "WHERE d.status = 'issued' GROUP BY d.id HAVING count(*) >= :n ORDER BY d.id LIMIT 1"
        ),
        {"n": size},
    ).scalar()
    if found is None:
        issue_bench_light(ctx, size)
        return _issued_decision(ctx, size)
    return db.session.get(Decision, found)


def issue_bench_light(ctx: BenchContext, size: int) -> None:
    commune = _commune()
    users = _users("sogddt", "sovhttdl", f"xa{commune}", f"lanhdaohuyen{DISTRICT}", "lanhdaotinh")
    leader = users.get(f"lanhdaohuyen{DISTRICT}") or users["lanhdaotinh"]
    pool = _recognised_pool(commune, size, [users["sogddt"], users["sovhttdl"]])
    draft = _draft_of(pool, commune, date.today().year, users[f"xa{commune}"])
    issue_decision(draft, str(int(time.time())), date.today(), "Nguyễn Văn Bench", leader)
    db.session.commit()


def certificates_bench(ctx: BenchContext) -> list[Figure]:
    decision = _issued_decision(ctx, CERTIFICATES)
    entries = decision.entries[:CERTIFICATES]
    pdfs.certificates_pdf(decision, entries[:5])  # fonts and Pango loaded once
    started = time.perf_counter()
    body = pdfs.certificates_pdf(decision, entries)
    elapsed = time.perf_counter() - started
    rate = len(entries) / elapsed
    ctx.say(f"certificates: {len(entries)} pages in {elapsed:.1f} s ({rate:.0f} pages/s)")
    return [
        Figure(
            key="certificates_pdf",
            name=f"certificates: {len(entries)} A4 pages with QR codes in one PDF",
            value=round(rate, 1),
            unit="pages/s",
            goal="reported",
            details={"seconds": round(elapsed, 2), "bytes": len(body)},
        )
    ]


def verify_http(ctx: BenchContext) -> list[Figure]:
    decision = _issued_decision(ctx, 100)
    codes = [e.code for e in decision.entries]
    db.session.commit()
    users = max(ctx.clients)
    seconds = _seconds(ctx)
    warm_up = min(3.0, seconds / 4)
    clients = [
        {"urls": [["verify", f"/verify/{code}"] for code in codes[slot::users]]}
        for slot in range(users)
    ]
    env = {"VERIFY_RATE_LIMIT": "1000000 per minute"}
    with Server(ctx.database_uri, env=env) as server:
        run_locust(server.url, {"mode": "mixed", "clients": clients}, users=4, seconds=warm_up)
        floor, _floor_samples, floor_cpu = measured_load(
            server, {"mode": "healthz", "clients": [{}]}, users, seconds, warm_up
        )
        result, _samples, cpu = measured_load(
            server, {"mode": "mixed", "clients": clients}, users, seconds, warm_up
        )
    ctx.say(
        f"verify: {users} clients p50/p95/p99 {result.p50}/{result.p95}/{result.p99} ms, "
        f"{result.rps}/s ({result.failures} failed); gunicorn CPU per request "
        f"{cpu['server_ms_per_request']} ms (/healthz {floor_cpu['server_ms_per_request']} ms)"
    )
    if result.failures or not result.requests:
        raise RuntimeError(f"verify requests failed or none answered: {result.errors}")
    met, note = verdict(
        result.rps >= VERIFY_RPS_GOAL and (result.p99 or 0) <= VERIFY_P99_GOAL,
        cpu["busy_cores_before"],
    )
    return [
        cpu_budget_figure(
            "verify_http_budget",
            f"verify: CPU per GET /verify/<code> on the server side, {users} clients: gunicorn "
            "+ PostgreSQL (load-independent)",
            cpu,
            VERIFY_RPS_GOAL,
        ),
        Figure(
            key="verify_http_cpu",
            name=f"verify: gunicorn CPU per GET /verify/<code>, {users} clients "
            "(load-independent)",
            value=cpu["server_ms_per_request"],
            unit="ms CPU per request",
            reference=floor_cpu["server_ms_per_request"],
            reference_name="ms CPU per /healthz request, same server",
            ratio=round(cpu["server_ms_per_request"] / floor_cpu["server_ms_per_request"], 2)
            if cpu["server_ms_per_request"] and floor_cpu["server_ms_per_request"]
            else None,
            goal="(for information)",
        ),
        Figure(
            key="verify_http",
            name=f"verify: GET /verify/<code>, {users} clients{note}",
            value=result.rps,
            unit=f"req/s (p50 {result.p50}, p95 {result.p95}, p99 {result.p99} ms)",
            reference=floor.rps,
            reference_name=f"/healthz req/s, same server and clients (p99 {floor.p99} ms)",
            ratio=round(result.rps / floor.rps, 3) if floor.rps else None,
            goal=f"≥ {VERIFY_RPS_GOAL:.0f} req/s, p99 ≤ {VERIFY_P99_GOAL:.0f} ms",
            met=met,
            details={
                "load": result.as_dict(),
                "healthz_floor": floor.as_dict(),
                "cpu_seconds": cpu,
                "healthz_cpu_seconds": floor_cpu,
            },
        ),
    ]
