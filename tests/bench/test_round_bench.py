"""The annual round's benchmarks (``bench/round_bench.py``) at a small scale: the grid request
and its replay write the same rows, and the assessment file imports whole in the child process
with its memory measured."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url

from bench.imports import _drop, _recreate
from bench.round_bench import run_file, run_grid
from htsd_workflow.config import normalize_database_url
from tests.conftest import TEST_DATABASE_URL

pytestmark = pytest.mark.slow


@pytest.fixture
def round_database():
    if not TEST_DATABASE_URL:
        pytest.skip("TEST_DATABASE_URL is not set: PostgreSQL tests not run")
    uri = (
        make_url(normalize_database_url(TEST_DATABASE_URL))
        .set(database="htsd_benchround_test")
        .render_as_string(hide_password=False)
    )
    _recreate(uri)
    yield uri
    _drop(uri)


def test_the_grid_bench_sends_every_household_and_replays_the_request(round_database):
    found = run_grid(round_database, households=6, rounds=1)
    assert len(found["seconds"]) == 1 and len(found["raw_seconds"]) == 1
    assert found["statements"] > 6


def test_the_file_bench_imports_every_row_and_measures_memory(round_database):
    found = run_file(round_database, rows=40, small_rows=10)
    assert found["big"]["updated"] == 40 and found["small"]["updated"] == 10
    assert found["big"]["peak_kb"] >= found["big"]["baseline_kb"] > 0
