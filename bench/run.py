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
from bench.imports import import_households
from bench.queue_sql import queue_sql_plans
from bench.report import details, table, update_readme, write_results
from bench.transitions import bulk_transitions, single_transitions
from htsd_workflow import create_app
from htsd_workflow.extensions import db

HERE = Path(__file__).resolve().parent
QUICK_CASES = 20_000

#: the benchmarks that run now, in order
BENCHES = {
    "single": single_transitions,
    "bulk": bulk_transitions,
    "queue_sql": queue_sql_plans,
    "import": import_households,
}
#: benchmarks with a database of their own: they need no generated cases
OWN_DATABASE = {"import"}
#: the issue's benchmarks that need code from other branches; see bench/README.md
PENDING = {
    "3": "reviewer queue over HTTP (gunicorn + load tool, 16 and 4 clients): needs the web "
    "queue pages / JSON API",
    "4": "a transition over HTTP under the same load: needs the API's transition endpoint",
    "5": "bottleneck and targets reports, province and one district: needs the reports",
    "6": "escalation scan over the open cases, time and worker peak memory: needs the "
    "escalation task",
    "7": "web worker memory after 10,000 mixed requests: needs the web app's pages and API",
}


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
    app = create_app({"SQLALCHEMY_DATABASE_URI": uri})
    figures = []
    with app.app_context():
        if needs_cases:
            upgrade()
            data = ensure_data(uri, cases, fresh=args.fresh, say=say)
        else:
            data = {"cases": 0, "note": "no generated cases needed"}
        db.session.remove()
        ctx = BenchContext(
            app, uri, cases, args.quick or cases <= QUICK_CASES, say, data, args.profile
        )
        for name, bench in BENCHES.items():
            if args.only and name not in args.only:
                continue
            figures.extend(bench(ctx))
            db.session.remove()
    payload = {
        "run": {
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "command": " ".join(
                ["make bench" if os.environ.get("MAKELEVEL") else "python -m bench.run"]
                + (argv if argv is not None else sys.argv[1:])
            ),
            "seconds": round(time.perf_counter() - started, 1),
            # other work on the machine moves the figures: the 1/5/15-minute load averages
            "load_before": [round(x, 2) for x in load_before],
            "load_after": [round(x, 2) for x in os.getloadavg()],
        },
        "machine": machine(),
        "server": server_facts(uri) if needs_cases else {},
        "data": data,
        "figures": [f.as_dict() for f in figures],
        "pending": PENDING,
    }
    print()
    print(table(figures))
    print()
    print(details(figures))
    print()
    for number, why in PENDING.items():
        print(f"not yet measured — {number}. {why}")
    quick = args.quick or cases < 1_000_000
    results = HERE / ("results-quick.json" if quick else "results.json")
    write_results(results, payload)
    say(f"\nwrote {results.relative_to(HERE.parent)}")
    if not quick and not args.only:
        update_readme(HERE / "README.md", payload, figures)
        say("updated bench/README.md")
    missed = [f.name for f in figures if f.met is False]
    if missed:
        say("goals missed (see bench/README.md for where the time goes): " + "; ".join(missed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
