"""The locust load for the HTTP benchmarks (run by ``bench.http``, never imported by the app).

Closed loop: ``FastHttpUser`` clients with no wait time, each sending its next request when the
last one answered. What each client does comes from the JSON plan named by ``BENCH_PLAN``:

* ``mode`` — ``queue`` (a reviewer's queue: the first page, then the page after a cursor),
  ``queue_conditional`` (the same, each request carrying the ETag of the client's last copy
  of that page, as a browser does; 304s are recorded as ``queue 304``),
  ``healthz`` (the framework floor), ``transition`` (``POST /api/v1/cases/<id>/transitions``
  with a bearer token, each client on its own cases) or ``mixed`` (queue pages, case pages,
  search and the API's case list, for the memory benchmark);
* ``clients`` — one entry per client, taken in spawn order: ``username``/``password`` for a
  web sign-in, ``token`` for the API, and the URLs or case ids it works on;
* ``users`` — how many clients run: they start together once all have signed in;
* ``seconds`` — then stop after this long (optional);
* ``requests`` — or after this many measured requests (optional);
* ``out`` — where every measured request is written at the end as
  ``[name, started (s since the epoch), milliseconds, ok]`` rows;
* ``ready_file`` — created the moment every client has signed in (optional), so that the bench
  can read the processes' CPU counters from there on, the sign-ins left out.

The sign-in requests are not measured (their name starts with ``setup:``).
"""

from __future__ import annotations

import itertools
import json
import os
import re
import time

import gevent
import gevent.event
from locust import FastHttpUser, events, task
from locust.exception import StopUser

PLAN = json.loads(open(os.environ["BENCH_PLAN"], encoding="utf-8").read())  # noqa: SIM115
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
_slots = itertools.count()
_samples: list[list] = []
_stopping = False


@events.request.add_listener
def _record(request_type, name, response_time, response_length, exception=None, **kwargs):
    global _stopping
    if name.startswith("setup:"):
        return
    response = kwargs.get("response")
    if getattr(response, "status_code", None) == 304:
        name += " 304"  # a conditional GET answered "not modified"
    _samples.append([name, time.time() - response_time / 1000, response_time, exception is None])
    limit = PLAN.get("requests")
    if limit and len(_samples) >= limit and not _stopping and _runner[0] is not None:
        _stopping = True
        gevent.spawn(_runner[0].quit)  # not from inside the user's own greenlet


_runner: list = [None]
#: the clients wait for each other after signing in, so that the measured run starts with all
#: of them at work; it then lasts ``seconds`` (the plan's), the sign-ins not counted
_ready: list[int] = []
_all_ready = gevent.event.Event()


def _one_more_ready() -> None:
    _ready.append(1)
    if len(_ready) >= PLAN["users"] and not _all_ready.is_set():
        _all_ready.set()
        if PLAN.get("ready_file"):
            with open(PLAN["ready_file"], "w", encoding="utf-8") as handle:
                handle.write(str(time.time()))
        if PLAN.get("seconds") and _runner[0] is not None:
            gevent.spawn_later(PLAN["seconds"], _runner[0].quit)


@events.init.add_listener
def _keep_runner(environment, **kwargs):
    _runner[0] = environment.runner


@events.quitting.add_listener
def _write(environment, **kwargs):
    with open(PLAN["out"], "w", encoding="utf-8") as handle:
        json.dump(_samples, handle)


class Client(FastHttpUser):
    # no think time: the next request leaves when the last one answered
    def wait_time(self):
        return 0

    def on_start(self):
        slot = next(_slots)
        clients = PLAN["clients"]
        self.plan = clients[slot % len(clients)]
        self.step = 0
        self.cases = list(self.plan.get("cases", []))
        self.headers = {}
        if self.plan.get("token"):
            self.headers = {"Authorization": f"Bearer {self.plan['token']}"}
        if self.plan.get("username"):
            self._sign_in()
        if "floor_slot" in self.plan:
            self._get(f"/floor/sign-in/{self.plan['floor_slot']}", "setup:floor sign-in")
        _one_more_ready()
        _all_ready.wait()

    def _sign_in(self):
        page = self.client.get("/login", name="setup:login form")
        match = CSRF.search(page.text or "")
        if match is None:
            raise RuntimeError("no csrf_token on the sign-in page")
        with self.client.post(
            "/login",
            data={
                "csrf_token": match.group(1),
                "username": self.plan["username"],
                "password": self.plan["password"],
            },
            name="setup:sign in",
            allow_redirects=False,
            catch_response=True,
        ) as response:
            if response.status_code != 302:
                response.failure(f"sign-in as {self.plan['username']}: {response.status_code}")
                raise StopUser()

    @task
    def work(self):
        mode = PLAN["mode"]
        self.step += 1
        if mode == "healthz":
            self._get("/healthz", "healthz")
        elif mode == "queue":
            urls = self.plan["urls"]
            self._get(urls[self.step % len(urls)], "queue")
        elif mode == "queue_conditional":
            # as a browser does with the queue it keeps: it asks again with the page's ETag
            urls = self.plan["urls"]
            url = urls[self.step % len(urls)]
            etags = self.__dict__.setdefault("etags", {})
            headers = {"If-None-Match": etags[url]} if url in etags else None
            with self.client.get(
                url, name="queue", headers=headers, allow_redirects=False, catch_response=True
            ) as response:
                if response.status_code == 200:
                    etags[url] = response.headers.get("ETag")
                elif response.status_code != 304:
                    response.failure(f"{url}: {response.status_code}")
        elif mode == "floor":
            self._get("/floor/queue", "queue floor")
        elif mode == "transition":
            if not self.cases:
                raise StopUser()
            case_id = self.cases.pop()
            with self.client.post(
                f"/api/v1/cases/{case_id}/transitions",
                json={"trigger": PLAN["trigger"]},
                headers=self.headers,
                name="transition",
                catch_response=True,
            ) as response:
                if response.status_code != 200:
                    response.failure(f"case {case_id}: {response.status_code} {response.text}")
        elif mode == "mixed":
            urls = self.plan["urls"]
            name, url = urls[self.step % len(urls)]
            self._get(url, name, self.headers if url.startswith("/api/") else None)
        else:
            raise RuntimeError(f"unknown mode {mode}")

    def _get(self, url, name, headers=None):
        """A GET that counts as failed unless it answers 200 (a redirect to sign-in fails)."""
        with self.client.get(
            url, name=name, headers=headers, allow_redirects=False, catch_response=True
        ) as response:
            if response.status_code != 200:
                response.failure(f"{url}: {response.status_code}")
