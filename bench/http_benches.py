"""Benchmarks 3, 4 and 7: the reviewer queue, a transition and a worker's memory over HTTP.

gunicorn serves the app as deployed (``bench.httpload.Server``); locust drives a closed loop
(``bench/locustfile.py``): a fixed number of clients, each a different reviewer signed in
through the sign-in form (the queue) or holding its own API token (transitions), sending the
next request when the last one answered.

References measured in the same run:

* the framework floor — the same server answering ``/healthz`` at the same concurrency;
* the database floor — the statements one queue page sent to PostgreSQL (captured at the
  driver while the page was rendered in-process for that reviewer), replayed through raw
  psycopg by as many threads as clients, each on its own connection, closed loop.
"""

from __future__ import annotations

import contextlib
import html
import json
import math
import os
import re
import resource
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import psycopg
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from bench.capture import capture
from bench.context import BenchContext, Figure
from bench.data import BENCH_PASSWORD, append_cases
from bench.httpload import (
    CSRF,
    LoadResult,
    Server,
    redis_url,
    rss_kb,
    run_locust,
    settle,
    summarise,
    verdict,
)
from htsd_workflow.api.framework import issue_token
from htsd_workflow.auth.models import User
from htsd_workflow.cases.engine import get_registry
from htsd_workflow.cases.models import Case
from htsd_workflow.core.labels import TITLE_LABELS
from htsd_workflow.core.time import utcnow
from htsd_workflow.extensions import db
from htsd_workflow.queues.queries import QueueFilter, queue_page
from htsd_workflow.subjects.models import Subject

#: the issue's goals for the queue (ms) and its throughput at 16 clients
QUEUE_GOALS = {"p50": 40.0, "p95": 100.0, "p99": 200.0}
QUEUE_RPS_GOAL = 350.0
TRANSITION_P95_GOAL = 50.0
TRANSITION_RPS_GOAL = 700.0
WARM_CASES = 3
MEMORY_GOAL_MB = 200.0
MEMORY_GROWTH_GOAL = 0.10


def _seconds(ctx: BenchContext) -> float:
    return ctx.duration or (8.0 if ctx.quick else 20.0)


def _libpq(uri: str) -> str:
    return make_url(uri).set(drivername="postgresql").render_as_string(hide_password=False)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a live process so far (/proc/<pid>/stat), in seconds."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rfind(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _backend_pids(database_uri: str) -> list[int]:
    """The PostgreSQL server processes serving the bench database's other connections."""
    with psycopg.connect(_libpq(database_uri), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return [pid for (pid,) in rows]


def _cpu_of(pids) -> dict[int, float]:
    readings = {}
    for pid in pids:
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):  # ended meanwhile
            readings[pid] = _cpu_seconds(pid)
    return readings


def measured_load(server: Server, plan: dict, users: int, seconds: float, warm_up: float):
    """A locust run with the CPU that gunicorn's workers, PostgreSQL's backends of the bench
    database and the load tool used from the moment every client had signed in to the end."""
    workers = server.worker_pids()
    busy_before = settle()
    client_before = _children_cpu()
    at_ready: dict = {}

    def ready(locust_pid: int) -> None:
        at_ready["workers"] = _cpu_of(workers)
        at_ready["backends"] = _cpu_of(_backend_pids(server.database_uri))
        at_ready["locust"] = _cpu_of([locust_pid]).get(locust_pid, 0.0)

    result, samples = run_locust(
        server.url, plan, users=users, seconds=seconds, warm_up=warm_up, on_ready=ready
    )
    after_workers = _cpu_of(workers)
    server_cpu = sum(after_workers[p] - at_ready["workers"].get(p, 0.0) for p in after_workers)
    after_backends = _cpu_of(_backend_pids(server.database_uri))
    database_cpu = sum(after_backends[p] - at_ready["backends"].get(p, 0.0) for p in after_backends)
    # the load tool has ended: all its CPU, less what it had used up to the clients' sign-ins
    locust_cpu = _children_cpu() - client_before - at_ready["locust"]

    def per_request(cpu_seconds: float) -> float | None:
        return round(1000 * cpu_seconds / len(samples), 2) if samples else None

    cpu = {
        "locust": round(locust_cpu, 1),
        "gunicorn_workers": round(server_cpu, 1),
        "postgres_backends": round(database_cpu, 1),
        # load-independent: the CPU each side spent per answered request (other work on the
        # machine stretches wall-clock latency, hardly this); sign-ins not included
        "server_ms_per_request": per_request(server_cpu),
        "postgres_ms_per_request": per_request(database_cpu),
        "locust_ms_per_request": per_request(locust_cpu),
        "busy_cores_before": busy_before,
    }
    return result, samples, cpu


