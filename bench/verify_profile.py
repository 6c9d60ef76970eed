"""CPU per public certificate check in-process: ``python -m bench.verify_profile``.

Builds a throw-away database (SQLite in a temporary folder, or ``--database URL``) with the
Kon Tum geography and one issued decision of three households (made by the tests' factories
through the real operations), then sends ``GET /verify/<code>`` through the Flask test client
with the rate limit lifted, and prints the process CPU time per request (the figure that a
loaded, shared machine does not distort much) and, with ``--profile``, a cProfile of the
measured requests. The request log goes to stderr: redirect it (``2>/dev/null``).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import tempfile
import time
from datetime import date


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--database", help="an empty database (default: a temporary SQLite)")
    parser.add_argument("--limits", default="memory://", help="rate-limit storage URI")
    parser.add_argument("--profile", action="store_true", help="print the top of a cProfile")
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args(argv)

    from htsd_workflow import create_app
    from htsd_workflow.cases.operations import fire_trigger
    from htsd_workflow.decisions.operations import draft_decision, issue_decision
    from htsd_workflow.extensions import db
    from htsd_workflow.geography.operations import import_province
    from tests.factories import COMMUNE, DISTRICT, PROVINCE, Factory

    folder = tempfile.mkdtemp(prefix="verify-profile-")
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": args.database or f"sqlite:///{folder}/verify.sqlite",
            "INSTANCE_PATH": folder,
            "RATELIMIT_STORAGE_URI": args.limits,
            "VERIFY_RATE_LIMIT": "1000000 per minute",
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
    client = app.test_client()

    def send(number: int) -> None:
        response = client.get(f"/verify/{codes[number % len(codes)]}")
        if response.status_code != 200:
            raise SystemExit(f"/verify: {response.status_code}")

    for number in range(20):  # warm up: templates compiled, statements cached
        send(number)
    profiler = cProfile.Profile(time.process_time) if args.profile else None
    cpu, wall = time.process_time(), time.perf_counter()
    if profiler:
        profiler.enable()
    for number in range(args.requests):
        send(number)
    if profiler:
        profiler.disable()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(
        f"verify: {cpu / args.requests * 1000:.2f} ms CPU per request "
        f"({wall / args.requests * 1000:.2f} ms wall){' under cProfile' if profiler else ''}"
    )
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(args.top)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
