"""Criteria sets (bộ tiêu chí) as versioned data: loading and validation."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import yaml

from htsd_workflow.core.errors import ConfigurationError

TITLES = ("family", "clan", "community", "unit")
_SET_KEYS = {
    "id",
    "title",
    "period",
    "version",
    "label",
    "source",
    "pass_mark",
    "pass_mark_dbkk",
    "bands",
    "items",
    "notes",
}
_ITEM_KEYS = {"code", "label", "label_en", "max_points", "description", "verified"}


@dataclass(frozen=True)
class CriteriaItem:
    code: str
    label: str
    label_en: str
    max_points: float
    description: str = ""
    #: False where the split of points is our editable guess, not the published text
    verified: bool = False


@dataclass(frozen=True)
class Band:
    code: str
    label: str
    min: float


@dataclass(frozen=True)
class CriteriaSet:
    id: str
    title: str
    period_from: int
    period_to: int | None
    version: str
    label: str
    source: str
    pass_mark: float
    pass_mark_dbkk: float | None
    bands: tuple[Band, ...]
    items: tuple[CriteriaItem, ...]
    notes: str = ""

    @property
    def max_total(self) -> float:
        return sum(item.max_points for item in self.items)

    def item(self, code: str) -> CriteriaItem:
        for item in self.items:
            if item.code == code:
                return item
        raise KeyError(code)

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "title": self.title,
            "period": {"from": self.period_from, "to": self.period_to},
            "version": self.version,
            "label": self.label,
            "source": self.source,
            "pass_mark": self.pass_mark,
            "pass_mark_dbkk": self.pass_mark_dbkk,
            "max_total": self.max_total,
            "bands": [{"code": b.code, "label": b.label, "min": b.min} for b in self.bands],
            "items": [
                {
                    "code": i.code,
                    "label": i.label,
                    "label_en": i.label_en,
                    "max_points": i.max_points,
                    "description": i.description,
                    "verified": i.verified,
                }
                for i in self.items
            ],
            "notes": self.notes,
        }


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _build(path: Path, data) -> CriteriaSet:
    where = str(path)
    if not isinstance(data, dict):
        raise ConfigurationError(f"{where}: the file must hold a mapping of settings")
    unknown = set(data) - _SET_KEYS
    if unknown:
        raise ConfigurationError(f"{where}: unknown setting(s) {sorted(unknown)}")
    set_id = data.get("id")
    if not isinstance(set_id, str) or not set_id:
        raise ConfigurationError(f"{where}: id is missing")
    title = data.get("title")
    if title not in TITLES:
        raise ConfigurationError(f"{where}: title {title!r} is not one of {list(TITLES)}")
    period = data.get("period")
    if not isinstance(period, dict) or not isinstance(period.get("from"), int):
        raise ConfigurationError(f"{where}: period needs a 'from' year (and 'to', or null)")
    period_to = period.get("to")
    if period_to is not None and (not isinstance(period_to, int) or period_to < period["from"]):
        raise ConfigurationError(f"{where}: period 'to' must be a year not before 'from'")
    raw_items = data.get("items")
    if not isinstance(raw_items, list) or not raw_items:
        raise ConfigurationError(f"{where}: items must be a non-empty list")
    items = []
    seen = set()
    for number, raw in enumerate(raw_items, start=1):
        at = f"{where}: item {number}"
        if not isinstance(raw, dict):
            raise ConfigurationError(f"{at}: must be a mapping")
        unknown = set(raw) - _ITEM_KEYS
        if unknown:
            raise ConfigurationError(f"{at}: unknown setting(s) {sorted(unknown)}")
        code = raw.get("code")
        if code is None or str(code) == "":
            raise ConfigurationError(f"{at}: code is missing")
        code = str(code)
        if code in seen:
            raise ConfigurationError(f"{at}: duplicate item code {code!r}")
        seen.add(code)
        max_points = raw.get("max_points")
        if not _number(max_points) or max_points <= 0:
            raise ConfigurationError(
                f"{at} ({code}): max_points must be a positive number, got {max_points!r}"
            )
        if not raw.get("label"):
            raise ConfigurationError(f"{at} ({code}): label is missing")
        items.append(
            CriteriaItem(
                code=code,
                label=str(raw["label"]),
                label_en=str(raw.get("label_en") or raw["label"]),
                max_points=float(max_points),
                description=str(raw.get("description") or ""),
                verified=bool(raw.get("verified", False)),
            )
        )
    max_total = sum(i.max_points for i in items)
    pass_mark = data.get("pass_mark")
    if not _number(pass_mark) or pass_mark < 0 or pass_mark > max_total:
        raise ConfigurationError(
            f"{where}: pass_mark must be a number from 0 to the maximum total {max_total:g}, "
            f"got {pass_mark!r}"
        )
    pass_mark_dbkk = data.get("pass_mark_dbkk")
    if pass_mark_dbkk is not None and (
        not _number(pass_mark_dbkk) or pass_mark_dbkk < 0 or pass_mark_dbkk > pass_mark
    ):
        raise ConfigurationError(
            f"{where}: pass_mark_dbkk must be a number from 0 to pass_mark {pass_mark:g}"
        )
    bands = []
    previous = None
    for number, raw in enumerate(data.get("bands") or [], start=1):
        at = f"{where}: band {number}"
        if not isinstance(raw, dict) or not raw.get("code") or not _number(raw.get("min")):
            raise ConfigurationError(f"{at}: needs code, label and a numeric min")
        if raw["min"] < 0 or raw["min"] > max_total:
            raise ConfigurationError(f"{at}: min must be within 0..{max_total:g}")
        if previous is not None and raw["min"] >= previous:
            raise ConfigurationError(f"{at}: bands must be listed from the highest min down")
        previous = raw["min"]
        bands.append(
            Band(
                code=str(raw["code"]),
                label=str(raw.get("label") or raw["code"]),
                min=float(raw["min"]),
            )
        )
    return CriteriaSet(
        id=set_id,
        title=title,
        period_from=period["from"],
        period_to=period_to,
        version=str(data.get("version") or "1"),
        label=str(data.get("label") or set_id),
        source=str(data.get("source") or ""),
        pass_mark=float(pass_mark),
        pass_mark_dbkk=float(pass_mark_dbkk) if pass_mark_dbkk is not None else None,
        bands=tuple(bands),
        items=tuple(items),
        notes=str(data.get("notes") or ""),
    )


def load_criteria_sets(directory: str | Path) -> dict[str, CriteriaSet]:
    """Load and validate every ``*.yaml`` criteria set in ``directory``."""
    folder = Path(directory)
    sets: dict[str, CriteriaSet] = {}
    files: dict[str, Path] = {}
    for path in sorted(folder.glob("*.yaml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ConfigurationError(f"{path}: not valid YAML: {exc}") from exc
        cset = _build(path, data)
        if cset.id in sets:
            raise ConfigurationError(f"{path}: set id {cset.id!r} is also used in {files[cset.id]}")
        for other in sets.values():
            if other.title != cset.title:
                continue
            a_end = other.period_to if other.period_to is not None else 10**6
            b_end = cset.period_to if cset.period_to is not None else 10**6
            if other.period_from <= b_end and cset.period_from <= a_end:
                raise ConfigurationError(
                    f"{path}: period {cset.period_from}–{cset.period_to or '…'} of "
                    f"{cset.title!r} overlaps {other.id} in {files[other.id]}"
                )
        sets[cset.id] = cset
        files[cset.id] = path
    return sets


def criteria_set_for(sets: dict[str, CriteriaSet], title: str, year: int) -> CriteriaSet:
    """The set in force for a title and year; after the last period, the latest set."""
    candidates = sorted((s for s in sets.values() if s.title == title), key=lambda s: s.period_from)
    if not candidates:
        raise ConfigurationError(f"no criteria set for title {title!r}")
    for cset in candidates:
        if cset.period_from <= year and (cset.period_to is None or year <= cset.period_to):
            return cset
    if year < candidates[0].period_from:
        return candidates[0]
    return candidates[-1]
