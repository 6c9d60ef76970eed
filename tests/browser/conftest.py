"""Browser journeys: Debian's Chromium driven by Playwright against a real server thread.

Every page a journey opens is screenshotted into test-output/browser/<test>/ so a person can
look at the screens; any console error or Content-Security-Policy violation fails the test.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from htsd_workflow import create_app
from htsd_workflow.extensions import db
from htsd_workflow.geography.operations import import_province
from tests.factories import Factory

CHROMIUM = Path("/usr/bin/chromium")
OUTPUT = Path(__file__).resolve().parents[2] / "test-output" / "browser"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}

pytestmark = pytest.mark.browser


def browser_app(instance: Path):
    """The app on its own SQLite file in ``instance``, with an empty schema."""
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{instance / 'browser.sqlite'}",
            "SECRET_KEY": "browser-test-secret",
            "INSTANCE_PATH": str(instance),
            "UPLOAD_FOLDER": str(instance / "uploads"),
            "RATELIMIT_STORAGE_URI": "memory://",
            "LOGIN_RATE_LIMIT": "100 per minute",
            "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
            "BULK_BACKGROUND_THRESHOLD": 3,
            # no Celery worker in this test: background bulk jobs run in a thread here
            "NOTIFY_WORKER": False,
        }
    )
    with app.app_context():
        db.create_all()
    return app


@contextlib.contextmanager
def served(app):
    """``app`` served by a real HTTP server in a thread (its address in ``LIVE_URL``)."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    app.config["LIVE_URL"] = f"http://127.0.0.1:{server.server_port}"
    yield app
    server.shutdown()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(scope="session")
def live_app(tmp_path_factory):
    """Kon Tum as it was, served by a real HTTP server in a thread."""
    app = browser_app(tmp_path_factory.mktemp("browser-instance"))
    with app.app_context():
        import_province("62")
        db.session.commit()
    with served(app):
        yield app


@pytest.fixture(scope="session")
def chromium():
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: apt-get install -y chromium", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Person:
    """One person at their own browser (own cookies), with a console guard and a camera."""

    def __init__(self, context, base_url: str, folder: Path, name: str, counter: list):
        self.context = context
        self.page = context.new_page()
        self.base_url = base_url
        self.folder = folder
        self.name = name
        self.counter = counter
        self.problems: list[str] = []
        self.expected: list[re.Pattern] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))

    def _console(self, message) -> None:
        if message.type not in ("error", "warning"):
            return
        text = message.text
        if message.type == "warning" and "Content Security Policy" not in text:
            return
        if any(p.search(text) for p in self.expected):
            return
        self.problems.append(f"console {message.type} on {self.page.url}: {text}")

    @contextlib.contextmanager
    def expecting(self, pattern: str):
        """Allow console errors matching ``pattern`` (e.g. the 422 of a refused form)."""
        compiled = re.compile(pattern)
        self.expected.append(compiled)
        try:
            yield
        finally:
            self.expected.remove(compiled)

    def go(self, path: str) -> None:
        self.page.goto(self.base_url + path)

    def shot(self, label: str) -> None:
        self.counter[0] += 1
        slug = re.sub(r"[^a-z0-9]+", "-", f"{self.name} {label}".lower()).strip("-")
        self.page.screenshot(
            path=str(self.folder / f"{self.counter[0]:02d}-{slug}.png"), full_page=True
        )

    def login(self, username: str, password: str) -> None:
        self.go("/login")
        self.page.fill("#username", username)
        self.page.fill("#password", password)
        self.page.click("main button[type=submit]")
        self.page.wait_for_load_state()

    def see(self, text: str) -> None:
        """Wait until ``text`` is on the page (fails with the page's text otherwise)."""
        self.page.get_by_text(text, exact=False).first.wait_for(timeout=5000)


@pytest.fixture
def people(chromium, live_app, request):
    """Open browsers for people: ``person = people("chuho", phone=True)``."""
    folder = OUTPUT / request.node.name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    counter = [0]
    opened: list[Person] = []

    def open_person(name: str, *, phone: bool = False) -> Person:
        context = chromium.new_context(
            viewport=PHONE if phone else DESKTOP, locale="vi-VN", accept_downloads=True
        )
        person = Person(context, live_app.config["LIVE_URL"], folder, name, counter)
        opened.append(person)
        return person

    yield open_person
    problems = [p for person in opened for p in person.problems]
    for person in opened:
        person.context.close()
    assert not problems, "console errors or CSP violations:\n" + "\n".join(problems)


@pytest.fixture
def make(live_app):
    """The factory (tests/factories) on the served app's database."""
    with live_app.app_context():
        yield Factory()
