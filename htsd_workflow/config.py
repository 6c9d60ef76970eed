"""Settings from environment variables, with embedded defaults that need no server."""

from __future__ import annotations

import importlib.util
import os
import secrets
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def normalize_database_url(url: str) -> str:
    """Return ``url`` with a PostgreSQL driver that is installed.

    ``postgresql://user@host/db`` means "PostgreSQL, whatever driver is here": SQLAlchemy
    would pick psycopg2 for the bare scheme, so name psycopg (3) when that is the one we have.
    """
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            rest = url[len(prefix) :]
            if importlib.util.find_spec("psycopg") is not None:
                return "postgresql+psycopg://" + rest
            return "postgresql+psycopg2://" + rest
    return url


def _secret_key(instance_path: Path) -> str:
    """Return SECRET_KEY from the environment, else one generated once and kept on disk."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    key_file = instance_path / "secret_key"
    if not key_file.exists():
        instance_path.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_hex(32))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


def _flag(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def load_config(instance_path: Path) -> dict:
    """Build the configuration mapping from the environment."""
    instance_path = Path(instance_path)
    instance_path.mkdir(parents=True, exist_ok=True)
    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{instance_path / 'htsd.sqlite'}"
    redis_url = os.environ.get("REDIS_URL")
    broker_url = (
        os.environ.get("CELERY_BROKER_URL")
        or redis_url
        or f"sqla+sqlite:///{instance_path / 'celery-broker.sqlite'}"
    )
    return {
        "SECRET_KEY": _secret_key(instance_path),
        "SQLALCHEMY_DATABASE_URI": normalize_database_url(database_url),
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        #: PostgreSQL connections per process: gunicorn runs 4 threads per worker, so 4 kept open
        #: and 2 more at a peak; a Celery worker process uses one at a time
        "DB_POOL_SIZE": int(os.environ.get("DB_POOL_SIZE", 4)),
        "DB_MAX_OVERFLOW": int(os.environ.get("DB_MAX_OVERFLOW", 2)),
        #: seconds a request waits for a free connection before failing with 503
        "DB_POOL_TIMEOUT": int(os.environ.get("DB_POOL_TIMEOUT", 10)),
        "REDIS_URL": redis_url,
        "CELERY": {
            "broker_url": broker_url,
            "task_ignore_result": True,
            "broker_connection_retry_on_startup": True,
            # a task taken by a worker that dies goes back to the queue: acknowledge late, and
            # keep tasks short so that the visibility timeout can be short too
            "task_acks_late": True,
            "task_reject_on_worker_lost": True,
            "worker_prefetch_multiplier": 1,
            # (Redis only: the SQLAlchemy transport of the embedded default takes no options)
            "broker_transport_options": (
                {"visibility_timeout": int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", 120))}
                if broker_url.startswith(("redis://", "rediss://"))
                else {}
            ),
            "timezone": "Asia/Ho_Chi_Minh",
        },
        #: seconds between sweeps of the outbox, and between deadline scans
        "OUTBOX_SWEEP_SECONDS": int(os.environ.get("OUTBOX_SWEEP_SECONDS", 30)),
        "SLA_SCAN_SECONDS": int(os.environ.get("SLA_SCAN_SECONDS", 300)),
        #: a process tells the worker about new outbox rows at most once per this many seconds
        #: (the last commit of a burst is told at the end of the window); 0: after every commit
        "WORKER_NOTICE_SECONDS": float(os.environ.get("WORKER_NOTICE_SECONDS", 0.2)),
        #: links in notifications and e-mails start with this address
        "BASE_URL": os.environ.get("BASE_URL", "http://127.0.0.1:5000"),
        # Flask-Mail; with no MAIL_SERVER, e-mails are written to instance/mail/ as .eml files
        "MAIL_SERVER": os.environ.get("MAIL_SERVER"),
        "MAIL_PORT": int(os.environ.get("MAIL_PORT", 25)),
        "MAIL_USERNAME": os.environ.get("MAIL_USERNAME"),
        "MAIL_PASSWORD": os.environ.get("MAIL_PASSWORD"),
        "MAIL_USE_TLS": _flag("MAIL_USE_TLS", False),
        "MAIL_DEFAULT_SENDER": os.environ.get("MAIL_DEFAULT_SENDER", "htsd@localhost"),
        #: which workflow set under workflows/ is in force: three_tier (with districts) or two_tier
        "WORKFLOW_SET": os.environ.get("WORKFLOW_SET", "three_tier"),
        #: where running cases in a state their workflow file no longer has will be carried
        #: ("old_state=new_state,…"): start-up goes on instead of stopping
        "WORKFLOW_STATE_MAP": os.environ.get("WORKFLOW_STATE_MAP", ""),
        "WORKFLOWS_DIR": os.environ.get("WORKFLOWS_DIR", str(PROJECT_ROOT / "workflows")),
        "DEFAULT_PROVINCE_CODE": os.environ.get("DEFAULT_PROVINCE_CODE", "62"),
        #: the issuing body in the heading of printed reports (empty: the steering committee)
        "REPORT_ISSUING_BODY": os.environ.get("REPORT_ISSUING_BODY", ""),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": _flag("SESSION_COOKIE_SECURE", False),
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SECURE": _flag("SESSION_COOKIE_SECURE", False),
        "PERMANENT_SESSION_LIFETIME": int(os.environ.get("SESSION_HOURS", 12)) * 3600,
        "MAX_CONTENT_LENGTH": int(os.environ.get("MAX_CONTENT_LENGTH", 40 * 1024 * 1024)),
        # --- web pages ---------------------------------------------------------------------
        "BABEL_DEFAULT_LOCALE": "vi",
        "BABEL_DEFAULT_TIMEZONE": "Asia/Ho_Chi_Minh",
        #: the languages of the screens; Vietnamese first
        "LANGUAGES": ("vi", "en"),
        #: rate limits: Redis when REDIS_URL is set, else in memory; memory also when Redis is down
        "RATELIMIT_STORAGE_URI": os.environ.get("RATELIMIT_STORAGE_URI")
        or redis_url
        or "memory://",
        "RATELIMIT_STORAGE_OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        #: stated here, not left to the shared Limiter: its init_app takes the last app's
        #: setting as the default, so one app made without limits switched them off for
        #: every app made after it in the same process
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        "RATELIMIT_SWALLOW_ERRORS": True,
        "RATELIMIT_HEADERS_ENABLED": True,
        #: how many reverse proxies (nginx) stand in front of the app: the client's address is
        #: read from the X-Forwarded-For entry that many hops back, and X-Forwarded-Proto is
        #: believed; 0 (no proxy) believes neither, since a client can send them itself
        "PROXY_COUNT": int(os.environ.get("PROXY_COUNT", 0)),
        #: the public certificate check (/verify/<code>, /api/v1/verify/<code>) per address
        "VERIFY_RATE_LIMIT": os.environ.get("VERIFY_RATE_LIMIT", "60 per minute; 600 per hour"),
        #: more certificates than this at once are built by the worker, with a progress bar
        "CERTIFICATES_INLINE_MAX": int(os.environ.get("CERTIFICATES_INLINE_MAX", 40)),
        #: a report PDF with more table rows than this is built by the worker, with a progress
        #: bar (the targets of a whole province, some 18 pages, take WeasyPrint 5–7 s)
        "REPORT_PDF_INLINE_MAX_ROWS": int(os.environ.get("REPORT_PDF_INLINE_MAX_ROWS", 120)),
        #: PUBLIC_LISTS=1 publishes each commune's list of recognitions per year (no sign-in)
        "PUBLIC_LISTS": _flag("PUBLIC_LISTS", False),
        #: the key that signs issued decisions (PAdES): a PKCS#12 file, or a PKCS#11 token
        "SIGNING_P12_PATH": os.environ.get("SIGNING_P12_PATH"),
        "SIGNING_P12_PASSWORD": os.environ.get("SIGNING_P12_PASSWORD"),
        "SIGNING_PKCS11_MODULE": os.environ.get("SIGNING_PKCS11_MODULE"),
        "SIGNING_PKCS11_TOKEN_LABEL": os.environ.get("SIGNING_PKCS11_TOKEN_LABEL"),
        "SIGNING_PKCS11_PIN": os.environ.get("SIGNING_PKCS11_PIN"),
        "SIGNING_PKCS11_KEY_LABEL": os.environ.get("SIGNING_PKCS11_KEY_LABEL", "signing"),
        "SIGNING_PKCS11_CERT_LABEL": os.environ.get("SIGNING_PKCS11_CERT_LABEL"),
        #: failed sign-ins allowed per address and user name, and per address
        "LOGIN_RATE_LIMIT": os.environ.get("LOGIN_RATE_LIMIT", "5 per minute; 20 per hour"),
        "LOGIN_RATE_LIMIT_PER_ADDRESS": os.environ.get(
            "LOGIN_RATE_LIMIT_PER_ADDRESS", "30 per minute"
        ),
        #: evidence files: stored outside the web root, one file at most this large
        "UPLOAD_FOLDER": os.environ.get("UPLOAD_FOLDER") or str(instance_path / "uploads"),
        "UPLOAD_MAX_BYTES": int(os.environ.get("UPLOAD_MAX_BYTES", 10 * 1024 * 1024)),
        "UPLOAD_MAX_FILES_PER_ITEM": 10,
        #: bulk actions over more cases than this run as a background job with a progress bar
        "BULK_BACKGROUND_THRESHOLD": int(os.environ.get("BULK_BACKGROUND_THRESHOLD", 300)),
        #: the most cases one bulk action may take ("all matching the filter")
        "BULK_MAX_CASES": int(os.environ.get("BULK_MAX_CASES", 50000)),
        "QUEUE_PAGE_SIZE": 50,
        #: spreadsheet imports from the pages: where uploaded files wait for confirmation, the
        #: largest accepted, and the size above which checking and importing run in the worker
        "IMPORT_FOLDER": os.environ.get("IMPORT_FOLDER") or str(instance_path / "imports"),
        "IMPORT_MAX_BYTES": int(os.environ.get("IMPORT_MAX_BYTES", 30 * 1024 * 1024)),
        "IMPORT_BACKGROUND_BYTES": int(os.environ.get("IMPORT_BACKGROUND_BYTES", 256 * 1024)),
        #: what a spreadsheet may hold, judged by its content and not by its size on disk (an
        #: XLSX is a zip: 200 KB can unpack to 200 MB): rows (empty ones too) and cells read,
        #: its parts unpacked together, and the parts read whole into memory (shared strings,
        #: styles, the workbook) together; anything more is refused with what to do
        "IMPORT_MAX_ROWS": int(os.environ.get("IMPORT_MAX_ROWS", 200_000)),
        "IMPORT_MAX_CELLS": int(os.environ.get("IMPORT_MAX_CELLS", 5_000_000)),
        "IMPORT_MAX_UNPACKED_BYTES": int(
            os.environ.get("IMPORT_MAX_UNPACKED_BYTES", 160 * 1024 * 1024)
        ),
        "IMPORT_MAX_SHARED_BYTES": int(os.environ.get("IMPORT_MAX_SHARED_BYTES", 64 * 1024 * 1024)),
        #: uploaded files not imported or cancelled within this many hours are deleted
        "IMPORT_KEEP_HOURS": int(os.environ.get("IMPORT_KEEP_HOURS", 72)),
    }
