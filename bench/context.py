"""What every benchmark gets: the app on the bench database, the data, and a way to report."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg
from flask import Flask
from sqlalchemy.engine import make_url

from bench.data.dataset import GENERATOR_VERSION, generate, reset
from htsd_workflow.config import normalize_database_url

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/htsd_bench"
#: generated data is reused for this long (open cases' ages are relative to the day it was made)
REUSE_DAYS = 7


@dataclass
class Figure:
    """One measured result, next to its reference and its goal."""

    key: str
    name: str
    value: float | None
    unit: str
    reference: float | None = None
    reference_name: str = ""
    ratio: float | None = None
    goal: str = ""
    met: bool | None = None
    #: scripts, plans, per-round numbers: printed in full below the table
    details: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class BenchContext:
    app: Flask
    database_uri: str
    case_count: int
    quick: bool
    say: Callable[[str], None]
    #: facts about the data (counts, generation time, when)
    data: dict = field(default_factory=dict)
    #: also profile the operation (cProfile, on extra cases, outside the timed rounds)
    profile: bool = False
    #: seconds of each closed-loop load run (None: 20, or 8 for small data sets)
    duration: float | None = None
    #: requests of the memory benchmark (two halves)
    memory_requests: int = 10_000
    #: concurrent clients of the HTTP load runs (the queue runs at each; the others at the most)
    clients: tuple[int, ...] = (16, 4)


def callgrind_control(*arguments: str) -> None:
    """Tell the callgrind run this process is under (``valgrind --tool=callgrind
    --instr-atstart=no``) to switch instrumentation on or off (``-i on``/``-i off``) or dump
    (``-d NAME``): the callgrind scripts count only the requests they measure."""
    subprocess.run(
        ["callgrind_control", *arguments, str(os.getpid())], check=True, stdout=subprocess.DEVNULL
    )


def database_uri() -> str:
    return normalize_database_url(os.environ.get("BENCH_DATABASE_URL") or DEFAULT_DATABASE_URL)


def create_database_if_missing(uri: str) -> bool:
    """Create the bench database (connecting to the server's ``postgres`` database)."""
    url = make_url(uri)
    admin = url.set(drivername="postgresql", database="postgres")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (url.database,)
        ).fetchone()
        if exists:
            return False
        conn.execute(f'CREATE DATABASE "{url.database}"')
        return True


def _read_marker(conn: psycopg.Connection) -> dict | None:
    row = conn.execute(
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database "
        "WHERE datname = current_database()"
    ).fetchone()
    try:
        return json.loads(row[0]) if row and row[0] else None
    except ValueError:
        return None


def _write_marker(conn: psycopg.Connection, marker: dict) -> None:
    name = conn.execute("SELECT current_database()").fetchone()[0]
    text = json.dumps(marker).replace("'", "''")
    conn.execute(f"COMMENT ON DATABASE \"{name}\" IS '{text}'")


def ensure_data(uri: str, case_count: int, *, fresh: bool, say) -> dict:
    """Generate the data set unless the same one (same size and generator) is there and recent.

    The database's comment records what was generated, when, and how long it took.
    """
    libpq = make_url(uri).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(libpq, autocommit=True) as conn:
        marker = _read_marker(conn)
        cases = conn.execute("SELECT count(*) FROM cases").fetchone()[0]
    wanted = {"generator": GENERATOR_VERSION, "cases": case_count, "seed": 1}
    if marker and not fresh and all(marker.get(k) == v for k, v in wanted.items()):
        made = datetime.fromisoformat(marker["generated_at"])
        if datetime.now(UTC) - made < timedelta(days=REUSE_DAYS) and cases >= case_count:
            say(f"reusing the data generated {made:%Y-%m-%d %H:%M} UTC ({cases:,} cases)")
            return {**marker, "reused": True, "cases_now": cases}
    say(f"generating {case_count:,} cases (bench generate --cases {case_count}) …")
    if cases:
        reset()
    started = time.perf_counter()
    result = generate(case_count, seed=1, progress=lambda m: say(f"  {m}"))
    marker = {
        **wanted,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - started, 1),
        "result": result.as_dict(),
    }
    with psycopg.connect(libpq, autocommit=True) as conn:
        _write_marker(conn, marker)
        try:  # flush the load now, not during the first measurements
            conn.execute("CHECKPOINT")
        except psycopg.errors.InsufficientPrivilege:
            say("(no right to CHECKPOINT: the first rounds may overlap the load's flush)")
    return {**marker, "reused": False, "cases_now": case_count}


def machine() -> dict:
    """The machine and database server the figures were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory_gb = None
    try:
        with open("/proc/meminfo", encoding="utf-8") as handle:
            kb = int(handle.readline().split()[1])
            memory_gb = round(kb / 1024 / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": memory_gb,
        "os": platform.platform(),
        "python": platform.python_version(),
    }


def server_facts(uri: str) -> dict:
    libpq = make_url(uri).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(libpq, autocommit=True) as conn:
        facts = {"postgresql": conn.execute("SHOW server_version").fetchone()[0]}
        for setting in (
            "shared_buffers",
            "synchronous_commit",
            "fsync",
            "wal_level",
            "max_wal_size",
            "work_mem",
        ):
            facts[setting] = conn.execute(f"SHOW {setting}").fetchone()[0]
        size = conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
        facts["database_size"] = size.fetchone()[0]
    return facts
