"""The write statement's parameters: rows bound from ``Writes`` dicts are the parameters the
row sources name (one per value ``<prefix><row>``, or one array per column), for one case and
for a batch (arrays)."""

from __future__ import annotations

import pytest

from htsd_workflow.cases import pg_escalation as pgscan
from htsd_workflow.cases import pg_writer
from htsd_workflow.core import pg

SOURCES = (
    pg_writer._MOVE,
    pg_writer._CLOSE,
    pg_writer._VISIT,
    pg_writer._SIGN,
    pg_writer._CLEAR,
    pg_writer._EVENT,
    pgscan._FIRED,
)


def expected(columns, rows, arrays) -> dict:
    """The parameters as the statement text names them, built the plain way."""
    params = {}
    for position, (prefix, _column, _kind, _key) in enumerate(columns):
        values = [tuple(row.values())[position] for row in rows]
        if arrays:
            params[prefix.rstrip("_")] = values
        else:
            for i, value in enumerate(values):
                params[f"{prefix}{i}"] = value
    return params


@pytest.mark.parametrize("arrays", [False, True])
@pytest.mark.parametrize("columns", SOURCES, ids=lambda c: c[0][0])
def test_dict_rows_bind_as_the_tuple_rows(columns, arrays):
    keys = [key for _prefix, _column, _kind, key in columns]
    rows = [{key: f"{key}-{i}" for key in keys} for i in range(3)]
    bound = {}
    pg.bind_rows(bound, columns, rows, arrays)
    assert bound == expected(columns, rows, arrays)
    assert len(bound) == (len(columns) if arrays else 3 * len(columns))
