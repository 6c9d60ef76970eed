"""CPU per API transition in-process: ``python -m bench.api_profile --requests 300``.

Appends ``--requests`` (+ a few to warm up) fresh ``commune_review`` cases to the commune of
the busiest commune reviewer on ``BENCH_DATABASE_URL`` (as benchmark 4 does), issues that
reviewer a bearer token, and sends ``POST /api/v1/cases/<id>/transitions {"trigger":
"approve"}`` through the Flask test client, one case each, with the app configured as served
(request log at INFO, rate limits in ``BENCH_REDIS_URL``). Prints the process CPU time per
request, the statements each sent and, with ``--profile``, a cProfile of the measured ones.
``--healthz`` measures ``GET /healthz`` instead (no cases are added). The request log goes to
stderr: redirect it (``2>/dev/null``).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import time

from sqlalchemy import event, select, text


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--healthz", action="store_true", help="measure GET /healthz")
    parser.add_argument("--profile", action="store_true", help="print the top of a cProfile")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--sql", action="store_true", help="print the statements of one request")
    args = parser.parse_args(argv)

    from bench.context import database_uri
    from bench.data import append_cases
    from bench.httpload import redis_url
    from htsd_workflow import create_app
    from htsd_workflow.api.framework import issue_token
    from htsd_workflow.auth.models import User
    from htsd_workflow.extensions import db

    url = database_uri()
    # Redis as the bench server has it: rate limits and the broker the worker notices go to
    os.environ.setdefault("REDIS_URL", redis_url())
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "RATELIMIT_STORAGE_URI": redis_url()})
    client = app.test_client()
    warm = 5
    if args.healthz:
        requests = [("GET", "/healthz", None, {})] * (warm + 1 + args.requests)
    else:
        with app.app_context():
            commune = db.session.execute(
                text(
                    "SELECT commune_code FROM cases WHERE state = 'commune_review' "
                    "GROUP BY commune_code ORDER BY count(*) DESC LIMIT 1"
                )
            ).scalar()
            user = db.session.scalar(select(User).where(User.username == f"xa{commune}"))
            pool = append_cases(warm + 1 + args.requests, "commune_review", [commune])
            token, _row = issue_token(user)
            db.session.commit()
            db.session.remove()
        headers = {"Authorization": f"Bearer {token}"}
        requests = [
            ("POST", f"/api/v1/cases/{case_id}/transitions", {"trigger": "approve"}, headers)
            for case_id in pool
        ]
    with app.app_context():
        engine = db.engine
    statements = []

    def count(_conn, _cursor, statement, *_a, **_k):
        statements.append(statement)

    def send(method, path, body, headers):
        response = client.open(path, method=method, json=body, headers=headers)
        if response.status_code != 200:
            raise SystemExit(f"{path}: {response.status_code} {response.get_data(as_text=True)}")
        return response

    requests = iter(requests)
    for _ in range(warm):
        send(*next(requests))
    event.listen(engine, "before_cursor_execute", count)
    body = send(*next(requests)).get_data()
    event.remove(engine, "before_cursor_execute", count)

    profiler = cProfile.Profile(time.process_time) if args.profile else None
    cpu = time.process_time()
    wall = time.perf_counter()
    if profiler:
        profiler.enable()
    for _ in range(args.requests):
        send(*next(requests))
    if profiler:
        profiler.disable()
    cpu = time.process_time() - cpu
    wall = time.perf_counter() - wall
    what = "/healthz" if args.healthz else "transition"
    print(
        f"{what}: {cpu / args.requests * 1000:.2f} ms CPU per request "
        f"({wall / args.requests * 1000:.2f} ms wall), {len(statements)} statements, "
        f"{len(body):,} bytes"
    )
    if args.sql:
        print("\n\n".join(statements))
    _drain_broker()
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(args.top)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(args.top)


def _drain_broker() -> None:
    """Remove the worker notices the measured transitions sent (no worker runs here)."""
    from bench.http_benches import _drain_broker as drain

    drain()


if __name__ == "__main__":
    main()
