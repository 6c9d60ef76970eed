"""The pieces of benchmarks 3–7: latency summaries, process facts, and a tiny end-to-end run.

The end-to-end test builds its own throwaway PostgreSQL database, generates 300 cases and runs
every new benchmark at a tiny scale (gunicorn, locust, the scan child) through
``python -m bench.run``'s ``main``; it checks the figures are real measurements of the work
asked for, not their size (the machine is shared).
"""

from __future__ import annotations

import json
import os
import time

import pytest

from bench.httpload import children, rss_kb, summarise
from tests.services import scratch_database


def sample(start, ms, ok=True, name="queue"):
    return [name, start, ms, ok]


def test_percentiles_interpolate_between_ranks_as_percentile_cont():
    samples = [sample(100.0 + i / 100, float(ms)) for i, ms in enumerate(range(1, 101))]
    result = summarise(samples, users=4)
    assert result.requests == 100 and result.failures == 0
    assert result.p50 == 50.5  # between the 50th and 51st of 1..100
    assert result.p95 == 95.05 and result.p99 == 99.01


def test_warm_up_is_left_out_and_throughput_counts_the_window():
    slow_start = [sample(0.0 + i * 0.1, 900.0) for i in range(10)]  # the first second
    steady = [sample(2.0 + i * 0.01, 10.0) for i in range(200)]  # 2.0 s … 3.99 s
    result = summarise(slow_start + steady, users=2, warm_up=1.5)
    assert result.requests == 200
    assert result.p99 == 10.0  # none of the warm-up's 900 ms
    # 200 requests from 2.0 s to 3.99 s + 10 ms = 2.0 s
    assert result.rps == pytest.approx(100.0, rel=0.01)


def test_failures_count_but_stay_out_of_the_latencies():
    samples = [sample(1.0, 5.0), sample(1.1, 7.0), sample(1.2, 5000.0, ok=False)]
    result = summarise(samples, users=1, errors=["1 × queue: 500"])
    assert result.failures == 1 and result.requests == 3
    assert result.p99 <= 7.0
    assert result.errors == ["1 × queue: 500"]


def test_no_samples_gives_no_figures():
    result = summarise([], users=16)
    assert result.requests == 0 and result.p50 is None and result.rps == 0.0


def test_the_cpu_budget_is_the_server_side_cpu_against_what_the_rate_leaves(monkeypatch):
    from bench.http_benches import cpu_budget_figure

    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    cpu = {"server_ms_per_request": 8.0, "postgres_ms_per_request": 2.0}
    figure = cpu_budget_figure("k", "n", {**cpu, "locust_ms_per_request": 3.0}, 350.0)
    assert figure.value == 10.0  # the load tool's CPU is not the server's
    assert figure.reference == pytest.approx(5.71, abs=0.01)  # 2 cores × 1000 ms / 350
    assert figure.ratio == pytest.approx(1.75, abs=0.01)
    assert "ceiling 200 req/s on 2 cores" in figure.goal  # 2,000 ms of CPU a second / 10 ms
    assert cpu_budget_figure("k", "n", {**cpu, "locust_ms_per_request": 1.0}).reference is None


def test_children_and_resident_memory_of_real_processes():
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
    try:
        assert child.pid in children(os.getpid())
        assert rss_kb(child.pid) > 1000  # a Python interpreter is more than 1 MB
    finally:
        child.kill()
        child.wait()
    assert rss_kb(os.getpid()) > 10_000


@pytest.fixture
def bench_database(monkeypatch):
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        if os.environ.get("REQUIRE_SERVICES"):
            pytest.fail("TEST_DATABASE_URL is not set")
        pytest.skip("TEST_DATABASE_URL is not set: the bench run needs PostgreSQL")
    with scratch_database(url, "htsd_benchtest") as bench_url:
        monkeypatch.setenv("BENCH_DATABASE_URL", bench_url)
        monkeypatch.setenv("BENCH_SETTLE_SECONDS", "0")  # measure the machine, do not wait
        monkeypatch.setenv("BENCH_QUIET_SECONDS", "0.2")  # and read it over a short window
        if os.environ.get("TEST_REDIS_URL"):
            monkeypatch.setenv("BENCH_REDIS_URL", os.environ["TEST_REDIS_URL"])
        yield bench_url


def _bench_run(tmp_path, only: list[str], *extra: str, seconds: int = 1) -> dict:
    """``make bench``'s entry point on 300 generated cases, load runs of ``seconds``, these
    benches only; the figures it wrote, by key."""
    from bench.run import main

    results = tmp_path / "results.json"
    argv = ["--cases", "300", "--duration", str(seconds), *extra, "--results", str(results)]
    for name in only:
        argv += ["--only", name]
    assert main(argv) == 0
    payload = json.loads(results.read_text())
    assert set(payload["run"]["seconds_per_bench"]) == set(only)
    return {f["key"]: f for f in payload["figures"]}


