"""The raw-database reference: the statements an operation issues, replayed without Python.

``capture`` records every statement (with its parameters, as handed to the driver) while a
function runs; ``PgbenchScript`` turns one captured transaction into a pgbench script that
issues exactly those statements, with each parameter bound as a pgbench variable (pgbench
``-M prepared`` sends them as ``$n`` parameters of prepared statements, as psycopg does with the
statements it auto-prepares), the case id drawn without repetition from a pool, and ids that
earlier statements return (visits, history rows) picked up with ``\\gset``. ``replay`` runs a
captured set-based transaction again on other rows, straight through psycopg.
"""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import time
from dataclasses import dataclass, field
from datetime import date, datetime

import psycopg
from psycopg.types.json import Json, Jsonb
from sqlalchemy.engine import make_url

PLACEHOLDER = re.compile(r"%\((\w+)\)s")
#: parameters that carry a row id (case, visit, history row), as SQLAlchemy names them:
#: ``id_1_1`` (IN lists), ``case_id``, ``case_id__3`` (multi-row VALUES), ``pk_1`` (get),
#: ``case_id_v0`` (the PostgreSQL path's VALUES rows) and ``case_id_v`` (its arrays)
ID_PARAMETER = re.compile(r"^(id|case_id|visit_id|event_id|pk)(_[a-z]?\d*)*(__\d+)?$")
#: a parameter the case's own locked row supplies: the moment its stay began, by which the write
#: closes the stay's stage visits. Bound to the captured case's value, it would match no open
#: visit of another case, and the reference would skip closing them (less work than the
#: operation does)
FROM_LOCKED_ROW = re.compile(r"^entered_\d+$")
LOCKED_COLUMN = "stage_entered_at"
#: the same for a batch (arrays): the stays' starts, in the order of the closing cases' ids
FROM_LOCKED_ROWS, LOCKED_ROWS_IDS = "entered", "case_id_x"


def _lock_statement(statements) -> int | None:
    """Index of the row lock that reads ``LOCKED_COLUMN``, when a later statement needs it."""
    for index, statement in enumerate(statements):
        if "FOR UPDATE" in statement.sql and LOCKED_COLUMN in statement.sql:
            later = statements[index + 1 :]
            if any(FROM_LOCKED_ROW.match(name) for s in later for name in s.params):
                return index
            return None
    return None


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_row_id(name: str, value) -> bool:
    """A parameter holding a row id (or, for the array form of a batch, a list of them)."""
    if ID_PARAMETER.match(name) is None:
        return False
    if isinstance(value, list):
        return all(_is_int(v) for v in value)
    return _is_int(value)


@dataclass
class Statement:
    sql: str
    params: dict
    #: for executemany: every parameter set (``params`` is then the first)
    many: list[dict] | None = None
    #: sent outside any transaction (the pool's pre-ping runs in autocommit mode)
    autocommit: bool = False


@dataclass
class Captured:
    """What went to the database during one call, in order."""

    statements: list[Statement] = field(default_factory=list)


def capture(function) -> Captured:
    """Run ``function()`` and return every statement psycopg executed meanwhile.

    Recorded at the driver (``psycopg.Cursor.execute``/``executemany``), so statements sent
    through SQLAlchemy, straight through the session's cursor, and the pool's pre-ping are all
    seen, as the server receives them. psycopg opens each transaction with ``BEGIN`` and the
    caller's commit ends it; neither goes through a cursor.
    """
    captured = Captured()
    execute, executemany = psycopg.Cursor.execute, psycopg.Cursor.executemany

    def recording_execute(cursor, query, params=None, **kwargs):
        text = query if isinstance(query, str) else query.as_string(cursor)
        autocommit = cursor.connection.autocommit
        captured.statements.append(Statement(text, dict(params or {}), autocommit=autocommit))
        return execute(cursor, query, params, **kwargs)

    def recording_executemany(cursor, query, params_seq, **kwargs):
        sets = [dict(p) for p in params_seq]
        text = query if isinstance(query, str) else query.as_string(cursor)
        captured.statements.append(Statement(text, sets[0] if sets else {}, sets))
        return executemany(cursor, query, sets, **kwargs)

    psycopg.Cursor.execute = recording_execute
    psycopg.Cursor.executemany = recording_executemany
    try:
        function()
    finally:
        psycopg.Cursor.execute, psycopg.Cursor.executemany = execute, executemany
    return captured


def as_text(value) -> str | None:
    """A parameter as the text pgbench binds (None stays NULL)."""
    if value is None:
        return None
    if isinstance(value, Json | Jsonb):
        return json.dumps(value.obj)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    return str(value)


