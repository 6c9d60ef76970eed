"""Operations and views never commit: the request, the command line and the worker do
(issue 20).

A call of ``.commit()`` or ``.rollback()`` may appear only in the named boundaries below; the
page views (which end their transaction through ``core/transaction.py``), any operations
module, the job and scan modules (``imports/jobs.py``, ``queues/``, ``sla/``) and everything
else in the package are checked."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: where a transaction ends, and why there
BOUNDARIES = {
    "htsd_workflow/api/framework.py": "one commit per API request",
    "htsd_workflow/api/tokens.py": "a refused API sign-in is logged before its 401 (was views.py)",
    "htsd_workflow/auth/signin.py": "a sign-in the rate limit refuses is logged before its 429",
    "htsd_workflow/cli.py": "one transaction per command",
    "htsd_workflow/core/transaction.py": "one transaction per page or API request",
    "htsd_workflow/web.py": "the error pages roll back what the failed request wrote",
    "htsd_workflow/deploy.py": "the deployment command",
    "htsd_workflow/jobs/runner.py": "background jobs: a commit after each step, the scan's batches",
    "htsd_workflow/notifications/sending.py": "an e-mail committed before and after its hand-over",
    "worker/tasks.py": "the worker's tasks",
}


def is_boundary(relative: str) -> bool:
    return relative in BOUNDARIES


def commits(path: Path) -> list[int]:
    """The lines of ``path`` that call ``<anything>.commit()`` or ``<anything>.rollback()``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("commit", "rollback")
    ]


def python_files():
    for folder in ("htsd_workflow", "worker"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            yield path.relative_to(ROOT).as_posix(), path


def test_only_the_named_boundaries_commit():
    found = [
        f"{relative}:{line}"
        for relative, path in python_files()
        if not is_boundary(relative)
        for line in commits(path)
    ]
    assert found == []


def test_the_operations_and_job_modules_are_checked():
    checked = {relative for relative, _ in python_files() if not is_boundary(relative)}
    assert {
        "htsd_workflow/cases/operations.py",
        "htsd_workflow/imports/jobs.py",
        "htsd_workflow/imports/operations.py",
        "htsd_workflow/notifications/operations.py",
        "htsd_workflow/queues/operations.py",
        "htsd_workflow/sla/operations.py",
        "htsd_workflow/cases/pg_escalation.py",
        "htsd_workflow/cases/escalation.py",
        "htsd_workflow/cases/views.py",
        "htsd_workflow/admin/views.py",
        "htsd_workflow/rounds/views.py",
    } <= checked
    assert not any(relative.endswith("views.py") for relative in BOUNDARIES)


def test_the_check_finds_a_commit(tmp_path):
    module = tmp_path / "operations.py"
    module.write_text("def f(db):\n    db.session.flush()\n    db.session.commit()\n")
    assert commits(module) == [3]


def test_the_check_finds_a_commit_or_rollback_in_a_view(tmp_path):
    views = tmp_path / "views.py"
    views.write_text(
        "def save():\n    try:\n        op()\n    except E:\n        db.session.rollback()\n"
        "    db.session.commit()\n"
    )
    assert sorted(commits(views)) == [5, 6]


def test_every_boundary_named_exists():
    assert all((ROOT / relative).is_file() for relative in BOUNDARIES)
