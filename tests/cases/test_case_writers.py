"""Only ``htsd_workflow/cases/`` writes the case tables (docs/architecture.md, "Where a case
changes"): no other module inserts, updates or deletes a case, its history, stage visits,
sign-offs, claims, assessment items or outbox rows, nor makes one, nor sets a case's columns,
nor writes such a table in SQL text. They ask ``cases/``."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "htsd_workflow"
OWNER = PACKAGE / "cases"
#: the case tables' models
MODELS = {
    "Case",
    "CaseEvent",
    "StageVisit",
    "SignOff",
    "PartClaim",
    "AssessmentItem",
    "OutboxMessage",
}
TABLES = "cases|case_events|stage_visits|sign_offs|part_claims|assessment_items|outbox"
SQL_WRITE = re.compile(rf"\b(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+({TABLES})\b", re.I)
#: a case's columns that only its operations set
CASE_COLUMNS = {
    "state",
    "is_open",
    "version",
    "due_at",
    "is_extended",
    "escalation_rung",
    "is_escalated",
    "claimed_by_id",
    "claimed_at",
    "returned_from",
    "stage_entered_at",
    "submitted_at",
    "decided_at",
    "score",
    "self_score",
}
STATEMENTS = {"insert", "update", "delete", "sqlite_insert", "pg_insert"}


def _name(node) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def writes_to_case_tables(source: str) -> list[tuple[int, str]]:
    """(line, what) of each write to a case table in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            called = _name(node.func)
            if called in STATEMENTS and node.args and _name(node.args[0]) in MODELS:
                found.append((node.lineno, f"{called}({_name(node.args[0])})"))
            elif called in MODELS and isinstance(node.func, ast.Name):
                found.append((node.lineno, f"{called}(...)"))
        elif isinstance(node, ast.Assign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for element in target.elts if isinstance(target, ast.Tuple) else [target]:
                    if (
                        isinstance(element, ast.Attribute)
                        and element.attr in CASE_COLUMNS
                        and "case" in (_name(element.value) or "").lower()
                    ):
                        found.append((node.lineno, f"{_name(element.value)}.{element.attr} ="))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            match = SQL_WRITE.search(node.value)
            if match:
                found.append((node.lineno, match.group(0)))
    return sorted(found)


def test_no_module_outside_cases_writes_the_case_tables():
    offenders = [
        f"{path.relative_to(ROOT)}:{line}: {what}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if OWNER not in path.parents
        for line, what in writes_to_case_tables(path.read_text())
    ]
    assert offenders == []


def test_the_check_sees_each_kind_of_write():
    source = """
db.session.execute(update(Case).where(Case.id == 1).values(due_at=None))
db.session.execute(insert(CaseEvent), rows)
db.session.add(OutboxMessage(case_id=1))
db.session.execute(sqlite_insert(StageVisit).values(rows))
case.is_extended = True
case.claimed_by_id, case.claimed_at = user.id, now
cur.execute("UPDATE stage_visits SET is_escalated = true")
cur.execute("INSERT INTO case_events (case_id) VALUES (1)")
"""
    assert [line for line, _ in writes_to_case_tables(source)] == [2, 3, 4, 5, 6, 7, 7, 8, 9]


def test_reading_the_case_tables_is_not_writing():
    source = """
rows = db.session.execute(select(Case.id).where(Case.state == "draft"))
state = case.state
cur.execute("SELECT id FROM cases WHERE state = %(s)s")
report.due_at = row.due_at
"""
    assert writes_to_case_tables(source) == []
