"""The write statement's parameters: rows bound from ``Writes`` dicts are the parameters the
tuple form gives (same names, same values), for one case and for a batch (arrays)."""

from __future__ import annotations

import pytest

from htsd_workflow.cases import pgpath


@pytest.mark.parametrize("arrays", [False, True])
@pytest.mark.parametrize("columns", list(pgpath._KEYS), ids=lambda c: c[0][0])
def test_dict_rows_bind_as_the_tuple_rows(columns, arrays):
    keys = pgpath._KEYS[columns]
    rows = [{key: f"{key}-{i}" for key in keys} for i in range(3)]
    from_tuples, from_dicts = {}, {}
    pgpath._bind(from_tuples, columns, [tuple(row[k] for k in keys) for row in rows], arrays)
    pgpath._bind_dicts(from_dicts, columns, rows, arrays)
    assert from_dicts == from_tuples
    assert len(from_dicts) == (len(columns) if arrays else 3 * len(columns))
