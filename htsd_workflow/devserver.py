"""`make run`: the web app with a real Celery worker and beat beside it, stopped together.

Usage: python -m htsd_workflow.devserver [--host 127.0.0.1] [--port 5000]
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
from pathlib import Path

from werkzeug.serving import WSGIRequestHandler

from htsd_workflow import create_app


class RequestHandler(WSGIRequestHandler):
    """Werkzeug's handler without its ``Server: Werkzeug/… Python/…`` header: a response
    does not tell which server and Python versions answer it."""

    def version_string(self) -> str:
        return "htsd-workflow"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args()

    app = create_app()
    celery = [sys.executable, "-m", "celery", "-A", "worker"]
    schedule = str(Path(app.instance_path) / "celerybeat-schedule")
    children = [
        subprocess.Popen([*celery, "worker", "--pool", "solo", "--loglevel", "INFO"]),
        subprocess.Popen([*celery, "beat", "--loglevel", "INFO", "--schedule", schedule]),
    ]

    def stop(*_):
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()

    signal.signal(signal.SIGTERM, lambda *_: (stop(), sys.exit(0)))
    print(f" * HTSĐ Workflow on http://{args.host}:{args.port}", flush=True)
    try:
        app.run(
            host=args.host,
            port=args.port,
            debug=False,
            use_reloader=False,
            threaded=True,
            request_handler=RequestHandler,
        )
    finally:
        stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
