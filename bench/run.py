"""``make bench`` / ``python -m bench.run``: the benchmark suite on PostgreSQL.

Prepares the database named by ``BENCH_DATABASE_URL`` (created if missing, migrated), loads
``BENCH_CASES`` generated cases (default 1,000,000; ``--quick`` for 20,000) unless the same
data set is there already, runs each benchmark, prints a table with every figure next to its
reference, writes ``bench/results.json`` (``results-quick.json`` for ``--quick``) and, for full
runs, the results section of ``bench/README.md``.

A benchmark is a function ``(BenchContext) -> list[Figure]`` listed in ``BENCHES``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from flask_migrate import upgrade

from bench.context import (
    BenchContext,
    create_database_if_missing,
    database_uri,
    ensure_data,
    machine,
    server_facts,
)
from bench.decisions_bench import certificates_bench, issue_bench, verify_http
from bench.engines import engine_chains
from bench.http_benches import _drain_broker, queue_http, transition_http, worker_memory
from bench.httpload import redis_url
from bench.imports import import_households
from bench.queue_sql import queue_sql_plans
from bench.report import details, table, update_readme, write_results
from bench.reports_bench import report_queries
from bench.round_bench import assessment_file, village_grid
from bench.scan_bench import escalation_scan
from bench.transitions import bulk_transitions, single_transitions
from htsd_workflow import create_app
from htsd_workflow.extensions import db

HERE = Path(__file__).resolve().parent
QUICK_CASES = 20_000

#: the benchmarks, in order (``--only NAME`` picks some)
BENCHES = {
    "single": single_transitions,  # 1
    "bulk": bulk_transitions,  # 2
    "engines": engine_chains,  # the same chain on SpiffWorkflow and python-statemachine
    "queue_sql": queue_sql_plans,  # 3, the SQL alone
    "queue_http": queue_http,  # 3
    "transition_http": transition_http,  # 4
    "reports": report_queries,  # 5
    "scan": escalation_scan,  # 6
    "memory": worker_memory,  # 7
    "import": import_households,  # 100,000-row household import (own database)
    "decisions": issue_bench,  # issue a decision of 1,000 cases
    "certificates": certificates_bench,  # 500 certificates as PDF pages
    "verify_http": verify_http,  # the public /verify/<code> page at 16 clients
    "village_grid": village_grid,  # a 200-household village grid sent in one request
    "assessment_file": assessment_file,  # a 20,000-row village assessment file (own database)
}
#: benchmarks with a database of their own: they need no generated cases
OWN_DATABASE = {"import", "village_grid", "assessment_file"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_CASES:,} cases")
    parser.add_argument("--cases", type=int, help="number of generated cases")
    parser.add_argument("--fresh", action="store_true", help="regenerate the data")
    parser.add_argument(
        "--profile", action="store_true", help="profile single transitions (cProfile)"
    )
    parser.add_argument(
        "--only", choices=sorted(BENCHES), action="append", help="run only these benchmarks"
    )
    parser.add_argument(
        "--duration",
        type=float,
        help="seconds of each closed-loop HTTP load run (default 20; 8 with --quick)",
    )
    parser.add_argument(
        "--memory-requests",
        type=int,
        default=10_000,
        help="requests of the worker memory benchmark (two halves; default 10000)",
    )
    parser.add_argument(
        "--clients",
        default="16,4",
        help="concurrent clients of the HTTP load runs, comma-separated (default 16,4)",
    )
    parser.add_argument("--results", type=Path, help="where to write the results (JSON)")
    args = parser.parse_args(argv)
    default = QUICK_CASES if args.quick else int(os.environ.get("BENCH_CASES", 1_000_000))
    cases = args.cases or default
    uri = database_uri()

    def say(message: str) -> None:
        print(message, flush=True)

    started = time.perf_counter()
    load_before = os.getloadavg()
    needs_cases = not args.only or bool(set(args.only) - OWN_DATABASE)
    if needs_cases and create_database_if_missing(uri):
        say(f"created database {uri.rsplit('/', 1)[-1]}")
    # as deployed: after each commit that wrote outbox rows the operation tells the worker
    # through Redis (not the embedded SQLite broker of `make run`, which costs milliseconds)
    os.environ.setdefault("REDIS_URL", redis_url())
    app = create_app({"SQLALCHEMY_DATABASE_URI": uri})
    figures = []
    timings: dict[str, float] = {}
    with app.app_context():
        if needs_cases:
            upgrade()
            data = ensure_data(uri, cases, fresh=args.fresh, say=say)
        else:
            data = {"cases": 0, "note": "no generated cases needed"}
        db.session.remove()
        ctx = BenchContext(
            app,
            uri,
            cases,
            args.quick or cases <= QUICK_CASES,
            say,
            data,
            args.profile,
            duration=args.duration,
            memory_requests=args.memory_requests,
            clients=tuple(int(n) for n in args.clients.split(",")),
        )
        for name, bench in BENCHES.items():
            if args.only and name not in args.only:
                continue
            say(f"{name} …")
            bench_started = time.perf_counter()
            found = bench(ctx)
            seconds = round(time.perf_counter() - bench_started, 1)
            timings[name] = seconds
            say(f"{name}: {seconds} s")
            figures.extend(found)
            db.session.remove()
    _drain_broker()  # no worker runs in the bench: drop the notices the transitions sent
    payload = {
        "run": {
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "command": " ".join(
                ["make bench" if os.environ.get("MAKELEVEL") else "python -m bench.run"]
                + (argv if argv is not None else sys.argv[1:])
            ),
            "seconds": round(time.perf_counter() - started, 1),
            "seconds_per_bench": timings,
            # other work on the machine moves the figures: the 1/5/15-minute load averages
            "load_before": [round(x, 2) for x in load_before],
            "load_after": [round(x, 2) for x in os.getloadavg()],
        },
        "machine": machine(),
        "server": server_facts(uri) if needs_cases else {},
        "data": data,
        "figures": [f.as_dict() for f in figures],
    }
    print()
    print(table(figures))
    print()
    print(details(figures))
    print()
    print("seconds per benchmark: " + ", ".join(f"{k} {v}" for k, v in timings.items()))
    quick = args.quick or cases < 1_000_000
    results = args.results or HERE / ("results-quick.json" if quick else "results.json")
    write_results(results, payload)
    say(f"\nwrote {results}")
    if not quick and not args.only:
        update_readme(HERE / "README.md", payload, figures)
        say("updated bench/README.md")
    missed = [f.name for f in figures if f.met is False]
    if missed:
        say("goals missed (see bench/README.md for where the time goes): " + "; ".join(missed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
