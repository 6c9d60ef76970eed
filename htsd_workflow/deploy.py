"""Deployment commands: first-start initialisation, backup and restore."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from datetime import datetime
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup
from flask_migrate import upgrade
from sqlalchemy import select
from sqlalchemy.engine import make_url

from htsd_workflow.auth.models import User
from htsd_workflow.auth.operations import create_user
from htsd_workflow.extensions import db
from htsd_workflow.geography.operations import import_province

deploy = AppGroup("deploy", help="Production set-up.")
backup = AppGroup("backup", help="Dump and restore the database and the uploads.")


@deploy.command("init")
def deploy_init():
    """Migrate, import the province's geography and create the admin on first start.

    Safe to run at every start: each step changes nothing the second time.
    """
    upgrade()
    province = current_app.config["DEFAULT_PROVINCE_CODE"]
    result = import_province(province)
    click.echo(f"geography {province}: created {result.created}, updated {result.updated}")
    username = os.environ.get("ADMIN_USERNAME")
    password = os.environ.get("ADMIN_PASSWORD")
    if username and password:
        exists = db.session.scalar(select(User.id).where(User.username == username.lower()))
        if exists is None:
            create_user(
                username, password, "admin", unit_code=province, email=os.environ.get("ADMIN_EMAIL")
            )
            click.echo(f"created admin {username}")
    db.session.commit()


def _pg_env(url) -> dict:
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = url.password
    return env


def _pg_args(url) -> list[str]:
    args = [
        "-h",
        url.host or "127.0.0.1",
        "-p",
        str(url.port or 5432),
        "-U",
        url.username or "postgres",
    ]
    return args


def create_backup(target_dir: Path) -> Path:
    """Write ``htsd-backup-<time>.tar.gz`` with the database dump and the uploads folder."""
    url = make_url(current_app.config["SQLALCHEMY_DATABASE_URI"])
    target_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    archive = target_dir / f"htsd-backup-{stamp}.tar.gz"
    with tempfile.TemporaryDirectory() as work:
        work_path = Path(work)
        if url.get_backend_name() == "postgresql":
            dump = work_path / "database.pgdump"
            subprocess.run(
                [
                    "pg_dump",
                    "-Fc",
                    "--no-owner",
                    *_pg_args(url),
                    "-d",
                    url.database,
                    "-f",
                    str(dump),
                ],
                check=True,
                env=_pg_env(url),
                capture_output=True,
            )
        else:
            db.session.remove()
            source = Path(url.database)
            dump = work_path / "database.sqlite"
            with sqlite3.connect(source) as src, sqlite3.connect(dump) as dst:
                src.backup(dst)
        uploads = Path(current_app.instance_path) / "uploads"
        with tarfile.open(archive, "w:gz") as tar:
            tar.add(dump, arcname=dump.name)
            if uploads.is_dir():
                tar.add(uploads, arcname="uploads")
    return archive


def restore_backup(archive: Path) -> None:
    """Replace the database and the uploads with those in ``archive``."""
    url = make_url(current_app.config["SQLALCHEMY_DATABASE_URI"])
    db.session.remove()
    db.engine.dispose()
    with tempfile.TemporaryDirectory() as work, tarfile.open(archive) as tar:
        tar.extractall(work, filter="data")
        work_path = Path(work)
        if url.get_backend_name() == "postgresql":
            dump = work_path / "database.pgdump"
            if not dump.exists():
                raise click.ClickException("the archive holds no PostgreSQL dump")
            subprocess.run(
                [
                    "pg_restore",
                    "--clean",
                    "--if-exists",
                    "--no-owner",
                    "--single-transaction",
                    *_pg_args(url),
                    "-d",
                    url.database,
                    str(dump),
                ],
                check=True,
                env=_pg_env(url),
                capture_output=True,
            )
        else:
            dump = work_path / "database.sqlite"
            if not dump.exists():
                raise click.ClickException("the archive holds no SQLite database")
            shutil.copyfile(dump, url.database)
        uploads = Path(current_app.instance_path) / "uploads"
        if (work_path / "uploads").is_dir():
            shutil.rmtree(uploads, ignore_errors=True)
            shutil.copytree(work_path / "uploads", uploads)


@backup.command("create")
@click.option("--to", "target", default="backups", show_default=True, type=click.Path())
def backup_create(target):
    """Dump the database and the uploads into one archive."""
    try:
        archive = create_backup(Path(target))
    except subprocess.CalledProcessError as exc:
        raise click.ClickException(exc.stderr.decode(errors="replace")) from exc
    click.echo(str(archive))


@backup.command("restore")
@click.argument("archive", type=click.Path(exists=True, dir_okay=False))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation")
def backup_restore(archive, yes):
    """Restore the database and the uploads from an archive (replaces current data)."""
    if not yes:
        click.confirm("This replaces the current database and uploads. Continue?", abort=True)
    try:
        restore_backup(Path(archive))
    except subprocess.CalledProcessError as exc:
        raise click.ClickException(exc.stderr.decode(errors="replace")) from exc
    click.echo("restored")
