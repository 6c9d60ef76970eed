"""Throwaway PostgreSQL and Redis servers on free ports, for tests that stop or restart them.

Never the machine's shared services: each instance lives in a temporary folder and is removed.
PostgreSQL refuses to run as root, so its cluster is made and run as the ``postgres`` user.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_port(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on port {port}")


class ThrowawayRedis:
    def __init__(self):
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> ThrowawayRedis:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_port(self.port)
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


def _pg_bin(name: str) -> str:
    # initdb and pg_ctl are not on PATH in Debian's packaging
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if candidates:
        return candidates[-1]
    found = shutil.which(name)
    if found:
        return found
    raise FileNotFoundError(name)


class ThrowawayPostgres:
    """A PostgreSQL cluster of its own, made with initdb in a temporary folder."""

    def __init__(self):
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="htsd-pg-"))
        self.data = self.folder / "data"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *command], check=True, capture_output=True)

    def init(self) -> ThrowawayPostgres:
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres")
        self._as_postgres(
            _pg_bin("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8"
        )
        return self

    def start(self) -> ThrowawayPostgres:
        self._as_postgres(
            _pg_bin("pg_ctl"),
            "-D",
            str(self.data),
            "-w",
            "-l",
            str(self.folder / "log"),
            "-o",
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1",
            "start",
        )
        _wait_port(self.port)
        return self

    def stop(self, mode: str = "fast") -> None:
        self._as_postgres(_pg_bin("pg_ctl"), "-D", str(self.data), "-w", "-m", mode, "stop")

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)


@contextlib.contextmanager
def scratch_database(server_url: str, prefix: str):
    """A new, empty database on the PostgreSQL at ``server_url`` (its URL, password kept),
    dropped afterwards with any connection still open on it.

    A throwaway database needs no durability: its commits do not wait for the WAL to reach the
    disk (``synchronous_commit = off``; a crash could lose the last few, a clean restart loses
    none), which makes the commit-heavy tests several times faster on a busy disk."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from htsd_workflow.config import normalize_database_url

    base = make_url(normalize_database_url(server_url))
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
            connection.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
        yield base.set(database=name).render_as_string(hide_password=False)
        with admin.connect() as connection:
            connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            )
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    finally:
        admin.dispose()
