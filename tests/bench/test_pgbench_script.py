"""The reference script replays exactly the captured statements, with the case's ids swapped."""

from __future__ import annotations

from datetime import datetime

import pytest
from psycopg.types.json import Json

from bench.capture import Captured, PgbenchScript, Statement, is_row_id


def captured_transition() -> Captured:
    return Captured(
        [
            Statement(";", {}, autocommit=True),
            Statement(
                "SELECT id, state FROM cases WHERE id IN (%(id_0)s) FOR UPDATE", {"id_0": 41}
            ),
            Statement(
                "SELECT id, case_id FROM stage_visits WHERE case_id IN (%(case_id_0)s)",
                {"case_id_0": 41},
            ),
            Statement(
                "UPDATE stage_visits SET left_at = %(now)s, outcome = %(outcome_0)s "
                "WHERE id = %(visit_id_0)s AND comment IS %(comment_0)s",
                {
                    "now": datetime(2026, 11, 27, 3, 0),
                    "outcome_0": "approve",
                    "visit_id_0": 907,
                    "comment_0": None,
                },
            ),
            Statement(
                "INSERT INTO outbox (case_id, payload, attempts) "
                "VALUES (%(case_id)s, %(payload)s::json, %(attempts)s)",
                {"case_id": 41, "payload": Json({"to": "x"}), "attempts": 0},
            ),
        ]
    )


def test_the_script_swaps_ids_binds_values_and_keeps_the_order():
    script = PgbenchScript.from_capture(
        captured_transition(), 41, {907: ("SELECT id, case_id FROM stage_visits", "id")}
    )
    lines = script.text.splitlines()
    assert lines[:4] == ["\\set i :i + 1", "\\set id :b0 + permute(:i, :n)", ";", "BEGIN;"]
    assert lines[4] == "SELECT id, state FROM cases WHERE id IN (:id) FOR UPDATE;"
    assert lines[5].endswith("WHERE case_id IN (:id) \\gset r2_")
    assert lines[6] == (
        "UPDATE stage_visits SET left_at = :s3_now, outcome = :s3_outcome_0 "
        "WHERE id = :r2_id AND comment IS NULL;"
    )
    assert lines[7] == (
        "INSERT INTO outbox (case_id, payload, attempts) "
        "VALUES (:id, :s4_payload::json, :s4_attempts);"
    )
    assert lines[-1] == "COMMIT;"
    assert script.variables == {
        "s3_now": "2026-11-27 03:00:00",
        "s3_outcome_0": "approve",
        "s4_payload": '{"to": "x"}',
        "s4_attempts": "0",
    }


def test_a_row_id_from_nowhere_is_refused_rather_than_replayed_as_a_constant():
    with pytest.raises(ValueError, match="visit_id_0=907"):
        PgbenchScript.from_capture(captured_transition(), 41)


def test_row_ids_are_told_from_other_numbers():
    assert is_row_id("id_0", 5) and is_row_id("case_id_x", [1, 2]) and is_row_id("pk_1", 3)
    assert not is_row_id("actor_id", 5)
    assert not is_row_id("days_0", 5)
    assert not is_row_id("id_0", True)


def test_the_stay_closed_is_the_locked_cases_own():
    """The moment the stay began comes from the case's locked row (``\\gset``), not from the
    captured case: bound as a constant it would match no open visit of another case, and the
    reference would skip closing it."""
    captured = Captured(
        [
            Statement(
                "SELECT id, stage_entered_at FROM cases WHERE id IN (%(id_0)s) FOR UPDATE",
                {"id_0": 41},
            ),
            Statement(
                "WITH e AS (SELECT * FROM (VALUES (%(case_id_x0)s::integer, "
                "%(entered_0)s::timestamp)) AS e(case_id, entered_at)) "
                "UPDATE stage_visits SET left_at = %(now)s FROM e "
                "WHERE stage_visits.case_id = e.case_id AND stage_visits.entered_at = e.entered_at",
                {
                    "case_id_x0": 41,
                    "entered_0": datetime(2026, 11, 27, 2, 56),
                    "now": datetime(2026, 11, 27, 3, 0),
                },
            ),
        ]
    )
    lines = PgbenchScript.from_capture(captured, 41).text.splitlines()
    assert lines[3] == (
        "SELECT id, stage_entered_at FROM cases WHERE id IN (:id) FOR UPDATE \\gset r0_"
    )
    assert "(:id::integer, :r0_stage_entered_at::timestamp)" in lines[4]
