"""Role groups are declared once, in ``htsd_workflow/auth``.

Who reads reports, who edits denominators, who supervises, who is staff: each group is a name
in ``auth/roles.py`` that views, queues, reports, the API and the menu import. This scan fails
when a literal collection naming two or more roles appears anywhere else in the package.
"""

from __future__ import annotations

import ast
from pathlib import Path

from htsd_workflow.auth.roles import ROLES

PACKAGE = Path(__file__).resolve().parents[2] / "htsd_workflow"
#: (file, top-level name) that may name several roles, and why they are not role groups
ALLOWED = {
    ("core/labels.py", "ROLE_LABELS"): "one translated name per role, every role",
    ("core/labels.py", "ROLE_LEVEL_LABELS"): "one translated level per role, every role",
    ("cases/definitions.py", "NOTIFY_TARGETS"): "the words a workflow file may use for whom "
    "to notify; three of them are named after roles",
    ("demo/seed.py", "_reviewers"): "the demo account that works each reviewing role's stage",
    ("demo/seed.py", "_run_today_case"): "the demo accounts that work today's two-tier case",
}


def _top_level_name(statement: ast.stmt) -> str:
    if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return statement.name
    if isinstance(statement, ast.Assign | ast.AnnAssign):
        targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
        return ",".join(ast.unparse(t) for t in targets)
    return ""


def role_lists(source: str) -> list[tuple[str, int, list[str]]]:
    """(top-level name, line, roles) of each literal tuple, list, set, dict or call's
    arguments in ``source`` that names two or more different roles."""
    found = []
    for statement in ast.parse(source).body:
        name = _top_level_name(statement)
        for node in ast.walk(statement):
            if isinstance(node, ast.Tuple | ast.List | ast.Set):
                items = node.elts
            elif isinstance(node, ast.Dict):
                items = [key for key in node.keys if key is not None]
            elif isinstance(node, ast.Call):
                items = node.args
            else:
                continue
            roles = {i.value for i in items if isinstance(i, ast.Constant) and i.value in ROLES}
            if len(roles) >= 2:
                found.append((name, node.lineno, sorted(roles)))
    return found


def test_no_role_group_is_declared_outside_auth():
    stray = []
    allowed_seen = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative.startswith("auth/"):
            continue
        for name, line, roles in role_lists(path.read_text(encoding="utf-8")):
            if (relative, name) in ALLOWED:
                allowed_seen.add((relative, name))
            else:
                stray.append(f"htsd_workflow/{relative}:{line} {roles}")
    assert not stray, "role lists outside htsd_workflow/auth (name a group in auth/roles.py):\n" + (
        "\n".join(stray)
    )
    assert allowed_seen == set(ALLOWED), f"allowed but gone: {set(ALLOWED) - allowed_seen}"


def test_the_scan_finds_the_ways_a_role_list_is_written():
    source = """
READERS = ("manager", "admin")
def view():
    if user.role in {"commune_reviewer", "district_reviewer"}:
        pass
@access("applicant", "commune_reviewer")
def page():
    pass
LEVEL = {"commune_reviewer": "commune", "district_reviewer": "district"}
ONE = ("manager", "manager", "not a role")
"""
    assert [(name, roles) for name, _line, roles in role_lists(source)] == [
        ("READERS", ["admin", "manager"]),
        ("view", ["commune_reviewer", "district_reviewer"]),
        ("page", ["applicant", "commune_reviewer"]),
        ("LEVEL", ["commune_reviewer", "district_reviewer"]),
    ]
