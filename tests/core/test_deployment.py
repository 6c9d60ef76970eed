"""The production files (checked by parsing: no Docker engine runs here), health, backups."""

from __future__ import annotations

import importlib
import re
import shutil
import socket
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from htsd_workflow import create_app
from htsd_workflow.deploy import create_backup, restore_backup
from htsd_workflow.extensions import db
from htsd_workflow.subjects.models import Subject
from htsd_workflow.subjects.operations import create_subject

ROOT = Path(__file__).resolve().parents[2]


def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def env_example_names():
    names = set()
    for line in (ROOT / ".env.example").read_text().splitlines():
        match = re.match(r"^([A-Z][A-Z0-9_]*)=", line)
        if match:
            names.add(match.group(1))
    return names


def test_every_service_command_names_a_real_entry_point():
    services = compose()["services"]
    assert {"web", "worker", "beat", "db", "redis", "init"} <= set(services)
    for name, service in services.items():
        command = service.get("command")
        if not command or service.get("image", "").startswith(("postgres", "redis")):
            continue
        if command[0] == "gunicorn":
            module, _, attribute = command[-1].partition(":")
            assert hasattr(importlib.import_module(module), attribute), name
        elif command[0] == "celery":
            assert importlib.util.find_spec(command[command.index("-A") + 1]), name
            if "flower" in command:  # the monitoring profile: Flower must be installed
                assert importlib.util.find_spec("flower"), name
        elif command[0] == "flask":
            app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})
            group = app.cli.get_command(None, command[3])
            assert group is not None and group.get_command(None, command[4]) is not None, name
        else:
            pytest.fail(f"service {name}: unknown command {command}")


def test_every_setting_the_app_reads_is_documented_in_env_example():
    read = set()
    for path in (ROOT / "htsd_workflow").rglob("*.py"):
        read |= set(re.findall(r"os\.environ(?:\.get)?[\[(]\s*\"([A-Z0-9_]+)\"", path.read_text()))
        read |= set(re.findall(r"_flag\(\"([A-Z0-9_]+)\"", path.read_text()))
    for path in (ROOT / "worker").rglob("*.py"):
        read |= set(re.findall(r"os\.environ(?:\.get)?[\[(]\s*\"([A-Z0-9_]+)\"", path.read_text()))
    missing = read - env_example_names()
    assert not missing, f"settings read by the app but not in .env.example: {sorted(missing)}"


def test_compose_ports_volumes_and_environment_are_consistent():
    data = compose()
    declared = set(data["volumes"])
    used = set()
    for service in data["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith((".", "/")):
                used.add(source)
    assert used == declared
    web = data["services"]["web"]
    port = web["ports"][0].split(":")[-1]
    assert f"0.0.0.0:{port}" in web["command"]
    variables = set(re.findall(r"\$\{([A-Z_]+)", (ROOT / "docker-compose.yml").read_text()))
    assert variables <= env_example_names()
    for name in ("web", "worker", "beat", "db", "redis"):
        assert data["services"][name].get("healthcheck") or name == "beat"


def test_healthz_and_readyz(client):
    assert client.get("/healthz").json == {"status": "ok"}
    ready = client.get("/readyz")
    # the test schema is made by create_all, so migrations are not "current" here
    assert ready.json["checks"]["database"] == "ok"
    assert ready.json["checks"]["broker"] == "ok"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_readyz_fails_when_the_broker_is_down(ctx):
    original = ctx.config["CELERY"]
    ctx.config["CELERY"] = {**original, "broker_url": f"redis://127.0.0.1:{free_port()}/0"}
    try:
        response = ctx.test_client().get("/readyz")
    finally:
        ctx.config["CELERY"] = original
    assert response.status_code == 503
    assert response.json["checks"]["broker"].startswith("unavailable")


@pytest.mark.skipif(shutil.which("pg_dump") is None, reason="pg_dump not installed")
def test_backup_and_restore_round_trip(ctx, tmp_path):
    create_subject("family", "Hộ Trước Sao Lưu", "23281")
    db.session.commit()
    uploads = Path(ctx.instance_path) / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    (uploads / "minh-chung.pdf").write_bytes(b"%PDF-1.4 evidence")
    archive = create_backup(tmp_path / "backups")
    create_subject("family", "Hộ Sau Sao Lưu", "23281")
    db.session.commit()
    (uploads / "minh-chung.pdf").unlink()
    restore_backup(archive)
    names = set(db.session.scalars(select(Subject.name)))
    assert "Hộ Trước Sao Lưu" in names and "Hộ Sau Sao Lưu" not in names
    assert (uploads / "minh-chung.pdf").read_bytes() == b"%PDF-1.4 evidence"
    assert db.session.scalar(select(func.count()).select_from(Subject)) == 1
