"""HTSĐ Workflow: recognition of learning families, clans, communities and units."""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from htsd_workflow import models  # noqa: F401  (registers every table)
from htsd_workflow.cases.engine import WorkflowRegistry
from htsd_workflow.cases.startup import refuse_stranded_cases
from htsd_workflow.cli import register_cli
from htsd_workflow.config import PROJECT_ROOT, load_config, normalize_database_url
from htsd_workflow.core.collation import register_sqlite_collation
from htsd_workflow.core.logging import configure_logging, init_request_logging
from htsd_workflow.core.sqlite import serialise_locking_reads
from htsd_workflow.extensions import babel, csrf, db, limiter, login_manager, migrate
from htsd_workflow.notifications import dispatch  # noqa: F401  (tells the worker after commits)
from htsd_workflow.reports.plans import load_plans
from htsd_workflow.web import register_web, select_locale


def create_app(config: dict | None = None) -> Flask:
    """Build the application; ``config`` overrides settings (tests use it)."""
    instance_path = Path(
        os.environ.get("HTSD_INSTANCE_PATH")
        or (config or {}).get("INSTANCE_PATH")
        or PROJECT_ROOT / "instance"
    )
    app = Flask(
        __name__,
        instance_path=str(instance_path.resolve()),
        template_folder=str(PROJECT_ROOT / "templates"),
    )
    app.config.update(load_config(instance_path))
    if config:
        app.config.update(config)
    app.config["SQLALCHEMY_DATABASE_URI"] = normalize_database_url(
        app.config["SQLALCHEMY_DATABASE_URI"]
    )

    options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        # the embedded default: wait for a writer instead of failing at once
        options.setdefault("connect_args", {"timeout": 30})
    else:
        # one pool per process: a gunicorn worker's threads, or one Celery worker process
        options.setdefault("pool_size", app.config["DB_POOL_SIZE"])
        options.setdefault("max_overflow", app.config["DB_MAX_OVERFLOW"])
        options.setdefault("pool_timeout", app.config["DB_POOL_TIMEOUT"])
        options.setdefault("pool_recycle", 1800)
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options
    db.init_app(app)
    with app.app_context():
        for engine in db.engines.values():
            serialise_locking_reads(engine)
            register_sqlite_collation(engine)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"))
    login_manager.init_app(app)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    limiter.init_app(app)

    # invalid workflow, criteria or plan files stop start-up here, naming the file and the
    # place in it (core/datafiles)
    app.extensions["htsd_registry"] = WorkflowRegistry(
        app.config["WORKFLOWS_DIR"], app.config["WORKFLOW_SET"]
    )
    app.extensions["htsd_plans"] = load_plans(Path(app.config["WORKFLOWS_DIR"]) / "plans")
    # … and so do running cases in a state their file no longer has (unless mapped)
    refuse_stranded_cases(app, app.extensions["htsd_registry"])

    proxies = app.config["PROXY_COUNT"]
    if proxies:
        # the address the sign-in limits, the audit log and the request log see is the
        # client's, as the trusted proxies report it, not the proxy's own
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)

    configure_logging(os.environ.get("LOG_LEVEL", "INFO"))
    init_request_logging(app)
    register_cli(app)
    register_web(app)
    return app
