"""The /api/v1 endpoints, one module per resource; importing this module registers them all,
in this order: ``tokens`` (/auth/token, /users/<id>/tokens, /me), ``units``, ``subjects``,
``cases``, ``workflows`` (and criteria sets), ``notifications``, ``reports``, ``decisions``
(and /verify). How the API shows a case is ``serialize``. Every endpoint goes through the same
operations and scope as the pages.
"""

from __future__ import annotations

# isort: off
# the order the endpoints are registered in, which is the OpenAPI document's order
from htsd_workflow.api import tokens  # noqa: F401
from htsd_workflow.api import units  # noqa: F401
from htsd_workflow.api import subjects  # noqa: F401
from htsd_workflow.api import cases  # noqa: F401
from htsd_workflow.api import workflows  # noqa: F401
from htsd_workflow.api import notifications  # noqa: F401
from htsd_workflow.api import reports  # noqa: F401
from htsd_workflow.api import decisions  # noqa: F401

# isort: on
from htsd_workflow.api.serialize import case_detail, case_summary

__all__ = ["case_detail", "case_summary"]
