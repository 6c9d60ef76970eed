"""The other engines beside this one: the same four-step chain, each engine's own way.

The peers (``bench/peers.py``) run on the test PostgreSQL database in tables of their own;
the whole benchmark (``--only engines``) runs at a tiny scale on a throwaway database with
generated cases, where it checks itself that every engine took every instance through the
chain.
"""

from __future__ import annotations

import json
import os

import pytest

from bench.peers import CHAIN, create_tables, drop_tables, peer_engines, run_chain
from tests.services import scratch_database


def _server_url() -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        if os.environ.get("REQUIRE_SERVICES"):
            pytest.fail("TEST_DATABASE_URL is not set")
        pytest.skip("TEST_DATABASE_URL is not set: the peers run on PostgreSQL")
    return url


@pytest.fixture
def peer_database():
    from bench.data.load import connect

    with scratch_database(_server_url(), "htsd_peers") as url:
        connection = connect(url)
        try:
            create_tables(connection)
            yield connection
            drop_tables(connection)
        finally:
            connection.close()


def test_each_peer_runs_the_chain_with_a_history_row_per_action(peer_database):
    for engine in peer_engines():
        ids = engine.create(peer_database, 3)
        assert engine.finished(peer_database, ids) == 0
        run_chain(engine, peer_database, ids)
        assert engine.finished(peer_database, ids) == 3, engine.name


def test_a_peer_refuses_an_action_out_of_turn(peer_database):
    for engine in peer_engines():
        (instance,) = engine.create(peer_database, 1)
        with peer_database.cursor() as cur, pytest.raises(Exception):  # noqa: B017
            engine.act(cur, instance, "sign", "education")  # the chain starts with submit
        peer_database.rollback()


def test_the_engines_benchmark_runs_every_engine_at_a_tiny_scale(tmp_path, monkeypatch):
    from bench.run import main

    with scratch_database(_server_url(), "htsd_benchtest") as url:
        monkeypatch.setenv("BENCH_DATABASE_URL", url)
        if os.environ.get("TEST_REDIS_URL"):
            monkeypatch.setenv("BENCH_REDIS_URL", os.environ["TEST_REDIS_URL"])
        results = tmp_path / "results.json"
        assert main(["--cases", "300", "--only", "engines", "--results", str(results)]) == 0
    figures = {f["key"]: f for f in json.loads(results.read_text())["figures"]}
    ours = figures["engines_htsd"]
    rounds = ours["details"]["rounds"]
    for name in ("htsd", "SpiffWorkflow", "python-statemachine"):
        assert all(value > 0 for value in rounds[f"{name} actions/s"]), name
        assert all(value > 0 for value in rounds[f"{name} client CPU µs per action"]), name
    assert ours["details"]["chain"] == [f"{t} by {a}" for t, a in CHAIN]
    for key in ("engines_spiffworkflow", "engines_python_statemachine"):
        peer = figures[key]
        assert peer["value"] > 0 and peer["reference"] == ours["value"]
        assert peer["ratio"] == pytest.approx(ours["value"] / peer["value"], rel=0.01)
        assert peer["details"]["does_per_action"]
