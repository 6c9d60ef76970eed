"""Serving the app as deployed and loading it with locust: the pieces of the HTTP benchmarks.

``Server`` starts gunicorn with the command of the Dockerfile (``--workers 5 --threads 4``;
the app's JSON request log, no gunicorn access log) against the bench database, on a free
local port; ``run_locust`` runs a closed-loop load (``bench/locustfile.py``) with a plan and
returns every measured request; ``summarise`` turns those into p50/p95/p99 and requests per
second over the measured window.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from htsd_workflow.reports.queries import percentile

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BIN = Path(sys.executable).parent
#: the deployed command (Dockerfile, docker-compose.yml), less the bind address
#: (no gunicorn access log: the app's JSON request log is the one line per request)
GUNICORN_ARGS = ["--workers", "5", "--threads", "4"]
#: Redis for the bench server (rate limits, the Celery broker the transitions notify):
#: a database number of its own, emptied of the bench's task messages afterwards
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/13"
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
#: cores busy (any process, over ``QUIET_SECONDS``) just before a run above which a missed
#: goal is called inconclusive: other work was using the machine when the measurement began
BUSY_BEFORE = 0.5
#: the window of that reading (``BENCH_QUIET_SECONDS``; the suite's tiny end-to-end runs use a
#: fraction of a second: they check the bench's working, not the machine)
QUIET_SECONDS = 2.0
#: how long a benchmark waits at most for the machine to be quiet before a wall-clock run
#: (``BENCH_SETTLE_SECONDS``; 0 measures once and goes on)
SETTLE_SECONDS = 120.0


def busy_cores(seconds: float | None = None) -> float:
    """How many cores were busy, by any process, over the next ``seconds`` (``/proc/stat``).

    Unlike the 1-minute load average, this no longer counts a benchmark that has just ended
    (the average decays over minutes), only what runs now. ``seconds``: by default
    ``BENCH_QUIET_SECONDS`` (``QUIET_SECONDS``).
    """
    if seconds is None:
        seconds = float(os.environ.get("BENCH_QUIET_SECONDS", QUIET_SECONDS))

    def read() -> tuple[int, int]:
        with open("/proc/stat") as stat:
            # user nice system idle iowait irq softirq steal (guest time is inside user)
            ticks = [int(x) for x in stat.readline().split()[1:9]]
        return sum(ticks), ticks[3] + ticks[4]

    try:
        total_before, idle_before = read()
    except OSError:  # not Linux: the load average is the closest there is
        return round(os.getloadavg()[0], 2)
    time.sleep(seconds)
    total_after, idle_after = read()
    total = total_after - total_before
    if total <= 0:
        return 0.0
    busy = total - (idle_after - idle_before)
    return round((os.cpu_count() or 1) * busy / total, 2)


def settle(say: Callable[[str], None] = print) -> float:
    """Wait (up to ``BENCH_SETTLE_SECONDS``, default 120) until at most ``BUSY_BEFORE`` cores
    are busy, so a wall-clock run does not start on the tail of the previous one or beside
    other work; return the busy cores measured last — the verdict's "before the run"."""
    deadline = time.monotonic() + float(os.environ.get("BENCH_SETTLE_SECONDS", SETTLE_SECONDS))
    busy = busy_cores()
    while busy > BUSY_BEFORE and time.monotonic() < deadline:
        say(f"   waiting for the machine to settle: {busy:.1f} cores busy")
        busy = busy_cores()
    return busy


def verdict(met: bool, busy_before: float) -> tuple[bool | None, str]:
    """(met, note): a miss on a machine already busy before the run is inconclusive (None)."""
    if met:
        return True, ""
    if busy_before > BUSY_BEFORE:
        return None, f" — inconclusive: {busy_before:.1f} cores busy before the run"
    return False, ""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_url() -> str:
    return os.environ.get("BENCH_REDIS_URL") or DEFAULT_REDIS_URL


class Server:
    """gunicorn serving ``htsd_workflow.wsgi:app`` (or ``target``) on the bench database, with
    ``env`` added to its environment (a context manager)."""

    def __init__(
        self,
        database_uri: str,
        *,
        workers: int = 5,
        threads: int = 4,
        target: str = "htsd_workflow.wsgi:app",
        env: dict | None = None,
    ):
        self.database_uri = database_uri
        self.target = target
        self.env = dict(env or {})
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = list(GUNICORN_ARGS)
        self.args[1], self.args[3] = str(workers), str(threads)
        self.process: subprocess.Popen | None = None
        self.log = None

    @property
    def command(self) -> list[str]:
        return [
            str(BIN / "gunicorn"),
            "--bind",
            f"127.0.0.1:{self.port}",
            *self.args,
            self.target,
        ]

    def start(self, timeout: float = 90.0) -> Server:
        env = {
            **os.environ,
            "DATABASE_URL": self.database_uri,
            "REDIS_URL": redis_url(),
            "SECRET_KEY": os.environ.get("BENCH_SECRET_KEY", "bench-secret-key-not-for-production"),
            "BASE_URL": self.url,
            **self.env,
        }
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed in stop()
            prefix="bench-gunicorn-", suffix=".log", delete=False
        )
        self.process = subprocess.Popen(
            self.command, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited ({self.process.returncode}):\n{self.tail()}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as response:
                    if response.status == 200 and len(self.worker_pids()) >= int(self.args[1]):
                        return self
            except OSError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"gunicorn did not answer /healthz in {timeout} s:\n{self.tail()}")

    def worker_pids(self) -> list[int]:
        """The worker processes (children of the gunicorn master), oldest first."""
        if self.process is None:
            return []
        return children(self.process.pid)

    def tail(self, lines: int = 30) -> str:
        if self.log is None:
            return ""
        self.log.flush()
        text = Path(self.log.name).read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.log is not None:
            self.log.close()
            Path(self.log.name).unlink(missing_ok=True)
            self.log = None

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def children(pid: int) -> list[int]:
    """Direct children of ``pid``, from /proc (oldest first)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # the command name (2nd field) may hold spaces and parentheses: split after the last ')'
        fields = stat[stat.rfind(")") + 2 :].split()
        if int(fields[1]) == pid:
            found.append((int(fields[19]), int(entry.name)))  # start time, pid
    return [p for _start, p in sorted(found)]


def rss_kb(pid: int) -> int:
    """Resident memory of a process (VmRSS of /proc/<pid>/status), in kB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