@dataclass
class PgbenchScript:
    """A pgbench script of one captured transaction and the variables it needs."""

    text: str
    variables: dict[str, str]

    @classmethod
    def from_capture(
        cls,
        captured: Captured,
        case_id: int,
        returned_ids: dict[int, tuple[str, str]] | None = None,
    ) -> PgbenchScript:
        """Build the script; ``returned_ids`` maps an id value the transaction read back
        (say a visit id) to (text the returning statement starts with, column)."""
        lines = ["\\set i :i + 1", "\\set id :b0 + permute(:i, :n)"]
        began = False
        variables: dict[str, str] = {}
        sources: dict[int, str] = {}  # value -> pgbench variable that holds it
        gsets: dict[int, str] = {}  # statement index -> gset prefix
        for value, (starts_with, column) in (returned_ids or {}).items():
            index = next(
                (i for i, s in enumerate(captured.statements) if s.sql.startswith(starts_with)),
                None,
            )
            if index is None:
                raise ValueError(f"no captured statement starts with {starts_with!r}")
            gsets[index] = f"r{index}_"
            sources[value] = f":r{index}_{column}"
        lock_index = _lock_statement(captured.statements)
        if lock_index is not None:
            gsets.setdefault(lock_index, f"r{lock_index}_")
        for index, statement in enumerate(captured.statements):
            if statement.sql.startswith("SELECT calendar_exceptions"):
                continue  # the calendar is cached for a minute: not part of a transition

            def bind(match, index=index, statement=statement):
                name = match.group(1)
                value = statement.params[name]
                if lock_index is not None and index > lock_index and FROM_LOCKED_ROW.match(name):
                    return f":{gsets[lock_index]}{LOCKED_COLUMN}"
                if isinstance(value, list):
                    raise ValueError(f"{name}: a pgbench script binds no arrays of rows")
                if is_row_id(name, value):
                    if value == case_id:
                        return ":id"
                    if value in sources:
                        return sources[value]
                    raise ValueError(f"row id {name}={value} comes from nowhere in the script")
                text = as_text(value)
                if text is None:
                    return "NULL"
                variable = f"s{index}_{name}"
                variables[variable] = text
                return f":{variable}"

            if not statement.autocommit and not began:
                lines.append("BEGIN;")  # psycopg opens the transaction before its first query
                began = True
            sql = " ".join(PLACEHOLDER.sub(bind, statement.sql).split()).rstrip(";")
            ending = f" \\gset {gsets[index]}" if index in gsets else ";"
            lines.append(sql + ending)
        lines.append("COMMIT;")
        return cls("\n".join(lines) + "\n", variables)


def libpq_arguments(database_uri: str) -> tuple[list[str], dict[str, str]]:
    """pgbench/psql connection arguments (and environment) for a SQLAlchemy URI."""
    url = make_url(database_uri)
    arguments = ["-h", url.host or "127.0.0.1", "-p", str(url.port or 5432)]
    if url.username:
        arguments += ["-U", url.username]
    environment = {"PGPASSWORD": url.password} if url.password else {}
    return arguments, environment


@dataclass
class PgbenchResult:
    tps: float
    transactions: int
    failed: int
    output: str
    #: pgbench's own CPU time (user + system), seconds
    cpu_seconds: float = 0.0


def run_pgbench(
    database_uri: str,
    script_path: str,
    *,
    transactions: int,
    clients: int = 1,
    variables: dict[str, str],
) -> PgbenchResult:
    """Run pgbench (prepared statements) for ``transactions`` per client; parse its report."""
    arguments, environment = libpq_arguments(database_uri)
    command = ["pgbench", *arguments, "-n", "-M", "prepared", "-c", str(clients)]
    command += ["-j", str(clients), "-t", str(transactions), "-f", script_path]
    for name, value in variables.items():
        command += ["-D", f"{name}={value}"]
    command.append(make_url(database_uri).database)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    completed = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env={**os.environ, **environment},
        check=False,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    output = completed.stdout + completed.stderr
    if completed.returncode != 0:
        raise RuntimeError(f"pgbench failed ({completed.returncode}):\n{output}")
    tps = float(re.search(r"tps = ([\d.]+) \(without initial connection time\)", output)[1])
    done = int(re.search(r"number of transactions actually processed: (\d+)", output)[1])
    failed_match = re.search(r"number of failed transactions: (\d+)", output)
    failed = int(failed_match[1]) if failed_match else 0
    return PgbenchResult(tps, done, failed, output, cpu)


def replay(connection: psycopg.Connection, captured: Captured, mapping: dict[int, int]) -> float:
    """Run the captured statements again in one transaction, row ids mapped; return seconds.

    Row-id parameters (see ``is_row_id``) found in ``mapping`` are replaced; any other row id
    is an error, so the replay never silently acts on the captured run's rows.
    """
    started = time.perf_counter()
    cursor = connection.cursor()
    lock_index = _lock_statement(captured.statements)
    locked = None  # the locked row (column -> value) of a one-case transaction
    stays: dict[int, object] = {}  # case id -> its stay's start, from every row lock
    for index, statement in enumerate(captured.statements):
        if statement.sql.startswith("SELECT calendar_exceptions"):
            continue
        sets = []
        for params in statement.many if statement.many is not None else [statement.params]:
            mapped = {}
            for name, value in params.items():
                if is_row_id(name, value):
                    olds = value if isinstance(value, list) else [value]
                    unknown = [v for v in olds if v not in mapping]
                    if unknown:
                        raise ValueError(f"no new row for {name}={unknown[:3]}")
                    news = [mapping[v] for v in olds]
                    value = news if isinstance(value, list) else news[0]
                elif locked is not None and FROM_LOCKED_ROW.match(name):
                    value = locked[LOCKED_COLUMN]
                mapped[name] = value
            if isinstance(mapped.get(FROM_LOCKED_ROWS), list):
                # a batch closes each case's stay by its own start, read under the lock
                mapped[FROM_LOCKED_ROWS] = [stays[i] for i in mapped[LOCKED_ROWS_IDS]]
            sets.append(mapped)
        if statement.many is not None:
            cursor.executemany(statement.sql, sets)
            continue
        if statement.autocommit:  # the pool's pre-ping, outside the transaction
            connection.autocommit = True
            cursor.execute(statement.sql, sets[0])
            connection.autocommit = False
            continue
        cursor.execute(statement.sql, sets[0])
        if cursor.description is not None:
            rows = cursor.fetchall()
            names = [c.name for c in cursor.description]
            if "FOR UPDATE" in statement.sql and {"id", LOCKED_COLUMN} <= set(names):
                at, start = names.index("id"), names.index(LOCKED_COLUMN)
                stays.update((row[at], row[start]) for row in rows)
            if index == lock_index and len(rows) == 1:
                locked = dict(zip(names, rows[0], strict=True))
    connection.commit()
    return time.perf_counter() - started
