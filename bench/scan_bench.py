"""Benchmark 6: the escalation scan (``sla.operations.scan_sla``) over every open case.

The scan runs in a child process (``python -m bench.scan_bench``), so that its peak resident
memory (``ru_maxrss`` of that process) is the scan's own, next to the peak of the same child
that only builds the app (the reference). It works through the cases in batches as deployed,
but in one transaction rolled back at the end instead of a commit per batch, so that the
data stays as generated and the next run scans the same cases.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time

from sqlalchemy import text

from bench.context import BenchContext, Figure
from bench.httpload import settle, verdict
from htsd_workflow.extensions import db

GOAL_SECONDS = 10.0
GOAL_MB = 300.0


#: the PostgreSQL path's statement kinds (``sla.pgscan``), named by how their text begins
KINDS = {
    "SELECT id FROM cases WHERE": "due cases of one rung (pgscan.due_cases)",
    "UPDATE cases SET escalation_rung": "claim a batch (pgscan.claim)",
    "WITH fired AS": "stage-visit flags + history + outbox of a batch (pgscan.write)",
}


def _timed_statements(totals: dict):
    """Patch psycopg's cursor to add each statement's time to ``totals`` (by its first words),
    so the report shows where the scan's time goes; returns the function that undoes it."""
    import psycopg

    execute, executemany = psycopg.Cursor.execute, psycopg.Cursor.executemany

    def key(query) -> str:
        text_ = " ".join((query if isinstance(query, str) else str(query)).split())
        kind = next((name for start, name in KINDS.items() if text_.startswith(start)), None)
        return f"{kind}: {text_[:60]}" if kind else text_[:90]

    def timed(original):
        def run(cursor, query, *args, **kwargs):
            started = time.perf_counter()
            try:
                return original(cursor, query, *args, **kwargs)
            finally:
                entry = totals.setdefault(key(query), [0, 0.0])
                entry[0] += 1
                entry[1] += time.perf_counter() - started

        return run

    psycopg.Cursor.execute, psycopg.Cursor.executemany = timed(execute), timed(executemany)

    def undo():
        psycopg.Cursor.execute, psycopg.Cursor.executemany = execute, executemany

    return undo


def child(database_uri: str, scan: bool) -> dict:
    """Run in the child: build the app, scan (unless ``scan`` is false), report."""
    from htsd_workflow import create_app
    from htsd_workflow.sla.operations import scan_sla

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_uri, "NOTIFY_WORKER": False})
    result = {"fired": {}, "seconds": 0.0}
    with app.app_context():
        db.session.execute(text("SELECT 1"))
        if scan:
            totals: dict = {}
            undo = _timed_statements(totals)
            started = time.perf_counter()
            fired = scan_sla(commit_each_batch=False)
            result["seconds"] = round(time.perf_counter() - started, 2)
            undo()
            result["statements"] = [
                {"statement": k, "calls": n, "seconds": round(t, 3)}
                for k, (n, t) in sorted(totals.items(), key=lambda kv: -kv[1][1])[:8]
            ]
            result["fired"] = {str(k): v for k, v in fired.fired.items()}
            db.session.rollback()
    result["max_rss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return result


def _run_child(database_uri: str, scan: bool) -> dict:
    command = [sys.executable, "-m", "bench.scan_bench", database_uri]
    if not scan:
        command.append("--no-scan")
    finished = subprocess.run(command, capture_output=True, text=True, timeout=3600)
    if finished.returncode != 0:
        raise RuntimeError(f"the scan child failed:\n{finished.stderr[-3000:]}")
    return json.loads(finished.stdout.strip().splitlines()[-1])


def escalation_scan(ctx: BenchContext) -> list[Figure]:
    open_cases, overdue = db.session.execute(
        text(
            "SELECT count(*), count(*) FILTER (WHERE due_at < now() AT TIME ZONE 'UTC') "
            "FROM cases WHERE is_open"
        )
    ).one()
    db.session.commit()
    busy_before = settle(ctx.say)
    baseline = _run_child(ctx.database_uri, scan=False)
    scanned = _run_child(ctx.database_uri, scan=True)
    peak_mb = scanned["max_rss_kb"] / 1024
    base_mb = baseline["max_rss_kb"] / 1024
    fired = sum(scanned["fired"].values())
    ctx.say(
        f"   {open_cases:,} open cases ({overdue:,} past due): scan {scanned['seconds']} s, "
        f"{fired:,} rungs fired {scanned['fired']}, peak RSS {peak_mb:.1f} MB "
        f"(the app alone {base_mb:.1f} MB)"
    )
    met, note = verdict(scanned["seconds"] <= GOAL_SECONDS, busy_before)
    for row in scanned.get("statements", []):
        ctx.say(f"     {row['seconds']:8.3f} s  {row['calls']:5} ×  {row['statement']}")
    return [
        Figure(
            key="escalation_scan_seconds",
            name=f"6. escalation scan over {open_cases:,} open cases ({fired:,} rungs fired)",
            value=scanned["seconds"],
            unit="s",
            goal="≤ 10 s" + note,
            met=met,
            details={
                "fired": scanned["fired"],
                "open_cases": open_cases,
                "past_due": overdue,
                "statement_seconds": scanned.get("statements", []),
            },
        ),
        Figure(
            key="escalation_scan_memory",
            name="6. escalation scan: peak RSS of the process",
            value=round(peak_mb, 1),
            unit="MB",
            reference=round(base_mb, 1),
            reference_name="MB, the same process building the app without scanning",
            ratio=round(peak_mb / base_mb, 2) if base_mb else None,
            goal="≤ 300 MB",
            met=peak_mb <= GOAL_MB,
        ),
    ]


if __name__ == "__main__":
    print(json.dumps(child(sys.argv[1], scan="--no-scan" not in sys.argv[2:])))
