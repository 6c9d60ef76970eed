"""The API's /reports endpoints: bottlenecks and targets."""

from __future__ import annotations

from htsd_workflow.api.framework import (
    endpoint,
)
from htsd_workflow.api.schemas import (
    BottleneckQuery,
    BottleneckReport,
    TargetQuery,
    TargetReport,
)
from htsd_workflow.auth.roles import REPORT_READERS
from htsd_workflow.core.time import utcnow
from htsd_workflow.reports.queries import bottlenecks, parse_filters, targets


@endpoint(
    "/reports/bottlenecks",
    "GET",
    summary="Bottlenecks per stage and unit",
    roles=REPORT_READERS,
    query=BottleneckQuery,
    response=BottleneckReport,
    tags=("reports",),
)
def report_bottlenecks(user, query):
    args = {
        key: str(query[name])
        for key, name in (
            ("from", "from_"),
            ("to", "to"),
            ("title", "title"),
            ("unit", "unit"),
            ("stage", "stage"),
        )
        if query.get(name)
    }
    return bottlenecks(user, parse_filters(args))


@endpoint(
    "/reports/targets",
    "GET",
    summary="Progress against the plan's targets",
    roles=REPORT_READERS,
    query=TargetQuery,
    response=TargetReport,
    tags=("reports",),
)
def report_targets(user, query):
    return targets(
        user,
        year=query.get("year") or utcnow().year,
        title=query.get("title"),
        unit=query.get("unit"),
    )
