"""Import benchmark: a 100,000-row household file checked, imported and imported again, on a
database of its own (``BENCH_IMPORT_DATABASE_URL``, default ``htsd_benchimport``), created and
dropped by the run.

Each import runs in a fresh child process whose peak resident memory (VmHWM, reset after the
app has started) is the import's alone;
a run of a tenth of the rows beside it shows whether memory grows with the file (it should
not: rows are streamed and flushed in batches of 1,000).
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
import time
from pathlib import Path

import psycopg
from openpyxl import Workbook
from sqlalchemy.engine import make_url

from bench.context import BenchContext, Figure
from htsd_workflow.config import normalize_database_url

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/htsd_benchimport"
ROWS = int(os.environ.get("BENCH_IMPORT_ROWS", 100_000))
#: communities per commune, referenced by the households (so the lookups are exercised)
COMMUNITIES_PER_COMMUNE = 10
#: goal: a province's whole household list in well under the worker's patience
GOAL_SECONDS = 300
GOAL_GROWTH_RATIO = 1.5


def import_database_uri() -> str:
    return normalize_database_url(os.environ.get("BENCH_IMPORT_DATABASE_URL") or DEFAULT_URL)


def _admin(uri: str) -> str:
    url = make_url(uri)
    return url.set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False
    )


def _recreate(uri: str) -> None:
    name = make_url(uri).database
    with psycopg.connect(_admin(uri), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def _drop(uri: str) -> None:
    name = make_url(uri).database
    with psycopg.connect(_admin(uri), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _write_households(path: Path, rows: int, communes: list[str], prefix: str = "H") -> None:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet()
    sheet.append(["Mã hộ", "Tên chủ hộ", "Mã xã", "Mã thôn/tổ dân phố", "Số điện thoại", "Địa chỉ"])
    for i in range(rows):
        commune = communes[i % len(communes)]
        village = f"T{commune}-{(i // len(communes)) % COMMUNITIES_PER_COMMUNE:02d}"
        sheet.append(
            [
                f"{prefix}{commune}-{i:06d}",
                f"Nguyễn Thị Hồng Nhung {i}",
                commune,
                village,
                f"09{i:08d}",
                f"Số {i % 300}, đường Trần Hưng Đạo, tổ {i % 40}",
            ]
        )
    workbook.save(path)


def _write_communities(path: Path, communes: list[str]) -> None:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet()
    sheet.append(["Mã thôn/tổ dân phố", "Tên thôn/tổ dân phố", "Mã xã", "Trưởng thôn"])
    for commune in communes:
        for n in range(COMMUNITIES_PER_COMMUNE):
            sheet.append([f"T{commune}-{n:02d}", f"Thôn {n + 1}", commune, None])
    workbook.save(path)


def _memory_kb(field: str) -> int:
    """VmRSS (now) or VmHWM (peak) of this process, from /proc (Linux)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _reset_peak() -> None:
    """Start the peak (VmHWM) again from the current size, so it measures the import alone
    and not the app's start-up (Linux ≥ 4.0)."""
    with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
        refs.write("5")


def _child(uri: str, kind: str, path: str, steps: list[str], out) -> None:
    """In a fresh process: time the check and the import of one file; report peak memory."""
    from sqlalchemy import select

    from htsd_workflow import create_app
    from htsd_workflow.auth.models import User
    from htsd_workflow.extensions import db
    from htsd_workflow.imports.operations import run_import, validate_import

    app = create_app({"SQLALCHEMY_DATABASE_URI": uri})
    with app.app_context():
        actor = db.session.scalar(select(User).where(User.username == "bench-import"))
        db.session.scalar(select(User.id))  # connect before the baseline
        _reset_peak()
        result = {"baseline_kb": _memory_kb("VmRSS")}
        if "check" in steps:
            started = time.perf_counter()
            with open(path, "rb") as raw:
                report = validate_import(kind, raw, actor)
            result["check_s"] = time.perf_counter() - started
            result["rows"] = report.rows
            result["errors"] = report.error_count
        if "import" in steps:
            started = time.perf_counter()
            with open(path, "rb") as raw:
                imported = run_import(kind, raw, actor)
            db.session.commit()
            result["import_s"] = time.perf_counter() - started
            result["created"] = imported.created
            result["updated"] = imported.updated
            result["unchanged"] = imported.unchanged
        result["peak_kb"] = _memory_kb("VmHWM")
    out.put(result)


def _run_child(uri: str, kind: str, path: Path, steps: list[str]) -> dict:
    spawn = multiprocessing.get_context("spawn")
    queue = spawn.Queue()
    process = spawn.Process(target=_child, args=(uri, kind, str(path), steps, queue))
    process.start()
    result = queue.get(timeout=3600)
    process.join(60)
    return result


