"""CPU per queue page in-process: ``python -m bench.queue_profile --user xa23281``.

Renders ``GET /queue`` (or ``--url``) through the Flask test client as one signed-in user on
``BENCH_DATABASE_URL`` and prints the process CPU time per page, the statements each page sent
and, with ``--profile``, the cProfile of the measured requests. Nothing is written to the
database: the user is signed in by putting their session id in the test client's session.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import time

from sqlalchemy import event, select


def signed_in_client(database_uri: str, username: str, lang: str | None = None):
    """(the app on the bench database, a test client signed in as ``username``)."""
    from htsd_workflow import create_app
    from htsd_workflow.auth.models import User
    from htsd_workflow.extensions import db

    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": database_uri, "RATELIMIT_STORAGE_URI": "memory://"}
    )
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == username))
        if user is None:
            raise SystemExit(f"no user {username}")
        session_id = user.get_id()
        db.session.remove()
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = session_id
        session["_fresh"] = True
        if lang:
            session["lang"] = lang
    return app, client


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--user", required=True, help="user name of a reviewer")
    parser.add_argument("--url", default="/queue")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--lang", choices=("vi", "en"), default=None)
    parser.add_argument("--profile", action="store_true", help="print the top of a cProfile")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument(
        "--conditional",
        action="store_true",
        help="also measure the page asked again with its ETag (304: the queue's conditional GET)",
    )
    args = parser.parse_args(argv)

    os.environ.setdefault("LOG_LEVEL", "WARNING")
    from bench.context import database_uri
    from htsd_workflow.extensions import db

    url = database_uri()
    app, client = signed_in_client(url, args.user, args.lang)

    statements = []
    with app.app_context():
        engine = db.engine

    def count(*_a, **_k):
        statements.append(1)

    headers: dict = {}

    def get():
        response = client.get(args.url, headers=headers)
        if response.status_code != (304 if headers else 200):
            raise SystemExit(f"{args.url}: {response.status_code}")
        return response

    for _ in range(5):
        body = get().get_data()
    event.listen(engine, "before_cursor_execute", count)
    get()
    event.remove(engine, "before_cursor_execute", count)
    per_page = len(statements)

    profiler = cProfile.Profile() if args.profile else None
    cpu = time.process_time()
    wall = time.perf_counter()
    if profiler:
        profiler.enable()
    for _ in range(args.requests):
        get()
    if profiler:
        profiler.disable()
    cpu = time.process_time() - cpu
    wall = time.perf_counter() - wall
    print(
        f"{args.url} as {args.user}: {cpu / args.requests * 1000:.2f} ms CPU per page "
        f"({wall / args.requests * 1000:.2f} ms wall), {per_page} statements per page, "
        f"{len(body):,} bytes"
    )
    if args.conditional:
        headers["If-None-Match"] = get().headers["ETag"]
        get()
        cpu = time.process_time()
        for _ in range(args.requests):
            get()
        cpu = time.process_time() - cpu
        print(f"  asked again with its ETag: {cpu / args.requests * 1000:.2f} ms CPU per 304")
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(args.top)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
