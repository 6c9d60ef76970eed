"""The bench's data generator closes stage visits by the rule the writers apply
(``cases.rules.close_values``), evaluated in Python (``to_python``), not a copy of it."""

from __future__ import annotations

import ast
from datetime import datetime
from pathlib import Path

import pytest

from bench.data import simulate
from htsd_workflow.cases.rules import CLOSE_BY_PARAMS, to_python

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("due_at", "closed_at", "late"),
    [
        (datetime(2026, 3, 2, 17), datetime(2026, 3, 2, 16), False),
        (datetime(2026, 3, 2, 17), datetime(2026, 3, 2, 17), False),
        (datetime(2026, 3, 2, 17), datetime(2026, 3, 3, 9), True),
        (None, datetime(2026, 3, 3, 9), False),  # no deadline: never late (coalesce)
        (100, 101, True),  # the generator's minutes
    ],
)
def test_a_closed_visit_is_late_by_the_writers_rule(due_at, closed_at, late):
    is_late = to_python(CLOSE_BY_PARAMS["is_late"])
    assert is_late({"due_at": due_at}, {"now": closed_at}) is late
    assert bool(simulate._CLOSED_LATE({"due_at": due_at}, {"now": closed_at})) is late


def test_the_generator_compares_no_deadline_by_hand():
    """``_close`` takes lateness from the rule: no ``moment > due`` of its own."""
    tree = ast.parse((ROOT / "bench/data/simulate.py").read_text(encoding="utf-8"))
    close = next(
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef) and node.name == "_close"
    )
    assert not any(isinstance(node, ast.Compare) for node in ast.walk(close))