def sign_in(base_url: str, username: str, password: str):
    """A ``requests`` session signed in through the sign-in form."""
    import requests

    session = requests.Session()
    page = session.get(base_url + "/login", timeout=30)
    match = CSRF.search(page.text)
    if match is None:
        raise RuntimeError("no csrf_token on the sign-in page")
    answer = session.post(
        base_url + "/login",
        data={"csrf_token": match.group(1), "username": username, "password": password},
        allow_redirects=False,
        timeout=30,
    )
    if answer.status_code != 302:
        raise RuntimeError(f"sign-in as {username} failed: {answer.status_code}")
    return session


@dataclass
class LoadResult:
    users: int
    requests: int
    failures: int
    seconds: float
    rps: float
    p50: float | None
    p95: float | None
    p99: float | None
    #: the first failure messages locust reported, if any
    errors: list[str]
    exhausted: bool = False

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def summarise(samples: list, *, users: int, warm_up: float = 0.0, errors=()) -> LoadResult:
    """Latency percentiles and throughput of the samples that started after ``warm_up`` s.

    A sample is ``[name, started, milliseconds, ok]`` (``started`` in seconds since the epoch).
    Throughput is the measured requests over the window from the first measured start to the
    last measured end; failed requests count as failures, not in the latencies.
    """
    if not samples:
        return LoadResult(users, 0, 0, 0.0, 0.0, None, None, None, list(errors))
    first = min(s[1] for s in samples)
    kept = [s for s in samples if s[1] >= first + warm_up]
    if not kept:
        kept = samples
    ok = [s[2] for s in kept if s[3]]
    start = min(s[1] for s in kept)
    end = max(s[1] + s[2] / 1000 for s in kept)
    seconds = max(end - start, 1e-9)
    return LoadResult(
        users=users,
        requests=len(kept),
        failures=len(kept) - len(ok),
        seconds=round(seconds, 2),
        rps=round(len(kept) / seconds, 1),
        p50=round(percentile(ok, 0.50), 2) if ok else None,
        p95=round(percentile(ok, 0.95), 2) if ok else None,
        p99=round(percentile(ok, 0.99), 2) if ok else None,
        errors=list(errors),
    )


def run_locust(
    base_url: str,
    plan: dict,
    *,
    users: int,
    seconds: float,
    warm_up: float = 0.0,
    on_ready: Callable[[int], None] | None = None,
) -> tuple[LoadResult, list]:
    """Run ``bench/locustfile.py`` headless with ``users`` clients; return the summary and samples.

    The run ends ``seconds`` after every client has signed in, or earlier when the plan's
    ``requests`` are done or every client ran out of work; ``--run-time`` only guards against
    a run that never ends. ``on_ready(locust_pid)`` is called once every client has signed in
    (before the first measured request), e.g. to read CPU counters without the sign-ins.
    """
    plan = {"users": users, "seconds": seconds, **plan}
    with tempfile.TemporaryDirectory(prefix="bench-locust-") as folder:
        out = Path(folder) / "samples.json"
        plan_path = Path(folder) / "plan.json"
        ready = Path(folder) / "ready"
        plan_path.write_text(
            json.dumps({**plan, "out": str(out), "ready_file": str(ready)}), encoding="utf-8"
        )
        command = [
            str(BIN / "locust"),
            "-f",
            str(HERE / "locustfile.py"),
            "--headless",
            "--users",
            str(users),
            "--spawn-rate",
            str(users),
            "--run-time",
            f"{round(seconds) + 120}s",
            "--host",
            base_url,
            "--only-summary",
            "--loglevel",
            "ERROR",
            "--stop-timeout",
            "10",
            "--csv",
            str(Path(folder) / "stats"),
        ]
        with tempfile.TemporaryFile("w+", encoding="utf-8") as output:
            process = subprocess.Popen(
                command,
                cwd=ROOT,
                env={**os.environ, "BENCH_PLAN": str(plan_path)},
                stdout=output,
                stderr=subprocess.STDOUT,
                text=True,
            )
            deadline = time.monotonic() + seconds + 240
            told = on_ready is None
            while process.poll() is None:
                if not told and ready.exists():
                    on_ready(process.pid)
                    told = True
                if time.monotonic() > deadline:
                    process.kill()
                time.sleep(0.02)
            if not out.exists():
                output.seek(0)
                raise RuntimeError(
                    f"locust wrote no samples (exit {process.returncode}):\n"
                    f"{output.read()[-6000:]}"
                )
        samples = json.loads(out.read_text(encoding="utf-8"))
        errors = _failures(Path(folder) / "stats_failures.csv")
    return summarise(samples, users=users, warm_up=warm_up, errors=errors), samples


def _failures(path: Path) -> list[str]:
    """The distinct failure messages of a locust run (its ``_failures.csv``)."""
    import csv

    if not path.exists():
        return []
    with path.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return [f"{r.get('Occurrences')} × {r.get('Name')}: {r.get('Error')}"[:300] for r in rows][:5]