# The end-to-end runs are three tests (each its own database) so that the suite's workers
# share them.


def test_the_queue_benchmark_runs_end_to_end_at_a_tiny_scale(bench_database, tmp_path, capsys):
    # 3 s runs: every client answers within them even beside the suite's other long tests
    figures = _bench_run(tmp_path, ["queue_http"], "--clients", "2", seconds=3)
    for users in (2,):
        queue = figures[f"queue_http_{users}"]
        assert queue["value"] > 0 and queue["reference"] > 0  # p95 of the page and of its SQL
        details = queue["details"]
        assert details["queue"]["users"] == users and details["queue"]["failures"] == 0
        assert details["queue"]["requests"] >= users  # every client answered
        assert len(set(details["clients"])) == users  # each client a different reviewer
        assert details["healthz_floor"]["rps"] > 0 and details["raw_sql_floor"]["requests"] > 0
        assert "gunicorn" in details["command"] and "--workers 5 --threads 4" in details["command"]
        budget = figures[f"queue_http_{users}_budget"]
        cpu = budget["details"]["cpu_seconds"]
        # read from the sign-ins on: the app's workers and the database's backends both worked
        assert cpu["server_ms_per_request"] > 0 and cpu["postgres_ms_per_request"] > 0
        assert budget["value"] == pytest.approx(
            cpu["server_ms_per_request"] + cpu["postgres_ms_per_request"], abs=0.01
        )
        # both floors served each reviewer the app's page (checked before the run: same cases,
        # same size) and were measured the same way
        for floor in ("stack_floor", "library_floor"):
            bare = figures[f"queue_http_{users}_{floor}"]
            assert bare["details"]["floor"]["failures"] == 0
            assert bare["details"]["floor"]["requests"] >= users and bare["value"] > 0
            assert bare["details"]["cpu_seconds"]["server_ms_per_request"] > 0
            assert bare["ratio"] == pytest.approx(
                queue["details"]["queue"]["rps"] / bare["value"], 0.01
            )
            floor_cpu = bare["details"]["cpu_seconds"]
            assert figures[f"queue_http_{users}_{floor}_budget"]["value"] == pytest.approx(
                floor_cpu["server_ms_per_request"] + floor_cpu["postgres_ms_per_request"], abs=0.01
            )
            over = figures[f"queue_http_{users}_over_{floor}"]
            assert over["value"] == cpu["server_ms_per_request"]
    # the conditional-GET run at the most clients (here the only count): every answer a
    # page or a 304, the queues changed meanwhile, the mix counted
    conditional = figures["queue_http_2_conditional"]["details"]
    assert conditional["queue"]["failures"] == 0 and conditional["answers"] > 0
    assert 0 <= conditional["answered_304"] <= conditional["answers"]
    assert conditional["queue_changes"] > 0
    assert "queue_http_2_conditional_budget" in figures
    plans = figures["queue_http_2"]["details"]["plans"]
    assert plans and all("ix_cases_queue_" in plan for plan in plans.values())

    printed = capsys.readouterr().out
    assert "| 3. reviewer queue over HTTP, 2 clients" in printed
    assert "seconds per benchmark:" in printed


def test_the_transition_and_memory_benchmarks_run_end_to_end(bench_database, tmp_path):
    figures = _bench_run(
        tmp_path, ["transition_http", "memory"], "--clients", "2", "--memory-requests", "120"
    )
    assert figures["transition_http_budget"]["details"]["cpu_seconds"]["postgres_backends"] >= 0
    transition = figures["transition_http"]
    moved = transition["details"]["cases_moved"]
    assert moved == transition["details"]["transitions_answered"]
    assert moved >= transition["details"]["transition"]["requests"] > 0  # 1 s runs: a few

    worker = figures["worker_memory"]
    assert worker["value"] > 20 and worker["details"]["rss_kb"]["second half"] > 0
    loads = worker["details"]["loads"]
    assert all(run["requests"] >= 60 and run["failures"] == 0 for run in loads.values())
    assert "worker_memory_growth" in figures


