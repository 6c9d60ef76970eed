"""Plans as data (workflows/plans/*.yaml): target percentages per title, with ĐBKK variants.

A plan's targets are **end-of-period** figures ("đến năm 2025"): a mid-period year is judged
against the plan's path from its baseline (the share recognised when the period starts) to the
target, linear unless the plan says otherwise (``Plan.path_value``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from htsd_workflow.core.datafiles import Place, is_number, read_settings, yaml_files
from htsd_workflow.core.titles import TITLES

_KEYS = {
    "id",
    "label",
    "label_en",
    "province",
    "period",
    "kind",
    "targets",
    "dbkk",
    "districts",
    "baseline",
    "path",
    "other",
}
#: how a plan goes from its baseline to its end target; only a straight line so far
PATHS = ("linear",)


@dataclass(frozen=True)
class Plan:
    id: str
    label: str
    #: a GSO province code, or "national"
    province: str
    period_from: int
    period_to: int | None
    #: percent, or count (the 2015 pilot)
    kind: str
    targets: dict[str, float]
    dbkk: dict[str, float] = field(default_factory=dict)
    districts: tuple[str, ...] = ()
    #: the recognised share (%) per title when the period starts, where the plan states it
    baseline: dict[str, float] = field(default_factory=dict)
    path: str = "linear"
    #: figures the plan sets beyond the four titles (e.g. "Công dân học tập"), kept as written
    other: dict = field(default_factory=dict)
    #: the plan's name in English (the Vietnamese one shows where it is missing)
    label_en: str = ""

    def target(self, title: str, is_dbkk: bool) -> float | None:
        if is_dbkk and title in self.dbkk:
            return self.dbkk[title]
        return self.targets.get(title)

    def path_value(self, target: float | None, baseline: float | None, year: int):
        """Where the path to ``target`` stands at the end of ``year``: the target itself in
        the period's last year and after (a plan carried past its end); between, the straight
        line from ``baseline`` (the share when the period starts); ``None`` without one."""
        if target is None or self.kind != "percent":
            return None
        if self.period_to is None or year >= self.period_to:
            return target
        if baseline is None:
            return None
        done = max(year - self.period_from + 1, 0)
        return round(
            baseline + (target - baseline) * done / (self.period_to - self.period_from + 1), 2
        )

    def carried_past_end(self, year: int) -> bool:
        """Whether ``year`` is after the plan's period (the latest plan is carried forward)."""
        return self.period_to is not None and year > self.period_to


def _numbers(top: Place, data: dict, name: str) -> dict[str, float]:
    at = top / name
    values = at.mapping(data.get(name), TITLES, what="titles to numbers")
    out = {}
    for title, value in values.items():
        if not is_number(value) or value < 0:
            (at / title).fail(f"must be a number ≥ 0, got {value!r}")
        out[title] = float(value)
    return out


def load_plans(directory: str | Path) -> dict[str, Plan]:
    """Load and validate every ``*.yaml`` plan in ``directory`` (none without the folder),
    keyed by id."""
    plans = {}
    for path in yaml_files(directory, "plan", required=False):
        top = Place(path)
        data = read_settings(path, _KEYS)
        period_from, period_to = (top / "period").period(data.get("period"))
        kind = data.get("kind", "percent")
        if kind not in ("percent", "count"):
            (top / "kind").fail(f"must be percent or count, got {kind!r}")
        targets = _numbers(top, data, "targets")
        if kind == "percent":
            for title, value in targets.items():
                if value > 100:
                    (top / "targets" / title).fail(f"a percentage above 100: {value:g}")
        districts = (top / "districts").names(data.get("districts"))
        baseline = _numbers(top, data, "baseline")
        for title, value in baseline.items():
            if value > 100:
                (top / "baseline" / title).fail(f"a percentage above 100: {value:g}")
        path_kind = data.get("path", "linear")
        if path_kind not in PATHS:
            (top / "path").fail(f"must be one of {list(PATHS)}, got {path_kind!r}")
        other = data.get("other") or {}
        if not isinstance(other, dict):
            (top / "other").fail("must be a mapping of names to figures")
        for name, value in other.items():
            if not isinstance(name, str) or not (is_number(value) or isinstance(value, str)):
                (top / "other" / str(name)).fail(f"must be a number or a text, got {value!r}")
        plan = Plan(
            id=str(data.get("id") or path.stem),
            label=str(data.get("label") or path.stem),
            label_en=str(data.get("label_en") or ""),
            province=str(data.get("province") or "national"),
            period_from=period_from,
            period_to=period_to,
            kind=kind,
            targets=targets,
            dbkk=_numbers(top, data, "dbkk"),
            districts=tuple(str(d) for d in districts),
            baseline=baseline,
            path=path_kind,
            other=dict(other),
        )
        if plan.id in plans:
            (top / "id").fail(f"a second plan with id {plan.id!r}")
        plans[plan.id] = plan
    return plans


def plan_for(plans: dict[str, Plan], province: str, year: int) -> Plan | None:
    """The plan in force: the province's own whose period holds the year, else a national one;
    after the last period, the latest percentage plan stays in force. A count plan (the 2015
    pilot) is in force only in its own period."""
    usable = [p for p in plans.values() if p.province in (province, "national")]
    holding = [
        p for p in usable if p.period_from <= year and (p.period_to is None or year <= p.period_to)
    ]
    if holding:
        return sorted(holding, key=lambda p: (p.province != province, -p.period_from))[0]
    past = [p for p in usable if p.kind == "percent" and p.period_from <= year]
    if not past:
        return None
    return max(past, key=lambda p: (p.period_to or 9999, p.province == province))