def _prepare(uri: str) -> list[str]:
    from flask_migrate import upgrade
    from sqlalchemy import select

    from htsd_workflow import create_app
    from htsd_workflow.auth.operations import create_user
    from htsd_workflow.extensions import db
    from htsd_workflow.geography.models import Unit
    from htsd_workflow.geography.operations import import_province

    app = create_app({"SQLALCHEMY_DATABASE_URI": uri})
    with app.app_context():
        upgrade()
        import_province("62")
        create_user("bench-import", "bench-import-1", "admin", unit_code="62")
        db.session.commit()
        communes = db.session.scalars(
            select(Unit.code).where(Unit.level == "commune").order_by(Unit.code)
        ).all()
        db.session.remove()
        db.engine.dispose()
    return list(communes)


def import_households(ctx: BenchContext) -> list[Figure]:
    """Check, import and re-import a 100,000-row household XLSX; time and peak memory."""
    uri = import_database_uri()
    rows = ROWS if not ctx.quick else min(ROWS, 20_000)
    small_rows = max(rows // 10, 1)
    ctx.say(f"import: recreating {make_url(uri).database}")
    _recreate(uri)
    try:
        communes = _prepare(uri)
        with tempfile.TemporaryDirectory() as folder:
            folder = Path(folder)
            started = time.perf_counter()
            _write_communities(folder / "thon.xlsx", communes)
            _write_households(folder / "ho.xlsx", rows, communes)
            _write_households(folder / "ho-small.xlsx", small_rows, communes, prefix="S")
            ctx.say(
                f"import: wrote {rows:,} households ({(folder / 'ho.xlsx').stat().st_size:,} "
                f"bytes) in {time.perf_counter() - started:.1f} s"
            )
            _run_child(uri, "communities", folder / "thon.xlsx", ["import"])
            ctx.say(f"import: {small_rows:,} rows (memory reference) …")
            small = _run_child(uri, "households", folder / "ho-small.xlsx", ["check", "import"])
            ctx.say(f"import: {rows:,} rows, check then import …")
            first = _run_child(uri, "households", folder / "ho.xlsx", ["check", "import"])
            ctx.say("import: the same file again …")
            again = _run_child(uri, "households", folder / "ho.xlsx", ["import"])
            size = (folder / "ho.xlsx").stat().st_size
    finally:
        _drop(uri)
        ctx.say(f"import: dropped {make_url(uri).database}")
    assert first["errors"] == 0 and first["created"] == rows, first
    assert again["created"] == 0 and again["unchanged"] == rows, again
    growth = (first["peak_kb"] - first["baseline_kb"]) / 1024
    small_growth = (small["peak_kb"] - small["baseline_kb"]) / 1024
    total = first["check_s"] + first["import_s"]
    details = {
        "rows": rows,
        "file_bytes": size,
        "check_s": round(first["check_s"], 1),
        "import_s (checks each row again as it writes, one pass)": round(first["import_s"], 1),
        "reimport_s": round(again["import_s"], 1),
        "peak_rss_mb": round(first["peak_kb"] / 1024, 1),
        "baseline_rss_mb": round(first["baseline_kb"] / 1024, 1),
        "growth_mb": round(growth, 1),
        f"growth_mb_at_{small_rows}_rows": round(small_growth, 1),
    }
    return [
        Figure(
            key="import_households",
            name=f"import: {rows:,}-row household XLSX, check + confirmed import (one pass)",
            value=round(total, 1),
            unit="s",
            reference=round(rows / total),
            reference_name="rows/s over both passes",
            goal=f"≤ {GOAL_SECONDS} s",
            met=total <= GOAL_SECONDS,
            details=details,
        ),
        Figure(
            key="import_households_reimport",
            name=f"import: the same {rows:,} rows again (idempotent: all unchanged)",
            value=round(again["import_s"], 1),
            unit="s",
            goal="0 created",
            met=again["created"] == 0,
        ),
        Figure(
            key="import_households_memory",
            name=f"import: peak memory of the importing process, {rows:,} rows",
            value=round(first["peak_kb"] / 1024, 1),
            unit="MB RSS",
            reference=round(small_growth, 1),
            reference_name=f"MB growth for {small_rows:,} rows; here: {growth:.1f} MB",
            ratio=round(growth / small_growth, 2) if small_growth > 0 else None,
            goal=f"flat: growth ≤ {GOAL_GROWTH_RATIO} × the {small_rows:,}-row run + 50 MB",
            met=growth <= GOAL_GROWTH_RATIO * small_growth + 50,
        ),
    ]