def cpu_budget_figure(key: str, name: str, cpu: dict, rate_goal: float | None = None) -> Figure:
    """The CPU one request cost the server side (the app's workers and the database's
    backends) and the highest rate that allows on this machine's cores if nothing else ran,
    not even the load tool; with ``rate_goal``, against the CPU that rate leaves per request."""
    cores = os.cpu_count() or 1
    app, database = cpu["server_ms_per_request"], cpu["postgres_ms_per_request"]
    total = round(app + database, 2) if app is not None and database is not None else None
    ceiling = round(1000 * cores / total) if total else None
    budget = round(1000 * cores / rate_goal, 2) if rate_goal else None
    return Figure(
        key=key,
        name=name,
        value=total,
        unit=f"ms CPU per request (gunicorn {app} + PostgreSQL {database}; the load tool "
        f"{cpu['locust_ms_per_request']} more)",
        reference=budget,
        reference_name=f"ms per request that {rate_goal:g} req/s leave on {cores} cores"
        if rate_goal
        else "",
        ratio=round(total / budget, 2) if total and budget else None,
        goal=f"(ceiling {ceiling:,} req/s on {cores} cores with the server alone on them)"
        if ceiling
        else "(for information)",
        details={"cpu_seconds": cpu},
    )


def cpu_against_figure(
    key: str, name: str, cpu: dict, reference: dict, reference_name: str, goal: str, digits=1
) -> Figure:
    """The app's gunicorn CPU per request next to another server's (same load, same run)."""
    value, base = cpu["server_ms_per_request"], reference["server_ms_per_request"]
    return Figure(
        key=key,
        name=name,
        value=value,
        unit="ms CPU per request",
        reference=base,
        reference_name=reference_name,
        ratio=round(value / base, digits) if value is not None and base else None,
        goal=goal,
    )


# --- who the clients are -------------------------------------------------------------------


