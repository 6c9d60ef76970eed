"""The annual round in bulk (issue 25), on a database of its own (``BENCH_ROUND_DATABASE_URL``,
default ``htsd_benchround``), created and dropped by the run:

- ``village_grid``: a village of 200 registered households whose grid is saved and sent in one
  request (``POST /villages/<id>/grid`` with "Gửi", through the application's test client: the
  form read, the scope check, every row saved, the complete ones submitted, the commit), beside
  the statements that request issued replayed on another village's households through psycopg
  alone, in the same run;
- ``assessment_file``: a village assessment file of 20,000 rows (and of 5,000 beside it)
  checked and imported, each in a fresh child process: rows per second and the peak memory of
  the importing process, which should not grow with the file (rows are streamed, checked and
  saved in batches of 1,000).

``run_grid`` and ``run_file`` take their sizes as arguments, so ``tests/bench`` runs them small.
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import tempfile
import time
from pathlib import Path

import psycopg
from flask import g
from openpyxl import Workbook
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from bench.capture import capture, replay
from bench.context import BenchContext, Figure
from bench.data.load import connect
from bench.imports import _drop, _memory_kb, _recreate, _reset_peak
from htsd_workflow.config import normalize_database_url

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/htsd_benchround"
GRID_HOUSEHOLDS = int(os.environ.get("BENCH_GRID_HOUSEHOLDS", 200))
FILE_ROWS = int(os.environ.get("BENCH_FILE_ROWS", 20_000))
GRID_ROUNDS = 3
GRID_GOAL_SECONDS = 1.0
GOAL_GROWTH_RATIO = 1.5
#: the commune the bench's villages are in (Phường Quang Trung, Kon Tum)
COMMUNE = "23281"


def _this_year() -> int:
    """The year of the round the application sees (its own clock)."""
    from htsd_workflow.core.time import to_local, utcnow

    return to_local(utcnow()).date().year


def round_database_uri() -> str:
    return normalize_database_url(os.environ.get("BENCH_ROUND_DATABASE_URL") or DEFAULT_URL)


class _Ids(dict):
    """Row ids of the captured village → the same rows of another village; any other id (the
    village head, the round) stays as it was."""

    def __contains__(self, key) -> bool:
        return True

    def __missing__(self, key):
        return key


def _app(uri: str):
    from htsd_workflow import create_app

    return create_app(
        {"SQLALCHEMY_DATABASE_URI": uri, "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False}
    )


def _prepare(uri: str, villages: dict[str, int]) -> dict:
    """Migrate, import Kon Tum, open this year's round and make ``villages`` (code → number of
    households), every household registered; return the actors' and villages' ids."""
    from flask_migrate import upgrade

    from htsd_workflow.auth.operations import create_user
    from htsd_workflow.cases.operations import ensure_round
    from htsd_workflow.cases.rounds import register_households
    from htsd_workflow.extensions import db
    from htsd_workflow.geography.operations import import_province
    from htsd_workflow.subjects.operations import create_subject

    app = _app(uri)
    with app.app_context():
        upgrade()
        import_province("62")
        if db.engine.dialect.name == "postgresql":
            # the replay maps row ids by value: subjects', cases' and items' ids kept apart
            # (and from the users' small ones) so that one id never stands for two rows
            for table, start in (("subjects", 10**7), ("cases", 2 * 10**7)):
                db.session.execute(text(f"ALTER SEQUENCE {table}_id_seq RESTART WITH {start}"))
            db.session.execute(
                text(f"ALTER SEQUENCE assessment_items_id_seq RESTART WITH {3 * 10**7}")
            )
        round_ = ensure_round("family", _this_year())
        officer = create_user("bench-xa", "bench-round-1", "commune_reviewer", unit_code=COMMUNE)
        found = {"officer": officer.id, "villages": {}, "heads": {}}
        for code, households in villages.items():
            village = create_subject("community", f"Thôn {code}", COMMUNE, external_code=code)
            ids = [
                create_subject(
                    "family",
                    f"Hộ {code} {n}",
                    COMMUNE,
                    head_name=f"Nguyễn Văn {n}",
                    community_id=village.id,
                    external_code=f"{code}-{n:06d}",
                ).id
                for n in range(households)
            ]
            for start in range(0, len(ids), 5000):
                register_households(round_.id, ids[start : start + 5000], officer)
            head = create_user(
                f"bench-{code.lower()}", "bench-round-1", "village_head", subject_id=village.id
            )
            head.must_change_password = False
            found["villages"][code] = village.id
            found["heads"][code] = head.id
            db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return found


# --- the grid -------------------------------------------------------------------------------


def _grid_form(village_id: int):
    """The grid's form as the page posts it with "Gửi": every household's every criterion,
    full marks (all complete, all sent); and (case ids, item ids) by household order."""
    from htsd_workflow.cases.engine import get_registry
    from htsd_workflow.cases.models import AssessmentItem, Case
    from htsd_workflow.extensions import db
    from htsd_workflow.subjects.models import Subject

    cases = db.session.scalars(
        select(Case)
        .join(Subject, Subject.id == Case.subject_id)
        .where(Subject.community_id == village_id)
        .order_by(Subject.name, Subject.id)
    ).all()
    items = get_registry().criteria_set(cases[0].criteria_set_id).items
    form = {"case_id": [str(c.id) for c in cases], "action": "send"}
    for case in cases:
        form[f"version-{case.id}"] = str(case.version)
        for item in items:
            form[f"score-{case.id}-{item.code}"] = f"{item.max_points:g}"
    item_ids = db.session.execute(
        select(AssessmentItem.id)
        .where(AssessmentItem.case_id.in_([c.id for c in cases]))
        .order_by(AssessmentItem.case_id, AssessmentItem.code)
    ).scalars()
    return form, [c.id for c in cases], [c.subject_id for c in cases], list(item_ids)


def run_grid(uri: str, households: int = GRID_HOUSEHOLDS, rounds: int = GRID_ROUNDS) -> dict:
    """Seconds of each grid request (the first, captured, is the warm-up) and of each replay."""
    from htsd_workflow.auth.models import User
    from htsd_workflow.cases.models import Case
    from htsd_workflow.extensions import db

    codes = [f"G{n}" for n in range(1 + 2 * rounds)]
    prepared = _prepare(uri, dict.fromkeys(codes, households))
    app = _app(uri)
    seconds, raw_seconds = [], []
    with app.app_context():
        client = app.test_client()
        forms = {code: _grid_form(prepared["villages"][code]) for code in codes}

        def post(code: str):
            with client.session_transaction() as session:
                session["_user_id"] = db.session.get(User, prepared["heads"][code]).get_id()
                session["_fresh"] = True
            # the requests share this app context: forget the last request's signed-in user
            g.pop("_login_user", None)
            db.session.remove()
            village_id = prepared["villages"][code]
            started = time.perf_counter()
            response = client.post(f"/villages/{village_id}/grid", data=forms[code][0])
            elapsed = time.perf_counter() - started
            if response.status_code != 303:
                raise RuntimeError(f"the grid refused: {response.status_code}")
            return elapsed

        warm = codes[0]
        captured = capture(lambda: post(warm))
        # the pool's pre-pings (SELECT 1 outside a transaction) are no work of the request's
        captured.statements = [s for s in captured.statements if not s.autocommit]
        for code in codes[1 : 1 + rounds]:
            seconds.append(post(code))
        connection = connect(uri)
        try:
            for code in codes[1 + rounds :]:
                mapping = _Ids()
                for old, new in zip(forms[warm][1], forms[code][1], strict=True):
                    mapping[old] = new
                for old, new in zip(forms[warm][2], forms[code][2], strict=True):
                    mapping[old] = new
                for old, new in zip(forms[warm][3], forms[code][3], strict=True):
                    mapping[old] = new
                raw_seconds.append(replay(connection, captured, mapping))
        except psycopg.Error:
            connection.rollback()
            raise
        finally:
            connection.close()
        states = {
            code: set(
                db.session.scalars(select(Case.state).where(Case.id.in_(forms[code][1])).distinct())
            )
            for code in codes
        }
        db.session.remove()
        db.engine.dispose()
    if any(s != {"commune_review"} for s in states.values()):
        raise RuntimeError(f"not every household was sent: {states}")
    return {
        "households": households,
        "seconds": seconds,
        "raw_seconds": raw_seconds,
        "statements": len(captured.statements),
    }


def village_grid(ctx: BenchContext) -> list[Figure]:
    uri = round_database_uri()
    ctx.say(f"grid: recreating {make_url(uri).database}")
    _recreate(uri)
    try:
        found = run_grid(uri)
    finally:
        _drop(uri)
    value, reference = statistics.median(found["seconds"]), statistics.median(found["raw_seconds"])
    ctx.say(f"   grid request {value:.3f} s, raw statements {reference:.3f} s")
    return [
        Figure(
            key="village_grid",
            name=f"round: a village grid of {found['households']} households saved and sent "
            "in one request",
            value=round(value, 3),
            unit="s",
            reference=round(reference, 3),
            reference_name="same statements via psycopg",
            ratio=round(reference / value, 3),
            goal=f"≤ {GRID_GOAL_SECONDS:g} s",
            met=value <= GRID_GOAL_SECONDS,
            details={
                "rounds_seconds": {"request": found["seconds"], "raw": found["raw_seconds"]},
                "statements": found["statements"],
            },
        )
    ]


# --- the file -------------------------------------------------------------------------------


def _write_file(path: Path, code: str, rows: int) -> None:
    from htsd_workflow.cases.engine import get_registry
    from htsd_workflow.imports.assessments import criterion_header

    items = get_registry().criteria_for("family", _this_year()).items
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet()
    sheet.append(["Mã hộ", "Tên chủ hộ", *(criterion_header(i) for i in items)])
    for n in range(rows):
        sheet.append(
            [f"{code}-{n:06d}", f"Hộ {code} {n}", *(max(i.max_points - n % 3, 0) for i in items)]
        )
    workbook.save(path)


def _child(uri: str, path: str, officer_id: int, out) -> None:
    """In a fresh process: check then import one file; report seconds and peak memory."""
    from htsd_workflow.auth.models import User
    from htsd_workflow.extensions import db
    from htsd_workflow.imports.assessments import import_assessments, validate_assessments

    app = _app(uri)
    with app.app_context(), app.test_request_context():
        actor = db.session.get(User, officer_id)
        _reset_peak()
        result = {"baseline_kb": _memory_kb("VmRSS")}
        started = time.perf_counter()
        with open(path, "rb") as raw:
            report = validate_assessments(raw, actor)
        result["check_s"] = time.perf_counter() - started
        result["rows"], result["errors"] = report.rows, report.error_count
        started = time.perf_counter()
        with open(path, "rb") as raw:
            imported = import_assessments(raw, actor, filename=Path(path).name)
        db.session.commit()
        result["import_s"] = time.perf_counter() - started
        result["updated"], result["unchanged"] = imported.updated, imported.unchanged
        result["peak_kb"] = _memory_kb("VmHWM")
    out.put(result)


def _run_child(uri: str, path: Path, officer_id: int) -> dict:
    spawn = multiprocessing.get_context("spawn")
    queue = spawn.Queue()
    process = spawn.Process(target=_child, args=(uri, str(path), officer_id, queue))
    process.start()
    result = queue.get(timeout=3600)
    process.join(60)
    return result


def run_file(uri: str, rows: int = FILE_ROWS, small_rows: int | None = None) -> dict:
    small_rows = small_rows or max(rows // 4, 1)
    prepared = _prepare(uri, {"F": rows, "S": small_rows})
    app = _app(uri)
    with app.app_context(), tempfile.TemporaryDirectory() as folder:
        big, small = Path(folder) / "thon-f.xlsx", Path(folder) / "thon-s.xlsx"
        _write_file(big, "F", rows)
        _write_file(small, "S", small_rows)
        size = big.stat().st_size
        small_result = _run_child(uri, small, prepared["officer"])
        big_result = _run_child(uri, big, prepared["officer"])
    for found, expected in ((small_result, small_rows), (big_result, rows)):
        if found["errors"] or found["updated"] != expected:
            raise RuntimeError(f"the file did not import whole: {found}")
    return {
        "rows": rows,
        "small_rows": small_rows,
        "bytes": size,
        "big": big_result,
        "small": small_result,
    }


def assessment_file(ctx: BenchContext) -> list[Figure]:
    uri = round_database_uri()
    rows = FILE_ROWS if not ctx.quick else min(FILE_ROWS, 5000)
    ctx.say(f"assessment file: recreating {make_url(uri).database}")
    _recreate(uri)
    try:
        found = run_file(uri, rows)
    finally:
        _drop(uri)
    big, small = found["big"], found["small"]
    total = big["check_s"] + big["import_s"]
    growth = (big["peak_kb"] - big["baseline_kb"]) / 1024
    small_growth = (small["peak_kb"] - small["baseline_kb"]) / 1024
    return [
        Figure(
            key="assessment_file",
            name=f"round: a {rows:,}-row village assessment file checked and imported",
            value=round(rows / total),
            unit="rows/s",
            reference=round(found["small_rows"] / (small["check_s"] + small["import_s"])),
            reference_name=f"rows/s at {found['small_rows']:,} rows",
            details={
                "file_bytes": found["bytes"],
                "check_s": round(big["check_s"], 1),
                "import_s": round(big["import_s"], 1),
                "peak_rss_mb": round(big["peak_kb"] / 1024, 1),
                "growth_mb": round(growth, 1),
                f"growth_mb_at_{found['small_rows']}_rows": round(small_growth, 1),
            },
        ),
        Figure(
            key="assessment_file_memory",
            name=f"round: peak memory importing the {rows:,}-row assessment file",
            value=round(big["peak_kb"] / 1024, 1),
            unit="MB RSS",
            reference=round(small_growth, 1),
            reference_name=f"MB growth for {found['small_rows']:,} rows; here: {growth:.1f} MB",
            ratio=round(growth / small_growth, 2) if small_growth > 0 else None,
            goal=f"flat: growth ≤ {GOAL_GROWTH_RATIO} × the smaller run + 50 MB",
            met=growth <= GOAL_GROWTH_RATIO * small_growth + 50,
        ),
    ]
