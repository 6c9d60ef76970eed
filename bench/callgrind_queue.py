"""Instructions per queue page, which other work on the machine does not move.

Run under callgrind (instrumentation off at start; this script switches it on around the
measured requests with ``callgrind_control``), on the bench database::

    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=/tmp/cg/out.%p \\
        python -m bench.callgrind_queue huyen608 20 [--conditional]

``GET /queue`` through the Flask test client as one signed-in user (as ``bench.queue_profile``
signs in: the session id put in the test client's session), 10 warm-up pages, then ``N``
measured ones: the dump's ``totals:`` line ÷ N is the instructions of one page in this
process. With ``--conditional`` each measured request carries the page's ETag (a 304).
"""

from __future__ import annotations

import argparse
import os

WARM_UP = 10


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("user", help="user name of a reviewer")
    parser.add_argument("requests", type=int, nargs="?", default=20)
    parser.add_argument("--conditional", action="store_true", help="measure the 304")
    args = parser.parse_args(argv)

    os.environ.setdefault("LOG_LEVEL", "WARNING")
    from bench.context import callgrind_control, database_uri
    from bench.queue_profile import signed_in_client

    _app, client = signed_in_client(database_uri(), args.user)

    headers: dict = {}
    for _ in range(WARM_UP):
        response = client.get("/queue")
    if args.conditional:
        headers["If-None-Match"] = response.headers["ETag"]
    expected = 304 if args.conditional else 200
    callgrind_control("-i", "on")
    for _ in range(args.requests):
        response = client.get("/queue", headers=headers)
        if response.status_code != expected:
            raise SystemExit(f"/queue: {response.status_code}")
    callgrind_control("-i", "off")
    callgrind_control("-d", "queue")


if __name__ == "__main__":
    main()