def queue_reviewers(count: int) -> list[User]:
    """``count`` different reviewers with work waiting: district reviewers (a quarter) and the
    commune reviewers of the communes with the most cases in ``commune_review``."""
    districts = db.session.execute(
        text(
            "SELECT district_code FROM cases WHERE state = 'district_verification' "
            "GROUP BY district_code ORDER BY count(*) DESC"
        )
    ).scalars()
    communes = db.session.execute(
        text(
            "SELECT commune_code FROM cases WHERE state = 'commune_review' "
            "GROUP BY commune_code ORDER BY count(*) DESC"
        )
    ).scalars()
    names = [f"huyen{c}" for c in list(districts)[: max(1, count // 4)]]
    names += [f"xa{c}" for c in list(communes)[: count - len(names)]]
    if len(names) < count:  # small data sets: other commune reviewers (shorter queues)
        others = db.session.scalars(
            select(User.username)
            .where(User.role == "commune_reviewer", User.username.not_in(names))
            .order_by(User.username)
            .limit(count - len(names))
        )
        names += list(others)
    found = {
        u.username: u for u in db.session.scalars(select(User).where(User.username.in_(names)))
    }
    users = [found[n] for n in names if n in found]
    if len(users) < count:
        raise RuntimeError(f"only {len(users)} reviewer accounts; the benchmark needs {count}")
    return users


def queue_urls(user: User) -> list[str]:
    """The reviewer's first queue page and the page after it (its keyset cursor)."""
    first = queue_page(user, QueueFilter(), utcnow(), size=50)
    urls = ["/queue"]
    if first.next_cursor:
        urls.append(f"/queue?after={first.next_cursor}")
    return urls


#: how often each measured reviewer's queue changes during the conditional-GET run (a claim
#: taken or given back on its first page): with ~15 requests/s per client, about one in five
#: of a client's requests finds its page changed
QUEUE_CHANGES_PER_CLIENT_PER_SECOND = 2.0


class QueueChanger:
    """Claims and gives back cases on the reviewers' first queue pages while a load runs, so
    that the conditional-GET run meets changed queues as well as unchanged ones; every case
    touched gets its claim back as it was at the end."""

    def __init__(self, database_uri: str, users: list[User], per_second: float):
        self.libpq = make_url(database_uri).set(drivername="postgresql")
        self.per_second = per_second
        now = utcnow()
        self.targets = []
        for user in users:
            rows = queue_page(user, QueueFilter(), now, size=50).rows
            if rows:
                self.targets.append((user.id, [row.id for row in rows[:10]]))
        db.session.commit()
        self.changes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self.connection = psycopg.connect(
            self.libpq.render_as_string(hide_password=False), autocommit=True
        )
        ids = [case_id for _user, cases in self.targets for case_id in cases]
        self.saved = self.connection.execute(
            "SELECT id, claimed_by_id, claimed_at FROM cases WHERE id = ANY(%s)", (ids,)
        ).fetchall()
        self._thread.start()
        return self

    def _run(self) -> None:
        if not self.targets:
            return
        step = 0
        interval = 1.0 / self.per_second
        while not self._stop.wait(interval):
            user_id, cases = self.targets[step % len(self.targets)]
            case_id = cases[(step // len(self.targets)) % len(cases)]
            step += 1
            self.connection.execute(
                "UPDATE cases SET claimed_by_id = CASE WHEN claimed_by_id IS NULL THEN %s END, "
                "claimed_at = CASE WHEN claimed_by_id IS NULL THEN now() AT TIME ZONE 'UTC' END "
                "WHERE id = %s",
                (user_id, case_id),
            )
            self.changes += 1

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        with self.connection.cursor() as cur:
            cur.executemany(
                "UPDATE cases SET claimed_by_id = %s, claimed_at = %s WHERE id = %s",
                [(by, at, case_id) for case_id, by, at in self.saved],
            )
        self.connection.close()


def _conditional_queue_run(ctx, server, reviewers, clients, measured) -> list[Figure]:
    """The queue at the most clients again, each client sending the ETag of its last copy of
    the page while ``QueueChanger`` changes the queues: 304s for the unchanged pages, new pages
    for the changed ones; the mix is measured and printed."""
    seconds = _seconds(ctx)
    warm_up = min(3.0, seconds / 4)
    users = max(ctx.clients)
    plan = {"mode": "queue_conditional", "clients": clients[:users]}
    per_second = QUEUE_CHANGES_PER_CLIENT_PER_SECOND * users
    with QueueChanger(ctx.database_uri, reviewers[:users], per_second) as changer:
        result, samples, cpu = measured_load(server, plan, users, seconds, warm_up)
        changes = changer.changes
    if result.failures or not result.requests:
        raise RuntimeError(f"conditional queue requests failed or none answered: {result.errors}")
    unchanged = sum(1 for sample in samples if sample[0].endswith(" 304"))
    share = unchanged / len(samples) if samples else 0.0
    full, _full_cpu = measured[users]
    ctx.say(
        f"   {users} clients, conditional GET: p50/p95/p99 {result.p50}/{result.p95}/"
        f"{result.p99} ms, {result.rps}/s; {share:.0%} answered 304 ({changes} queue changes "
        f"in the run); CPU s {cpu}"
    )
    latency_met = all(
        getattr(result, k) is not None and getattr(result, k) <= v for k, v in QUEUE_GOALS.items()
    )
    met, note = verdict(latency_met and result.rps >= QUEUE_RPS_GOAL, cpu["busy_cores_before"])
    mix = (
        f"{share:.0%} of the answers 304, {1 - share:.0%} new pages; the queues changed "
        f"{changes / max(seconds, 1e-9):.0f} times/s"
    )
    return [
        Figure(
            key=f"queue_http_{users}_conditional",
            name=(
                f"3. reviewer queue over HTTP with conditional GET, {users} clients, each "
                f"sending its copy's ETag ({mix})"
            ),
            value=result.rps,
            unit=f"req/s (p50 {result.p50}, p95 {result.p95}, p99 {result.p99} ms)",
            reference=full.rps,
            reference_name="req/s, the same clients without ETags (every page rendered)",
            ratio=round(result.rps / full.rps, 2) if full.rps else None,
            goal="p50/p95/p99 ≤ 40/100/200 ms and ≥ 350 req/s" + note,
            met=met,
            details={
                "queue": result.as_dict(),
                "answered_304": unchanged,
                "answers": len(samples),
                "queue_changes": changes,
                "cpu_seconds": cpu,
            },
        ),
        cpu_budget_figure(
            f"queue_http_{users}_conditional_budget",
            f"3. CPU per queue request with conditional GET ({share:.0%} 304), {users} clients: "
            "gunicorn + PostgreSQL (load-independent)",
            cpu,
            QUEUE_RPS_GOAL,
        ),
    ]


# --- the database floor: one page's statements through raw psycopg ------------------------


def signed_in_client(app, username: str):
    client = app.test_client()
    page = client.get("/login")
    token = CSRF.search(page.get_data(as_text=True)).group(1)
    answer = client.post(
        "/login", data={"csrf_token": token, "username": username, "password": BENCH_PASSWORD}
    )
    if answer.status_code != 302:
        raise RuntimeError(f"in-process sign-in as {username}: {answer.status_code}")
    return client


def page_statements(app, username: str, url: str) -> tuple[list, str]:
    """The statements rendering ``url`` for ``username`` sent to the database (in-process),
    and the page.

    Each request in an app context of its own, as under gunicorn: Flask-Login keeps the
    signed-in user on ``g``, which lives as long as the app context, so a request that shared
    one with the sign-in would not load the user (one statement every real page sends).
    """
    holder = {}
    with app.app_context():
        client = signed_in_client(app, username)
    with app.app_context():
        client.get(url)  # warm the caches (workflow registry, calendar) first

    def fetch():
        with app.app_context():
            holder["response"] = client.get(url)

    captured = capture(fetch)
    if holder["response"].status_code != 200:
        raise RuntimeError(f"{url} as {username}: {holder['response'].status_code}")
    return captured.statements, holder["response"].get_data(as_text=True)


def raw_replay_load(
    database_uri: str, scripts: list[list], seconds: float, warm_up: float
) -> LoadResult:
    """Each script (a page's statements) replayed in a closed loop by its own thread and
    connection, one transaction per page; latency per page."""
    samples: list = []
    lock = threading.Lock()
    stop_at = time.time() + seconds
    errors: list[str] = []

    def client(statements):
        mine = []
        try:
            with psycopg.connect(_libpq(database_uri)) as connection:
                cursor = connection.cursor()
                while time.time() < stop_at:
                    started = time.time()
                    for statement in statements:
                        cursor.execute(statement.sql, statement.params)
                        if cursor.description is not None:
                            cursor.fetchall()
                    connection.rollback()  # a read page: nothing to keep
                    mine.append(["page sql", started, (time.time() - started) * 1000, True])
        except psycopg.Error as exc:
            errors.append(str(exc)[:300])
        with lock:
            samples.extend(mine)

    threads = [threading.Thread(target=client, args=(s,)) for s in scripts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return summarise(samples, users=len(scripts), warm_up=warm_up, errors=errors)


def _explain(database_uri: str, statement) -> str:
    with psycopg.connect(_libpq(database_uri)) as connection:
        rows = connection.execute(
            "EXPLAIN (ANALYZE, BUFFERS) " + statement.sql, statement.params
        ).fetchall()
        connection.rollback()
    return "\n".join(r[0] for r in rows)


_BLANKS = re.compile(r"\s+")
_CASE_IDS = re.compile(r'name="case_id" value="(\d+)"')
_ROW_LINK = re.compile(r'<td data-label="[^"]*"><a href="(/cases/(\d+)[^"]*)">')


def _text_bytes(page: str) -> int:
    """The page's size in UTF-8 with runs of blanks collapsed."""
    return len(_BLANKS.sub(" ", page).encode())


def floor_entry(app, username: str) -> dict:
    """What ``bench/queue_floor.py`` needs to serve ``username``'s first queue page: the
    statements the app's page sent, which of them is the queue query, the page around its
    rows and the case link's pattern."""
    statements, page = page_statements(app, username, "/queue")
    main = _queue_statement(statements)
    start, end = page.find("<tbody>"), page.find("</tbody>")
    link = _ROW_LINK.search(page, start)
    if main is None or start < 0 or end < 0 or link is None:
        raise RuntimeError(f"{username}'s queue page has no rows to rebuild")
    href, case_id = html.unescape(link.group(1)), link.group(2)
    user = db.session.scalar(select(User).where(User.username == username))
    return {
        "statements": [[s.sql, s.params] for s in statements],
        "page": statements.index(main),
        "head": page[: start + len("<tbody>")],
        "tail": page[end:],
        "base": href.replace(f"/cases/{case_id}", "/cases/{id}", 1),
        "titles": {code: str(label) for code, label in TITLE_LABELS.items()},
        "marks": {key: cset.pass_mark for key, cset in get_registry().criteria_sets.items()},
        "bytes": _text_bytes(page),
        "ids": _CASE_IDS.findall(page, start, end),
        "size": app.config["QUEUE_PAGE_SIZE"],
        "user": user.get_id(),
        "user_id": user.id,
        "own": [i for i, s in enumerate(statements) if _sent_by_the_libraries(s)],
    }


def _sent_by_the_libraries(statement) -> bool:
    """The pool's pre-ping (outside any transaction) and Flask-Login's load of the user."""
    return statement.autocommit or statement.sql.lstrip().startswith(_USER_LOAD)


#: how Flask-SQLAlchemy's ``session.get(User, id)`` begins its select
_USER_LOAD = (
    "SELECT users.id"  # Flask-Login's load (with the menu's unread count since it came along)
)


def floor_page(url: str, slot: int) -> str:
    """The stack floor's page for ``slot``, signed in as that slot."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
    with opener.open(f"{url}/floor/sign-in/{slot}", timeout=10):
        pass
    with opener.open(f"{url}/floor/queue", timeout=10) as response:
        return response.read().decode()


def check_floor_pages(url: str, plan: list[dict]) -> None:
    """The floor must serve each reviewer the app's page: the same cases in the same order,
    and as many bytes within 2 % once blanks are collapsed (the app's template statements
    leave blank lines)."""
    for slot, entry in enumerate(plan):
        page = floor_page(url, slot)
        ids = _CASE_IDS.findall(page)
        size = _text_bytes(page)
        if ids != entry["ids"] or abs(size - entry["bytes"]) > 0.02 * entry["bytes"]:
            raise RuntimeError(
                f"the stack floor's page {slot} is not the app's: {len(ids)} rows, {size:,} "
                f"bytes; the app's {len(entry['ids'])} rows, {entry['bytes']:,} bytes"
            )


def floor_load(
    ctx: BenchContext, plan: list[dict], seconds: float, warm_up: float, *, libraries: bool
) -> dict:
    """The stack floor (``bench/queue_floor.py``; with ``libraries``, the library floor) under
    gunicorn as the app is run, at each client count: ``{users: (LoadResult, cpu)}``."""
    results = {}
    with tempfile.NamedTemporaryFile("w", suffix=".json", encoding="utf-8") as handle:
        json.dump(plan, handle)
        handle.flush()
        floor = Server(
            ctx.database_uri,
            target="bench.queue_floor:app",
            env={"BENCH_FLOOR_PLAN": handle.name, "BENCH_FLOOR_LIBRARIES": str(int(libraries))},
        )
        with floor:
            check_floor_pages(floor.url, plan)
            clients = [{"floor_slot": slot} for slot in range(len(plan))]
            run_locust(floor.url, {"mode": "floor", "clients": clients}, users=4, seconds=warm_up)
            for users in ctx.clients:
                result, _samples, cpu = measured_load(
                    floor, {"mode": "floor", "clients": clients[:users]}, users, seconds, warm_up
                )
                if result.failures or not result.requests:
                    raise RuntimeError(f"floor requests failed or none answered: {result.errors}")
                results[users] = (result, cpu)
    return results


def _queue_statement(statements):
    """The page's main query: the one ordering by due date with a LIMIT."""
    for statement in statements:
        sql = statement.sql
        if "ORDER BY cases.due_at" in sql and "LIMIT" in sql and "count(" not in sql:
            return statement
    return None


# --- 3. the reviewer queue -----------------------------------------------------------------


def queue_http(ctx: BenchContext) -> list[Figure]:
    seconds = _seconds(ctx)
    warm_up = min(3.0, seconds / 4)
    reviewers = queue_reviewers(max(ctx.clients))
    clients = []
    scripts = []
    plans = {}
    levels_seen = set()
    floor_plan = []
    for user in reviewers:
        urls = queue_urls(user)
        clients.append({"username": user.username, "password": BENCH_PASSWORD, "urls": urls})
        statements, _page = page_statements(ctx.app, user.username, urls[-1])
        scripts.append(statements)
        floor_plan.append(floor_entry(ctx.app, user.username))
        main = _queue_statement(statements)
        level = user.unit_level
        if main is not None and level not in levels_seen:
            levels_seen.add(level)
            plans[f"{level} reviewer {user.username}, {urls[-1]}"] = _explain(
                ctx.database_uri, main
            )
    db.session.commit()
    ctx.say(
        f"   clients: {', '.join(c['username'] for c in clients)}; "
        f"{sum(len(s) for s in scripts) / len(scripts):.1f} statements per page"
    )
    figures = []
    measured = {}
    with Server(ctx.database_uri) as server:
        # sign-ins and first requests warm each worker before the measured runs
        run_locust(server.url, {"mode": "queue", "clients": clients}, users=4, seconds=warm_up)
        for users in ctx.clients:
            plan = {"mode": "queue", "clients": clients[:users]}
            result, _samples, cpu = measured_load(server, plan, users, seconds, warm_up)
            measured[users] = (result, cpu)
            floor, _s, floor_cpu = measured_load(
                server, {"mode": "healthz", "clients": [{}]}, users, seconds, warm_up
            )
            raw = raw_replay_load(ctx.database_uri, scripts[:users], seconds, warm_up)
            ctx.say(
                f"   {users} clients: queue p50/p95/p99 {result.p50}/{result.p95}/{result.p99} "
                f"ms, {result.rps}/s ({result.failures} failed); /healthz {floor.p50}/"
                f"{floor.p95}/{floor.p99} ms {floor.rps}/s; raw SQL {raw.p50}/{raw.p95}/"
                f"{raw.p99} ms {raw.rps}/s; CPU s {cpu}"
            )
            if result.failures or not result.requests:
                raise RuntimeError(f"queue requests failed or none answered: {result.errors}")
            latency_met = all(
                getattr(result, k) is not None and getattr(result, k) <= v
                for k, v in QUEUE_GOALS.items()
            )
            rps_met = result.rps >= QUEUE_RPS_GOAL if users >= 16 else True
            met, note = verdict(latency_met and rps_met, cpu["busy_cores_before"])
            goal = "p50/p95/p99 ≤ 40/100/200 ms" + (" and ≥ 350 req/s" if users >= 16 else "")
            details = {
                "queue": result.as_dict(),
                "healthz_floor": floor.as_dict(),
                "raw_sql_floor": raw.as_dict(),
                "cpu_seconds": {"queue": cpu, "healthz": floor_cpu},
                "clients": [c["username"] for c in clients[:users]],
                "command": " ".join(server.command),
            }
            if users == max(ctx.clients):
                details["plans"] = plans
                details["unit"] = "the reviewer's own"
            figures += [
                Figure(
                    key=f"queue_http_{users}",
                    name=f"3. reviewer queue over HTTP, {users} clients (each a different "
                    "reviewer): p50 / p95 / p99",
                    value=result.p95,
                    unit=f"ms p95 (p50 {result.p50}, p99 {result.p99}; {result.rps:,.0f} req/s)",
                    reference=raw.p95,
                    reference_name=f"ms p95, the page's SQL via psycopg, {users} connections "
                    f"(p50 {raw.p50}, p99 {raw.p99}; {raw.rps:,.0f} pages/s)",
                    ratio=round(result.p95 / raw.p95, 2) if raw.p95 else None,
                    goal=goal + note,
                    met=met,
                    details=details,
                ),
                cpu_against_figure(
                    f"queue_http_{users}_cpu",
                    f"3. gunicorn CPU per queue page, {users} clients (load-independent)",
                    cpu,
                    floor_cpu,
                    "ms CPU per /healthz request",
                    "(350 req/s on 2 cores leaves ≤ 5.7 ms of CPU per request for all)",
                ),
                cpu_budget_figure(
                    f"queue_http_{users}_budget",
                    f"3. CPU per queue page on the server side, {users} clients: gunicorn + "
                    "PostgreSQL (load-independent)",
                    cpu,
                    QUEUE_RPS_GOAL,
                ),
                Figure(
                    key=f"queue_http_{users}_floor",
                    name=f"3. (framework floor) gunicorn answering /healthz, {users} clients",
                    value=result.rps,
                    unit="queue req/s",
                    reference=floor.rps,
                    reference_name=f"/healthz req/s (p50 {floor.p50}, p95 {floor.p95} ms)",
                    ratio=round(result.rps / floor.rps, 3) if floor.rps else None,
                    goal="(for information: the queue's share of the framework's rate)",
                    details={"cpu_seconds": floor_cpu},
                ),
            ]
        figures += _conditional_queue_run(ctx, server, reviewers, clients, measured)
    sizes = [entry["bytes"] for entry in floor_plan]
    for libraries, (key, label, what, whose) in FLOORS.items():
        loads = floor_load(ctx, floor_plan, seconds, warm_up, libraries=libraries)
        for users, (bare, bare_cpu) in loads.items():
            result, cpu = measured[users]
            ctx.say(
                f"   {label}, {users} clients: p50/p95/p99 {bare.p50}/{bare.p95}/{bare.p99} ms, "
                f"{bare.rps}/s; CPU s {bare_cpu}"
            )
            within = all(
                getattr(bare, k) is not None and getattr(bare, k) <= v
                for k, v in QUEUE_GOALS.items()
            ) and (bare.rps >= QUEUE_RPS_GOAL if users >= 16 else True)
            figures += [
                Figure(
                    key=f"queue_http_{users}_{key}",
                    name=f"3. ({label}) the same first pages from {what} under the same "
                    f"gunicorn (bench/queue_floor.py), {users} clients",
                    value=bare.rps,
                    unit=f"req/s (p50 {bare.p50}, p95 {bare.p95}, p99 {bare.p99} ms; CPU per "
                    f"page: gunicorn {bare_cpu['server_ms_per_request']} + PostgreSQL "
                    f"{bare_cpu['postgres_ms_per_request']}, load tool "
                    f"{bare_cpu['locust_ms_per_request']})",
                    reference=result.rps,
                    reference_name="req/s of the app's queue pages",
                    ratio=round(result.rps / bare.rps, 3) if bare.rps else None,
                    goal=f"(what {whose} allows here: the goal is "
                    + ("within" if within else "beyond")
                    + " its reach)",
                    details={
                        "floor": bare.as_dict(),
                        "cpu_seconds": bare_cpu,
                        "app_page_bytes": sizes[:users],
                    },
                ),
                cpu_budget_figure(
                    f"queue_http_{users}_{key}_budget",
                    f"3. CPU per page on the server side, {users} clients, {label}: gunicorn + "
                    "PostgreSQL (load-independent)",
                    bare_cpu,
                    QUEUE_RPS_GOAL,
                ),
                cpu_against_figure(
                    f"queue_http_{users}_over_{key}",
                    f"3. gunicorn CPU per queue page, {users} clients: the app over the "
                    f"{label} (load-independent)",
                    cpu,
                    bare_cpu,
                    f"ms CPU per request, the same page from the {label}",
                    "(for information: what the app's own work costs)",
                    digits=2,
                ),
            ]
    return figures


#: the two floors of benchmark 3 (``bench/queue_floor.py``): with the libraries? → (the
#: figures' key, the floor's name, what serves the pages, what it shows)
FLOORS = {
    False: ("stack_floor", "stack floor", "bare Flask + Jinja + psycopg", "the stack itself"),
    True: (
        "library_floor",
        "library floor",
        "the same, with Flask-Login loading the reviewer through Flask-SQLAlchemy, "
        "Flask-WTF's CSRF token and Flask-Babel's labels",
        "the stack with the libraries it may not do without",
    ),
}


# --- 4. a transition over HTTP -------------------------------------------------------------


def transition_http(ctx: BenchContext) -> list[Figure]:
    """16 commune reviewers, each approving its own fresh ``commune_review`` cases through
    ``POST /api/v1/cases/<id>/transitions`` with its own bearer token."""
    seconds = _seconds(ctx)
    warm_up = min(3.0, seconds / 4)
    users = max(ctx.clients)
    reviewers = queue_reviewers(users * 2)
    communes = [u.unit_code for u in reviewers if u.role == "commune_reviewer"][:users]
    # enough cases that no client runs dry: a generous 40 transitions/s per client
    per_client = WARM_CASES + max(50, math.ceil(40 * seconds))
    clients = []
    warm_clients = []
    pools = []
    for code in communes:
        user = db.session.scalar(select(User).where(User.username == f"xa{code}"))
        pool = append_cases(per_client, "commune_review", [code])
        token, _row = issue_token(user)
        db.session.commit()
        # a few cases per client warm the workers (first requests load the workflow, calendar)
        warm_clients.append({"token": token, "cases": pool[:WARM_CASES]})
        clients.append({"token": token, "cases": pool[WARM_CASES:]})
        pools += pool
    if len(clients) < users:
        raise RuntimeError(f"only {len(clients)} commune reviewers for {users} clients")
    ctx.say(f"   {users} clients, {per_client} fresh commune_review cases each")
    with Server(ctx.database_uri) as server:
        plan = {"mode": "transition", "trigger": "approve", "clients": warm_clients}
        _warm, warm_samples = run_locust(server.url, plan, users=users, seconds=warm_up)
        floor, _s, floor_cpu = measured_load(
            server, {"mode": "healthz", "clients": [{}]}, users, seconds, warm_up
        )
        plan = {"mode": "transition", "trigger": "approve", "clients": clients}
        result, samples, cpu = measured_load(server, plan, users, seconds, warm_up)
    _drain_broker()
    moved = db.session.execute(
        text("SELECT count(*) FROM cases WHERE id = ANY(:ids) AND state <> 'commune_review'"),
        {"ids": pools},
    ).scalar()
    db.session.commit()
    answered = sum(1 for s in samples + warm_samples if s[3])
    if moved != answered:
        raise RuntimeError(f"{answered} transitions answered 200 but {moved} cases moved")
    ctx.say(
        f"   transitions p50/p95/p99 {result.p50}/{result.p95}/{result.p99} ms, "
        f"{result.rps}/s ({result.failures} failed, {moved} cases moved); /healthz p95 "
        f"{floor.p95} ms; CPU s {cpu}"
    )
    if result.failures or not result.requests:
        raise RuntimeError(f"transitions failed or none answered: {result.errors}")
    met, note = verdict(
        result.p95 is not None
        and result.p95 <= TRANSITION_P95_GOAL
        and result.rps >= TRANSITION_RPS_GOAL,
        cpu["busy_cores_before"],
    )
    return [
        cpu_budget_figure(
            "transition_http_budget",
            f"4. CPU per transition over HTTP on the server side, {users} clients: gunicorn + "
            "PostgreSQL (load-independent)",
            cpu,
        ),
        Figure(
            key="transition_http_cpu",
            name=f"4. gunicorn CPU per transition over HTTP, {users} clients (load-independent)",
            value=cpu["server_ms_per_request"],
            unit="ms CPU per request",
            reference=floor_cpu["server_ms_per_request"],
            reference_name="ms CPU per /healthz request",
            goal="(for information)",
        ),
        Figure(
            key="transition_http",
            name=f"4. a transition over HTTP (POST /api/v1/cases/<id>/transitions, approve), "
            f"{users} clients",
            value=result.p95,
            unit=f"ms p95 (p50 {result.p50}, p99 {result.p99}; {result.rps:,.0f} transitions/s)",
            reference=floor.p95,
            reference_name=f"ms p95 of /healthz, {users} clients ({floor.rps:,.0f} req/s)",
            ratio=round(result.p95 / floor.p95, 2) if floor.p95 else None,
            goal=f"≥ {TRANSITION_RPS_GOAL:g} transitions/s, p95 ≤ {TRANSITION_P95_GOAL:g} ms"
            + note,
            met=met,
            details={
                "transition": result.as_dict(),
                "healthz_floor": floor.as_dict(),
                "cpu_seconds": {"transition": cpu, "healthz": floor_cpu},
                "cases_moved": moved,
                "transitions_answered": answered,
            },
        ),
    ]


def _drain_broker() -> None:
    """Remove the task messages the bench's transitions sent (no worker runs in the bench)."""
    try:
        import redis

        redis.Redis.from_url(redis_url()).delete("celery")
    except Exception:  # noqa: BLE001 - a broker that is down received nothing to drain
        pass


# --- 7. a web worker's memory ----------------------------------------------------------------


def mixed_urls(user: User) -> list[tuple[str, str]]:
    """What a reviewer does all day: queue pages, case pages, search, the API's case list."""
    urls = [("queue", u) for u in queue_urls(user)]
    cases = db.session.scalars(
        select(Case.id).where(Case.commune_code == user.unit_code).order_by(Case.id.desc()).limit(6)
    ).all()
    urls += [("case page", f"/cases/{c}") for c in cases]
    names = db.session.scalars(
        select(Subject.name).where(Subject.unit_code == user.unit_code).limit(3)
    ).all()
    urls += [("search", f"/search?q={n.split()[-1]}") for n in names]
    urls += [
        ("api list", "/api/v1/cases?limit=50"),
        ("api list", "/api/v1/cases?state=commune_review"),
    ]
    return urls


def worker_memory(ctx: BenchContext) -> list[Figure]:
    """One worker (``--workers 1 --threads 4``, so it serves every request) after 5,000 and
    10,000 mixed requests from 16 clients; its VmRSS before, between and after."""
    half = ctx.memory_requests // 2
    reviewers = queue_reviewers(max(ctx.clients))
    clients = []
    for user in reviewers:
        if user.unit_level != "commune":
            continue
        token, _row = issue_token(user)
        clients.append(
            {
                "username": user.username,
                "password": BENCH_PASSWORD,
                "token": token,
                "urls": mixed_urls(user),
            }
        )
    db.session.commit()
    rss = {}
    results = {}
    with Server(ctx.database_uri, workers=1) as server:
        worker = server.worker_pids()[0]
        rss["started"] = rss_kb(worker)
        for name in ("first half", "second half"):
            plan = {"mode": "mixed", "clients": clients, "requests": half, "seconds": None}
            result, _samples = run_locust(
                server.url, plan, users=max(ctx.clients), seconds=half / 5 + 60
            )
            if result.failures or not result.requests:
                raise RuntimeError(f"mixed requests failed or none answered: {result.errors}")
            results[name] = result.as_dict()
            rss[name] = rss_kb(worker)
            ctx.say(
                f"   after the {name} ({result.requests:,} requests, {result.rps}/s): "
                f"worker RSS {rss[name] / 1024:.1f} MB"
            )
        if server.worker_pids() != [worker]:
            raise RuntimeError("the gunicorn worker was replaced during the run")
    final_mb = rss["second half"] / 1024
    growth = (rss["second half"] - rss["first half"]) / rss["first half"]
    total = sum(r["requests"] for r in results.values())
    return [
        Figure(
            key="worker_memory",
            name=f"7. web worker RSS after {total:,} mixed requests (queue, case pages, search, "
            "API list; 16 clients)",
            value=round(final_mb, 1),
            unit="MB",
            reference=round(rss["started"] / 1024, 1),
            reference_name="MB, the same worker just started",
            ratio=round(final_mb / (rss["started"] / 1024), 2),
            goal="≤ 200 MB",
            met=final_mb <= MEMORY_GOAL_MB,
            details={"rss_kb": rss, "loads": results},
        ),
        Figure(
            key="worker_memory_growth",
            name="7. worker RSS growth over the second half of the requests",
            value=round(100 * growth, 2),
            unit="%",
            reference=round(rss["first half"] / 1024, 1),
            reference_name="MB after the first half",
            goal="< 10 %",
            met=growth < MEMORY_GROWTH_GOAL,
        ),
    ]
