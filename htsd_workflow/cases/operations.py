"""The case operations, by their old address: every name other packages import from here.

The code lives in modules of one idea each (issue 20): ``permissions`` (who may act),
``planning`` (checking a transition), ``writing`` (the rows it writes; ``pg_writer`` on
PostgreSQL), ``transition`` (``fire_trigger``, ``fire_bulk``, ``allowed_triggers``),
``round_dates`` (a round's dates), ``starting`` (a new case), ``assessment`` (scores),
``claims``, ``decisions``
(what issuing a decision writes on its cases) and ``carrying`` (to another definition). New code may
import from those modules directly.
"""

from __future__ import annotations

from htsd_workflow.auth.roles import SUPERVISOR_ROLES
from htsd_workflow.cases.assessment import (
    assessment_result,
    save_assessment,
    save_assessment_batch,
)
from htsd_workflow.cases.carrying import CARRY_TRIGGER, CarryPlan, carry_cases, carry_state_map
from htsd_workflow.cases.claims import claim_case, release_case, release_claims_of
from htsd_workflow.cases.decisions import record_decision_issued
from htsd_workflow.cases.permissions import (
    actor_department,
    claim_holder,
    claim_part,
    part_claims_of,
)
from htsd_workflow.cases.planning import (
    PASS_MARK_TRIGGERS,
    PlannedChange,
    _signed_departments,
    clean_comment,
    score_results,
)
from htsd_workflow.cases.round_dates import ensure_round, set_round
from htsd_workflow.cases.starting import definition_for, start_case, workflow_set_of
from htsd_workflow.cases.transition import (
    BULK_BATCH,
    BulkResult,
    allowed_triggers,
    fire_bulk,
    fire_trigger,
)
from htsd_workflow.cases.writing import _apply, _lock, _record_event

__all__ = [
    "BULK_BATCH",
    "CARRY_TRIGGER",
    "PASS_MARK_TRIGGERS",
    "SUPERVISOR_ROLES",
    "BulkResult",
    "CarryPlan",
    "PlannedChange",
    "_apply",
    "_lock",
    "_record_event",
    "_signed_departments",
    "actor_department",
    "allowed_triggers",
    "assessment_result",
    "carry_cases",
    "carry_state_map",
    "claim_case",
    "claim_holder",
    "claim_part",
    "clean_comment",
    "definition_for",
    "ensure_round",
    "fire_bulk",
    "fire_trigger",
    "part_claims_of",
    "record_decision_issued",
    "release_case",
    "release_claims_of",
    "save_assessment",
    "save_assessment_batch",
    "score_results",
    "set_round",
    "start_case",
    "workflow_set_of",
]