def test_the_report_and_scan_benchmarks_run_end_to_end(bench_database, tmp_path):
    figures = _bench_run(tmp_path, ["reports", "scan"])
    for key in ("province", "district"):
        for report in ("bottleneck", "targets"):
            figure = figures[f"report_{report}_{key}"]
            assert figure["value"] > 0 and figure["reference"] > 0
            assert figure["details"]["function_ms"] > 0
    province_plans = figures["report_bottleneck_province"]["details"]["plans"]
    # the province's rows read the closed months' cells, which the nightly job wrote first
    assert any("stage_visit_months" in plan for plan in province_plans.values())
    upkeep = figures["report_months_close"]["details"]
    assert upkeep["months"] > 0 and upkeep["visits"] > 0 and upkeep["cells"] > 0
    for key in ("province", "district"):
        assert figures[f"report_bottleneck_{key}_visit_by_visit"]["value"] > 0
    for key in ("province", "district"):
        floor = figures[f"report_bottleneck_{key}_read_floor"]  # reading the rows, no sums
        assert figures[f"report_bottleneck_{key}_trend"]["value"] > 0  # fetched after the page
        assert floor["details"]["visits"] > 0 and floor["value"] > 0 and floor["reference"] > 0

    scan = figures["escalation_scan_seconds"]
    assert scan["details"]["open_cases"] > 0 and scan["details"]["statement_seconds"]
    assert scan["details"]["first_run_seconds"] > 0  # the cold run, kept beside the figure
    memory = figures["escalation_scan_memory"]
    assert memory["value"] >= memory["reference"] > 20  # MB: a Python process with the app


def test_the_bench_server_runs_gunicorn_as_the_dockerfile_does():
    """The bench serves with the deployed worker settings; this keeps the two in step."""
    import re
    from pathlib import Path

    from bench.httpload import GUNICORN_ARGS, Server

    dockerfile = (Path(__file__).resolve().parents[2] / "Dockerfile").read_text()
    cmd = re.search(r"CMD \[(.*?)\]", dockerfile, re.S).group(1)
    deployed = [part.strip().strip('"') for part in cmd.replace("\\\n", "").split(",")]
    for option in ("--workers", "--threads"):
        index = GUNICORN_ARGS.index(option)
        assert deployed[deployed.index(option) + 1] == GUNICORN_ARGS[index + 1]
    # the app logs every request as a JSON line; gunicorn's access log would repeat it
    assert "--access-logfile" not in deployed and "--access-logfile" not in GUNICORN_ARGS
    compose = (Path(__file__).resolve().parents[2] / "docker-compose.yml").read_text()
    web = re.search(r'command: \["gunicorn",(.*?)\]', compose, re.S).group(1)
    assert "--access-logfile" not in web and '"--workers", "5", "--threads", "4"' in web
    assert deployed[-1] == "htsd_workflow.wsgi:app" == Server("sqlite://").command[-1]


def test_a_miss_on_a_busy_machine_is_inconclusive_and_a_meet_is_a_meet():
    from bench.httpload import verdict

    assert verdict(True, 1.9) == (True, "")
    assert verdict(False, 0.4) == (False, "")
    met, note = verdict(False, 1.2)
    assert met is None and "inconclusive" in note and "1.2 cores busy" in note


def test_busy_cores_reads_what_runs_now(monkeypatch):
    """Busy cores come from /proc/stat over a short window: an idle wait reads near 0, one
    core spinning in a child process near 1 (whatever the 1-minute load average says)."""
    import multiprocessing

    from bench import httpload

    cores = os.cpu_count() or 1
    idle = httpload.busy_cores(0.5)
    assert 0 <= idle <= cores
    spinner = multiprocessing.get_context("fork").Process(target=_spin, args=(3.0,))
    spinner.start()
    try:
        time.sleep(0.3)
        spinning = httpload.busy_cores(1.0)
    finally:
        spinner.join()
    assert spinning >= 0.8 and spinning <= cores
    # settle waits while the machine is busy, and gives up after BENCH_SETTLE_SECONDS
    readings = iter([1.5, 1.4, 0.2])
    monkeypatch.setattr(httpload, "busy_cores", lambda seconds=0: next(readings))
    monkeypatch.setenv("BENCH_SETTLE_SECONDS", "60")
    said = []
    assert httpload.settle(said.append) == 0.2 and len(said) == 2
    readings = iter([1.5, 1.4, 0.2])
    monkeypatch.setenv("BENCH_SETTLE_SECONDS", "0")
    assert httpload.settle(said.append) == 1.5


def _spin(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def test_the_scan_child_reports_its_own_peak_not_the_bench_process_peak():
    """Linux keeps ``ru_maxrss`` across exec: a child started by a bench process that once
    held a lot of memory (the data generator) would report that peak as its own. The scan's
    child measures from its start (VmHWM after a reset)."""
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        if os.environ.get("REQUIRE_SERVICES"):
            pytest.fail("TEST_DATABASE_URL is not set")
        pytest.skip("TEST_DATABASE_URL is not set: the scan child needs PostgreSQL")
    from bench.scan_bench import _run_child

    ballast = bytearray(600 * 1024 * 1024)  # this process's peak: at least 600 MB
    for i in range(0, len(ballast), 4096):
        ballast[i] = 1
    assert rss_kb(os.getpid()) > 600 * 1024
    child = _run_child(url.replace("postgresql://", "postgresql+psycopg://", 1), scan=False)
    del ballast
    assert 20 * 1024 < child["max_rss_kb"] < 400 * 1024  # a Python process with the app
