"""The API's /workflows and /criteria-sets endpoints: the definitions, as data."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from htsd_workflow.api.framework import (
    endpoint,
)
from htsd_workflow.api.schemas import (
    CriteriaSetSchema,
    WorkflowList,
)
from htsd_workflow.cases.engine import get_registry
from htsd_workflow.core.errors import NotFound


@endpoint(
    "/workflows",
    "GET",
    summary="The workflow definitions in force, of every set (a case names its own: workflow)",
    response=WorkflowList,
    tags=("definitions",),
)
def list_workflows(user):
    return {"items": [d.to_dict() for d in get_registry().every_definition()]}


@endpoint(
    "/criteria-sets/<set_id>",
    "GET",
    summary="A criteria set with its items",
    response=CriteriaSetSchema,
    tags=("definitions",),
)
def get_criteria_set(user, set_id):
    sets = get_registry().criteria_sets
    if set_id not in sets:
        raise NotFound(_l("Không có bộ tiêu chí “%(set)s”.", set=set_id))
    document = sets[set_id].to_dict()
    if user.role == "applicant":
        # which figures are still unverified is for staff, who can check and correct them
        del document["notes"]
        for item in document["items"]:
            del item["verified"]
    return document
