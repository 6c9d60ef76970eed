"""CPU per public certificate check in-process: ``python -m bench.verify_profile``.

Builds a throw-away database (SQLite in a temporary folder, or ``--database URL``) with the
Kon Tum geography and one issued decision of three households (made by the tests' factories
through the real operations), then sends ``GET /verify/<code>`` through the Flask test client
with the rate limit lifted, and prints the process CPU time per request (the figure that a
loaded, shared machine does not distort much) — per round of ``--requests`` and the median of
``--rounds`` — and, with ``--profile``, a cProfile of the measured requests. By default each
request comes from a new visitor (no cookie, as a phone scanning the QR code);
``--keep-cookies`` sends back whatever cookie the pages set, as a browser (and the bench's
locust clients) would. ``--limits redis://…`` keeps the rate limit's counters in Redis, as
deployed. The request log goes to stderr: redirect it (``2>/dev/null``).

``--callgrind``: run under callgrind with instrumentation off at start, and the measured
requests are instrumented alone (switched on and dumped with ``callgrind_control``); the main
thread's file of the dump (``…-01``) holds their instructions (``totals:`` ÷ requests), the
count other work on the machine does not move::

    valgrind --tool=callgrind --instr-atstart=no --separate-threads=yes \\
        --callgrind-out-file=/tmp/cg/out.%p python -m bench.verify_profile --callgrind \\
        --requests 300 --database postgresql://…/SCRATCH --limits redis://… 2>/dev/null
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import tempfile
import time
from datetime import date

from bench.context import callgrind_control


def build_app(database: str | None, limits: str, rate_limit: str = "1000000 per minute"):
    """The app on a new database (``database`` must be empty; None: a temporary SQLite) with
    one issued decision of three households: (app, the certificates' codes)."""
    from htsd_workflow import create_app
    from htsd_workflow.cases.operations import fire_trigger
    from htsd_workflow.decisions.operations import draft_decision, issue_decision
    from htsd_workflow.extensions import db
    from htsd_workflow.geography.operations import import_province
    from tests.factories import COMMUNE, DISTRICT, PROVINCE, Factory

    folder = tempfile.mkdtemp(prefix="verify-profile-")
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": database or f"sqlite:///{folder}/verify.sqlite",
            "INSTANCE_PATH": folder,
            "RATELIMIT_STORAGE_URI": limits,
            "VERIFY_RATE_LIMIT": rate_limit,
            "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
        }
    )
    with app.app_context():
        db.create_all()
        import_province("62")
        db.session.commit()
        make = Factory()
        for _ in range(3):
            case, _applicant = make.case_in("provincial_confirmation")
            for role in ("education_reviewer", "culture_reviewer"):
                fire_trigger(case.id, "sign", make.reviewer(role, PROVINCE))
            db.session.commit()
        decision = draft_decision(
            "family", date.today().year, COMMUNE, make.reviewer("commune_reviewer", COMMUNE)
        )
        issue_decision(decision.id, "1", date.today(), "A", make.user("manager", DISTRICT))
        db.session.commit()
        codes = [e.code for e in decision.entries]
        db.session.remove()
    return app, codes


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500, help="requests per round")
    parser.add_argument("--rounds", type=int, default=1, help="rounds (the median is printed)")
    parser.add_argument(
        "--keep-cookies", action="store_true", help="send back the cookies the pages set"
    )
    parser.add_argument("--path", default="/verify/{code}", help="e.g. /api/v1/verify/{code}")
    parser.add_argument("--database", help="an empty database (default: a temporary SQLite)")
    parser.add_argument("--limits", default="memory://", help="rate-limit storage URI")
    parser.add_argument("--profile", action="store_true", help="print the top of a cProfile")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument(
        "--callgrind", action="store_true", help="instrument the measured requests (callgrind)"
    )
    args = parser.parse_args(argv)

    app, codes = build_app(args.database, args.limits)
    client = app.test_client(use_cookies=args.keep_cookies)

    def send(number: int) -> None:
        path = args.path.format(code=codes[number % len(codes)])
        response = client.get(path)
        if response.status_code != 200:
            raise SystemExit(f"{path}: {response.status_code}")

    for number in range(20):  # warm up: templates compiled, statements cached
        send(number)
    profiler = cProfile.Profile(time.process_time) if args.profile else None
    per_request = []
    for _round in range(args.rounds):
        cpu, wall = time.process_time(), time.perf_counter()
        if profiler:
            profiler.enable()
        if args.callgrind:
            callgrind_control("-i", "on")
        for number in range(args.requests):
            send(number)
        if args.callgrind:
            callgrind_control("-d", f"round {_round + 1}")
            callgrind_control("-i", "off")
        if profiler:
            profiler.disable()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        per_request.append(cpu / args.requests * 1000)
        print(
            f"verify: {per_request[-1]:.2f} ms CPU per request "
            f"({wall / args.requests * 1000:.2f} ms wall){' under cProfile' if profiler else ''}"
        )
    if args.rounds > 1:
        print(
            f"verify: median {statistics.median(per_request):.2f} ms CPU per request "
            f"over {args.rounds} rounds of {args.requests}"
        )
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(args.top)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
