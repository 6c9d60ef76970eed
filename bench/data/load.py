"""Bulk loading into PostgreSQL: COPY from a writer thread, indexes and keys rebuilt after.

Loading millions of rows into tables whose indexes and foreign keys are checked row by row is
several times slower than loading bare tables and building each index once with a sort. So
``BulkLoad`` records the definitions of the keys and indexes of the tables it loads (and of the
foreign keys pointing at them), drops them, loads, and recreates them from those definitions —
all inside the caller's transaction, so a failure leaves the schema as it was.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field

import psycopg
from sqlalchemy.engine import make_url

#: how many batches the generator may run ahead of the database
QUEUE_DEPTH = 3


def connect(database_uri: str) -> psycopg.Connection:
    """A psycopg connection (not autocommit) to the SQLAlchemy database URI."""
    url = make_url(database_uri).set(drivername="postgresql")
    return psycopg.connect(url.render_as_string(hide_password=False))


@dataclass
class SavedSchema:
    """Definitions of the keys and indexes dropped for the load."""

    foreign_keys: list[tuple[str, str, str]] = field(default_factory=list)
    unique_keys: list[tuple[str, str, str]] = field(default_factory=list)
    indexes: list[tuple[str, str]] = field(default_factory=list)


def drop_keys_and_indexes(cursor: psycopg.Cursor, tables: list[str]) -> SavedSchema:
    """Drop the keys and indexes of ``tables`` (and foreign keys into them); return them."""
    saved = SavedSchema()
    oids = [cursor.execute("SELECT %s::regclass::oid", (t,)).fetchone()[0] for t in tables]
    saved.foreign_keys = cursor.execute(
        "SELECT conname, conrelid::regclass::text, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE contype = 'f' AND (conrelid = ANY(%s) OR confrelid = ANY(%s)) ORDER BY oid",
        (oids, oids),
    ).fetchall()
    saved.unique_keys = cursor.execute(
        "SELECT conname, conrelid::regclass::text, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE contype IN ('p', 'u') AND conrelid = ANY(%s) ORDER BY oid",
        (oids,),
    ).fetchall()
    saved.indexes = cursor.execute(
        "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index i "
        "WHERE indrelid = ANY(%s) AND NOT EXISTS "
        "(SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid) ORDER BY indexrelid",
        (oids,),
    ).fetchall()
    for name, table, _ in saved.foreign_keys:
        cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for name, _ in saved.indexes:
        cursor.execute(f"DROP INDEX {name}")
    for name, table, _ in saved.unique_keys:
        cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    return saved


def restore_keys_and_indexes(cursor: psycopg.Cursor, saved: SavedSchema) -> dict[str, float]:
    """Recreate what ``drop_keys_and_indexes`` dropped; return seconds spent per kind."""
    spent = {}
    started = time.perf_counter()
    for name, table, definition in saved.unique_keys:
        cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
    for _, definition in saved.indexes:
        cursor.execute(definition)
    spent["indexes"] = time.perf_counter() - started
    started = time.perf_counter()
    for name, table, definition in saved.foreign_keys:
        cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
    spent["foreign_keys"] = time.perf_counter() - started
    return spent


def set_sequences(cursor: psycopg.Cursor, tables: list[str]) -> None:
    """Move each table's id sequence past the highest id (after COPY with explicit ids)."""
    for table in tables:
        sequence = cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", (table,)).fetchone()[0]
        if sequence is None:
            continue
        top = cursor.execute(f"SELECT max(id) FROM {table}").fetchone()[0]
        if top is None:
            cursor.execute("SELECT setval(%s, 1, false)", (sequence,))
        else:
            cursor.execute("SELECT setval(%s, %s)", (sequence, top))


class CopyWriter:
    """COPY batches into tables from a thread, so Python builds the next batch meanwhile.

    ``put(table, columns, text)`` queues one COPY; ``close()`` waits for the queue and raises
    whatever the thread met. ``freeze`` adds COPY's FREEZE option (tables truncated in this
    transaction), so the rows need no later vacuum to be visible to index-only scans.
    """

    def __init__(self, connection: psycopg.Connection, *, freeze: bool = False):
        self.connection = connection
        self.options = " WITH (FREEZE)" if freeze else ""
        self.rows: dict[str, int] = {}
        self.busy_seconds = 0.0
        self._queue: queue.Queue = queue.Queue(maxsize=QUEUE_DEPTH)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="bench-copy", daemon=True)
        self._thread.start()

    def put(self, table: str, columns: tuple[str, ...], lines: list[str]) -> None:
        """Queue COPY text rows (each ending in a newline)."""
        self.put_data(table, columns, "".join(lines), len(lines))

    def put_data(self, table: str, columns: tuple[str, ...], data: str | bytes, rows: int) -> None:
        """Queue ``rows`` rows of COPY text already joined into ``data``."""
        if self._error is not None:
            raise RuntimeError("COPY failed") from self._error
        if rows:
            self.rows[table] = self.rows.get(table, 0) + rows
            self._queue.put((table, columns, data))

    def _run(self) -> None:
        cursor = self.connection.cursor()
        while True:
            item = self._queue.get()
            if item is None:
                return
            if self._error is not None:
                continue  # drain, so that put() never blocks after a failure
            table, columns, text = item
            started = time.perf_counter()
            try:
                statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN{self.options}"
                with cursor.copy(statement) as copy:
                    copy.write(text)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller in close()
                self._error = exc
            self.busy_seconds += time.perf_counter() - started

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error
