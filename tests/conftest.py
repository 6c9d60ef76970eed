"""Shared fixtures.

The database tests run on the embedded SQLite default and, when ``TEST_DATABASE_URL`` is set,
again on PostgreSQL (a throwaway database created for this run). With ``REQUIRE_SERVICES=1`` a
service that is configured but cannot be reached fails the run instead of being skipped.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import text

from htsd_workflow import create_app
from htsd_workflow.core.calendar import invalidate_calendar
from htsd_workflow.extensions import db
from htsd_workflow.geography.operations import import_province
from tests.clients import api, as_user, browser  # noqa: F401 (fixtures for every test)
from tests.clock import DEFAULT_NOW, TEST_NOW
from tests.factories import Factory
from tests.services import scratch_database

# one JSON line per request is for production; tests keep their output readable
os.environ.setdefault("LOG_LEVEL", "WARNING")

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"
TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL")


@pytest.fixture(autouse=True)
def clock(request):
    """Every test starts at ``TEST_NOW`` (tests/clock), never at the real moment; the clock
    ticks on from there. ``clock.move_to(moment)`` moves it inside a test. A test marked
    ``pinned_clock`` states dates of its own and starts at ``DEFAULT_NOW`` in every run."""
    start = DEFAULT_NOW if request.node.get_closest_marker("pinned_clock") else TEST_NOW
    with time_machine.travel(start, tick=True) as traveller:
        yield traveller


def service_unavailable(message: str):
    """Fail (REQUIRE_SERVICES=1) or skip when a service the test needs is missing."""
    if REQUIRE_SERVICES:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_url():
    """URL of a fresh PostgreSQL database for this run, dropped at the end."""
    if not TEST_DATABASE_URL:
        service_unavailable("TEST_DATABASE_URL is not set: PostgreSQL tests not run")
    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(scratch_database(TEST_DATABASE_URL, "htsd_test"))
        except Exception as exc:  # noqa: BLE001
            service_unavailable(f"PostgreSQL at {TEST_DATABASE_URL} unreachable: {exc}")
        yield url


def _make_app(database_url: str, instance: Path, **extra):
    config = {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SECRET_KEY": "test-secret",
        "WTF_CSRF_ENABLED": True,
        "INSTANCE_PATH": str(instance),
        "RATELIMIT_STORAGE_URI": "memory://",
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
        # no worker runs beside most tests; the worker tests switch this on
        "NOTIFY_WORKER": False,
        **extra,
    }
    return create_app(config)


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def app(request, tmp_path_factory):
    """The app on a fresh schema with Kon Tum's geography, on SQLite and on PostgreSQL."""
    instance = tmp_path_factory.mktemp(f"instance-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{instance / 'test.sqlite'}"
    else:
        url = request.getfixturevalue("postgres_url")
    application = _make_app(url, instance)
    application.config["BACKEND"] = request.param
    with application.app_context():
        db.create_all()
        import_province("62")
        db.session.commit()
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


KEEP_TABLES = {"units"}


def _restart_sequences(connection) -> str:
    """One statement that restarts the id sequences of the wiped tables (what ``TRUNCATE …
    RESTART IDENTITY`` did), made once per database."""
    key = ("htsd_restart_sequences", connection.engine.url)
    statement = _STATEMENTS.get(key)
    if statement is None:
        sequences = connection.scalars(
            text(
                "SELECT pg_get_serial_sequence(quote_ident(table_name), column_name) "
                "FROM information_schema.columns WHERE table_schema = current_schema() "
                "AND (column_default LIKE 'nextval%' OR is_identity = 'YES') "
                "AND table_name <> ALL(:kept)"
            ),
            {"kept": list(KEEP_TABLES)},
        ).all()
        statement = "SELECT " + ", ".join(f"setval('{s}', 1, false)" for s in sequences)
        _STATEMENTS[key] = statement
    return statement


_STATEMENTS: dict = {}


#: tests that read PostgreSQL's query plans: they start on truncated tables, whose statistics
#: are those of empty tables, not on the ones ``DELETE`` left with the pages of earlier tests
PLAN_PATHS = (
    "tests/reports/test_report_scans.py",
    "tests/sla/test_scan_postgres.py",
    "tests/bench/test_transition_writes.py",
)


@pytest.fixture
def ctx(app, request):
    """An app context whose data (all but the geography) is wiped after the test.

    On PostgreSQL by ``DELETE`` with the foreign keys' triggers off and the sequences restarted,
    not ``TRUNCATE``: truncating 30 tables makes new files for each table and index, about a
    second per test on this machine against some 60 ms (issue 20 item 9). A test that reads
    query plans (``PLAN_PATHS``) starts on truncated tables."""
    with app.app_context():
        tables = [t for t in reversed(db.metadata.sorted_tables) if t.name not in KEEP_TABLES]
        postgres = db.engine.dialect.name == "postgresql"
        where = Path(str(request.node.path)).relative_to(Path(str(request.config.rootpath)))
        if postgres and where.as_posix() in PLAN_PATHS:
            names = ", ".join(f'"{t.name}"' for t in tables)
            with db.engine.begin() as connection:
                connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        yield app
        db.session.rollback()
        db.session.remove()
        with db.engine.begin() as connection:
            if postgres:
                connection.execute(text("SET LOCAL session_replication_role = replica"))
            for table in tables:
                connection.execute(table.delete())
            if postgres:
                connection.execute(text(_restart_sequences(connection)))
            connection.execute(
                text(
                    "UPDATE units SET is_dbkk = false, is_ethnic_minority = false "
                    "WHERE is_dbkk OR is_ethnic_minority"
                )
            )
        invalidate_calendar()
        # the evidence files go with their rows: ids start again at 1, so a later test's case
        # would otherwise find an earlier test's files in its folder
        shutil.rmtree(app.config["UPLOAD_FOLDER"], ignore_errors=True)


#: what `make check` leaves out (marked ``slow`` here, in one place): real servers, browsers,
#: worker processes, the demo seed, and the property and fuzzing tests that walk every form,
#: file or endpoint. `make test` runs everything.
SLOW_PATHS = (
    "tests/browser/",
    "tests/load/",
    "tests/faults/",
    "tests/bench/",
    "tests/worker/",
    "tests/reports/test_demo_reports.py",
    "tests/demo/test_demo_seed.py",
    "tests/geography/test_demo_today.py",
    "tests/cases/test_workflow_properties.py",
    "tests/api/test_schemathesis.py",
    "tests/security/test_form_properties.py",
    "tests/security/test_odd_inputs.py",
    "tests/cases/test_definitions.py::test_a_real_file_with_one_value_spoiled",
    "tests/web/test_english_crawl.py::test_no_vietnamese_words_in_english_outside_user_data",
    "tests/notifications/test_outbox_notice.py",  # real timers: seconds of waiting
)


#: the longest tests (half a minute to a minute and a half each in a `make test` run), started
#: first so that no worker is left alone with one of them at the end of the run
LONGEST = (
    "tests/bench/test_http_benches.py::test_the_",
    "tests/security/test_odd_inputs.py::test_no_route_answers_an_odd_input_with_a_500",
    "tests/load/",
    "tests/worker/test_worker_process.py",
    "tests/api/test_schemathesis.py",
    "tests/faults/test_redis_outage.py",
    "tests/reports/test_demo_reports.py",
)


#: where the tests' files go (SQLite databases, uploads, instance folders) when no --basetemp
#: is given: a folder of its own in memory (/dev/shm), so that SQLite's commits do not wait on
#: the disk's flush (a fifth of `make check`'s time on this machine); the databases, their
#: settings and their locking are the same
MEMORY_FOLDER = Path("/dev/shm")


def pytest_configure(config):
    is_worker = hasattr(config, "workerinput")  # pytest-xdist's workers get theirs below it
    if is_worker or config.option.basetemp or not os.access(MEMORY_FOLDER, os.W_OK):
        return
    config.option.basetemp = tempfile.mkdtemp(prefix="htsd-tests-", dir=MEMORY_FOLDER)
    config.htsd_memory_basetemp = config.option.basetemp


def pytest_unconfigure(config):
    folder = getattr(config, "htsd_memory_basetemp", None)
    if folder:
        shutil.rmtree(folder, ignore_errors=True)


def pytest_collection_modifyitems(config, items):
    """Mark the ``SLOW_PATHS`` tests ``slow``; run ``postgres_only`` tests (row locks, real
    races) only in the PostgreSQL run. The order: the ``LONGEST`` first, then the rest in their
    files' order, so that the parallel workers end together (pytest-xdist hands tests out from
    the front, one at a time with `make test`'s ``--maxschedchunk 1``). Not all slow tests
    first: the timer tests (tests/notifications/test_outbox_notice.py) then ran beside the
    heaviest ones and missed their windows."""
    root = Path(str(config.rootpath))
    rank = {}
    for item in items:
        where = Path(str(item.path)).relative_to(root).as_posix() + "::" + item.name
        if where.startswith(SLOW_PATHS):
            item.add_marker(pytest.mark.slow)
        rank[item] = 0 if where.startswith(LONGEST) else 1
    items.sort(key=rank.__getitem__)
    kept, dropped = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        backend = callspec.params.get("app") if callspec else None
        if item.get_closest_marker("postgres_only") and backend == "sqlite":
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture
def client(ctx):
    return ctx.test_client()


@pytest.fixture
def make(ctx):
    """Factories for users, subjects and cases in a known state."""
    return Factory()
