"""The app served by a real gunicorn process on a free loopback port, and HTTP clients that use it
the way a browser does (cookies, CSRF tokens read from the forms).

Used by the fault and load tests, which need a server that is a separate process from the test
(its own connection pool, its own rate limiter, its own broker connection).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import requests

from tests.clock import child_env, child_pythonpath
from tests.services import free_port

ROOT = Path(__file__).resolve().parents[1]
_TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
_VERSION = re.compile(r'name="version" value="(\d+)"')


class AppServer:
    """``gunicorn htsd_workflow.wsgi:app`` with the given database (and Redis, if any)."""

    def __init__(
        self,
        database_url: str,
        folder: Path,
        *,
        redis_url: str | None = None,
        workers: int = 2,
        threads: int = 8,
        keep_alive: int = 2,
        env: dict | None = None,
    ):
        self.port = free_port()
        self.folder = folder
        self.database_url = database_url
        self.redis_url = redis_url
        self.workers = workers
        self.threads = threads
        #: seconds gunicorn keeps an idle connection open (its default: 2)
        self.keep_alive = keep_alive
        self.extra_env = env or {}
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> AppServer:
        self.folder.mkdir(parents=True, exist_ok=True)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": child_pythonpath(ROOT),
            **child_env(),
            "DATABASE_URL": self.database_url,
            "SECRET_KEY": "live-server-test-secret",
            "HTSD_INSTANCE_PATH": str(self.folder / "instance"),
            "LOG_LEVEL": "WARNING",
            **self.extra_env,
        }
        if self.redis_url:
            env["REDIS_URL"] = self.redis_url
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(self.workers),
                "--threads",
                str(self.threads),
                "--timeout",
                "60",
                "--graceful-timeout",
                "5",
                "--keep-alive",
                str(self.keep_alive),
                "htsd_workflow.wsgi:app",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(self.folder / "gunicorn.log", "ab"),  # noqa: SIM115 - kept by Popen
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.log()[-3000:]}")
            try:
                if requests.get(f"{self.url}/login", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.3)
        self.stop()
        raise TimeoutError(f"gunicorn did not answer in {timeout}s: {self.log()[-3000:]}")

    def log(self) -> str:
        path = self.folder / "gunicorn.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


class WebUser:
    """One person's browser session against a live server."""

    def __init__(self, base_url: str, timeout: float = 30):
        self.base_url = base_url
        self.timeout = timeout
        self.session = requests.Session()

    def get(self, path: str) -> requests.Response:
        return self.session.get(self.base_url + path, timeout=self.timeout, allow_redirects=False)

    def post(self, path: str, data: dict, *, token_from: str) -> requests.Response:
        """Post a form with the CSRF token of the page ``token_from`` (or its HTML)."""
        page = token_from if "<" in token_from else self.get(token_from).text
        found = _TOKEN.search(page)
        form = dict(data, csrf_token=found.group(1) if found else "")
        return self.session.post(
            self.base_url + path, data=form, timeout=self.timeout, allow_redirects=False
        )

    def login(self, username: str, password: str) -> requests.Response:
        return self.post(
            "/login", {"username": username, "password": password}, token_from="/login"
        )


def case_version(html: str) -> int | None:
    """The case version the action form of a case page carries."""
    found = _VERSION.search(html)
    return int(found.group(1)) if found else None


def offers(html: str, trigger: str) -> bool:
    """Whether a case page offers the action button ``trigger``."""
    return f'name="trigger" value="{trigger}"' in html


class _Forms(HTMLParser):
    """Every form of a page with the values a browser would send (no buttons, no files)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms: list[tuple[dict, dict]] = []
        self._textarea: str | None = None
        self._select: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = {k: (v if v is not None else "") for k, v in attrs}
        if tag == "form":
            self.forms.append((attrs, {}))
        if not self.forms:
            return
        fields = self.forms[-1][1]
        name = attrs.get("name")
        if tag == "input" and name:
            kind = attrs.get("type", "text")
            if kind in ("submit", "button", "file", "image", "reset"):
                return
            if kind in ("checkbox", "radio") and "checked" not in attrs:
                return
            fields[name] = attrs.get("value", "")
        elif tag == "textarea" and name:
            self._textarea = name
            fields[name] = ""
        elif tag == "select" and name:
            self._select = name
        elif tag == "option" and self._select:
            if "selected" in attrs or self._select not in fields:
                fields[self._select] = attrs.get("value", "")

    def handle_endtag(self, tag):
        if tag == "textarea":
            self._textarea = None
        elif tag == "select":
            self._select = None

    def handle_data(self, data):
        if self._textarea and self.forms:
            self.forms[-1][1][self._textarea] += data


def form_fields(page: str, *, marker: str) -> dict:
    """The fields of the first form of ``page`` that carries the attribute ``marker``."""
    parser = _Forms()
    parser.feed(page)
    for attrs, fields in parser.forms:
        if marker in attrs:
            return fields
    raise LookupError(f"no form with {marker!r} on the page")
