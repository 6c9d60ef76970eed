"""Sign-in limits are kept in Redis in production and in memory when Redis is down.

Each case runs in a fresh process: the limiter is one object per process, and these tests give
it a storage that the other tests must not share.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from tests.clock import child_env, child_pythonpath
from tests.conftest import TEST_REDIS_URL, service_unavailable

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """
    import json, re, sys
    from htsd_workflow import create_app
    from htsd_workflow.auth.operations import create_user
    from htsd_workflow.extensions import db, limiter
    from htsd_workflow.geography.operations import import_province

    storage, instance, prefix = sys.argv[1], sys.argv[2], sys.argv[3]
    app = create_app({
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{instance}/limits.sqlite",
        "INSTANCE_PATH": instance, "SECRET_KEY": "x", "RATELIMIT_STORAGE_URI": storage,
        "RATELIMIT_KEY_PREFIX": prefix, "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
    })
    with app.app_context():
        db.create_all(); import_province("62")
        create_user("xa-limit", "s3cret-pass", "commune_reviewer", unit_code="23281")
        db.session.commit()
    client = app.test_client()
    statuses = []
    for password in ["wrong"] * 5 + ["s3cret-pass"]:
        page = client.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        response = client.post("/login", data={
            "username": "xa-limit", "password": password, "csrf_token": token})
        statuses.append(response.status_code)
    print(json.dumps({"statuses": statuses, "fallback": limiter._storage_dead}))
    """
)


def run(storage: str, tmp_path, prefix: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, storage, str(tmp_path), prefix],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": child_pythonpath(ROOT), **child_env()},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_failed_sign_ins_are_counted_in_redis(tmp_path):
    if not TEST_REDIS_URL:
        service_unavailable("TEST_REDIS_URL is not set: Redis rate-limit test not run")
    import redis

    connection = redis.Redis.from_url(TEST_REDIS_URL)
    try:
        connection.ping()
    except redis.RedisError as exc:
        service_unavailable(f"Redis at {TEST_REDIS_URL} unreachable: {exc}")
    prefix = f"htsd-test-{uuid.uuid4().hex[:8]}"
    result = run(TEST_REDIS_URL, tmp_path, prefix)
    assert result == {"statuses": [401, 401, 401, 401, 401, 429], "fallback": False}
    keys = list(connection.scan_iter(f"*{prefix}*"))
    assert keys
    connection.delete(*keys)


@pytest.mark.slow
def test_sign_in_still_works_and_is_limited_when_redis_is_down(tmp_path):
    result = run("redis://127.0.0.1:1/0", tmp_path, "htsd-test-down")  # nothing listens on port 1
    assert result == {"statuses": [401, 401, 401, 401, 401, 429], "fallback": True}
