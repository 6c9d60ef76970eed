"""The processes a benchmark starts (gunicorn, its clients, the scan) run on the tests' clock.

The bench starts them with the parent's environment; without this they would read the real
clock while the tokens and rounds the test made carry the tests' moment (a token issued at
10:30 on the tests' clock has expired for a server reading 23:00 the same day)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.clock import child_env, child_pythonpath

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def children_on_the_tests_clock(monkeypatch):
    for name, value in child_env().items():
        monkeypatch.setenv(name, value)
    path = [child_pythonpath(ROOT), os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in path if p))
