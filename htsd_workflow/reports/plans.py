"""Plans as data (workflows/plans/*.yaml): target percentages per title, with ĐBKK variants."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from htsd_workflow.core.errors import ConfigurationError

TITLES = ("family", "clan", "community", "unit")
_KEYS = {"id", "label", "province", "period", "kind", "targets", "dbkk", "districts"}


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

    def target(self, title: str, is_dbkk: bool) -> float | None:
        if is_dbkk and title in self.dbkk:
            return self.dbkk[title]
        return self.targets.get(title)


def _numbers(where, data, name) -> dict[str, float]:
    values = data.get(name) or {}
    if not isinstance(values, dict):
        raise ConfigurationError(f"{where}: {name} must map titles to numbers")
    out = {}
    for title, value in values.items():
        if title not in TITLES:
            raise ConfigurationError(f"{where}: {name} has unknown title {title!r}")
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ConfigurationError(f"{where}: {name}.{title} must be a number ≥ 0")
        out[title] = float(value)
    return out


def load_plans(directory: str | Path) -> dict[str, Plan]:
    plans = {}
    for path in sorted(Path(directory).glob("*.yaml")):
        where = str(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ConfigurationError(f"{where}: not valid YAML: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigurationError(f"{where}: the file must hold a mapping")
        unknown = set(data) - _KEYS
        if unknown:
            raise ConfigurationError(f"{where}: unknown setting(s) {sorted(unknown)}")
        period = data.get("period") or {}
        if not isinstance(period, dict) or not isinstance(period.get("from"), int):
            raise ConfigurationError(f"{where}: period needs a 'from' year")
        kind = data.get("kind", "percent")
        if kind not in ("percent", "count"):
            raise ConfigurationError(f"{where}: kind must be percent or count")
        targets = _numbers(where, data, "targets")
        if kind == "percent" and any(v > 100 for v in targets.values()):
            raise ConfigurationError(f"{where}: a percentage target above 100")
        plan = Plan(
            id=str(data.get("id") or path.stem),
            label=str(data.get("label") or path.stem),
            province=str(data.get("province") or "national"),
            period_from=period["from"],
            period_to=period.get("to"),
            kind=kind,
            targets=targets,
            dbkk=_numbers(where, data, "dbkk"),
            districts=tuple(str(d) for d in data.get("districts") or ()),
        )
        if plan.id in plans:
            raise ConfigurationError(f"{where}: a second plan with id {plan.id!r}")
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
