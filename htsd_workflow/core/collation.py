"""Vietnamese alphabetical order, the same in Python and in SQL on both databases.

Names sort by the Unicode Collation Algorithm with CLDR's Vietnamese tailoring (ICU), never by
code points or hand-written rules: "Đắk Hà" comes after "Dương" and before "Ea Súp", not after
"Vinh Quang"; "Ăn" after "Anh"; the tones order unmarked, grave, hook, tilde, acute, dot below.

* In Python: ``sorted(rows, key=lambda r: sort_key(r.name))`` (``sort_key`` is ICU's own sort
  key for the Vietnamese collator).
* In SQL: ``.order_by(collated(Unit.name))`` — on PostgreSQL the ICU collation ``"vi-x-icu"``
  (present wherever the server was built with ICU, as Debian's and the official images are); on
  SQLite a collation named ``vi`` that every connection registers (``register_sqlite_collation``)
  and that compares the same ICU sort keys.
"""

from __future__ import annotations

import threading
import unicodedata

import icu
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal

#: the PostgreSQL ICU collation and the name of the one SQLite connections register
POSTGRESQL_COLLATION = "vi-x-icu"
SQLITE_COLLATION = "vi"

# an ICU collator is not safe to share between threads: one per thread (gunicorn's threads)
_local = threading.local()


def _collator() -> icu.Collator:
    collator = getattr(_local, "collator", None)
    if collator is None:
        collator = _local.collator = icu.Collator.createInstance(icu.Locale("vi_VN"))
    return collator


def sort_key(text: str | None) -> bytes:
    """The Vietnamese collation key of ``text`` (None and "" sort first)."""
    if not text:
        return b""
    return _collator().getSortKey(unicodedata.normalize("NFC", str(text)))


def _compare(left: str | None, right: str | None) -> int:
    a, b = sort_key(left), sort_key(right)
    return (a > b) - (a < b)


def register_sqlite_collation(engine: Engine) -> None:
    """Give every SQLite connection of ``engine`` the ``vi`` collation (no-op elsewhere)."""
    if engine.dialect.name != "sqlite":
        return
    if not event.contains(engine, "connect", _on_connect):
        event.listen(engine, "connect", _on_connect)


def _on_connect(dbapi_connection, _record) -> None:
    dbapi_connection.create_collation(SQLITE_COLLATION, _compare)


class collated(ColumnElement):  # noqa: N801  (used like a SQL function: collated(Unit.name))
    """``expression`` in Vietnamese order, for ORDER BY (and comparisons)."""

    inherit_cache = True
    _traverse_internals = [("clause", InternalTraversal.dp_clauseelement)]

    def __init__(self, expression):
        self.clause = expression
        self.type = expression.type


@compiles(collated)
def _collated_default(element, compiler, **kw):
    return compiler.process(element.clause, **kw)


@compiles(collated, "postgresql")
def _collated_postgresql(element, compiler, **kw):
    return f'{compiler.process(element.clause, **kw)} COLLATE "{POSTGRESQL_COLLATION}"'


@compiles(collated, "sqlite")
def _collated_sqlite(element, compiler, **kw):
    return f"{compiler.process(element.clause, **kw)} COLLATE {SQLITE_COLLATION}"
