"""The managers' figures, by their old address: every name other modules import from here.

The code lives in modules of one idea each (issue 20): ``filters`` (a report's filters and the
scoping helpers), ``definitions`` (the titles and the definitions shown beside the figures),
``bottlenecks``, ``trend`` (weekly) and ``targets``. New code may import from those directly.
"""

from __future__ import annotations

from htsd_workflow.geography.queries import dbkk_communes
from htsd_workflow.reports.bottlenecks import (
    _settings_for_aggregates,
    bottleneck_visits,
    bottlenecks,
    longest_waiting,
    percentile,
    percentile_of_counts,
)
from htsd_workflow.reports.definitions import (
    BOTTLENECK_DEFINITIONS,
    COUNT_TARGET_DEFINITIONS,
    TARGET_DEFINITIONS,
    TITLES,
)
from htsd_workflow.reports.filters import (
    REPORT_DAYS,
    Filters,
    _group_level,
    _scope_across_reform,
    _start,
    _unit_filter,
    known_unit,
    parse_filters,
    units_of_period,
)
from htsd_workflow.reports.targets import plans, targets
from htsd_workflow.reports.trend import weekly_trend

__all__ = [
    "BOTTLENECK_DEFINITIONS",
    "COUNT_TARGET_DEFINITIONS",
    "REPORT_DAYS",
    "TARGET_DEFINITIONS",
    "TITLES",
    "Filters",
    "_group_level",
    "_scope_across_reform",
    "_settings_for_aggregates",
    "_start",
    "_unit_filter",
    "bottleneck_visits",
    "bottlenecks",
    "dbkk_communes",
    "known_unit",
    "longest_waiting",
    "parse_filters",
    "percentile",
    "percentile_of_counts",
    "plans",
    "targets",
    "units_of_period",
    "weekly_trend",
]
