"""Criteria sets (bộ tiêu chí) as versioned data: loading and validation.

One YAML file per set version lives in ``workflows/criteria``. Every problem found while
loading raises ``ConfigurationError`` naming the file and what to change, so that start-up
stops before a case is scored against a wrong table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from flask_babel import lazy_gettext as _l

from htsd_workflow.core.datafiles import Place, is_number, read_settings, yaml_files
from htsd_workflow.core.errors import ConfigurationError, InvalidInput
from htsd_workflow.core.text import nfc
from htsd_workflow.core.titles import TITLES

_REQUIRED_KEYS = ("id", "title", "period", "version", "label", "source", "items")
_OPTIONAL_KEYS = (
    "pass_mark",
    "pass_mark_dbkk",
    "bands",
    "notes",
    "managed_by",
    "kind",
    "levels",
    "label_en",
    "notes_en",
)
#: a points set scores items up to their maximum against a pass mark; a levels set
#: (TT 24/2023, TT 25/2023) lists indicators, each met or not, and levels reached by meeting
#: them. An indicator is stored as a score of 1 (met) or 0 (not met) of at most 1.
KINDS = ("points", "levels")
_LEVEL_KEYS = frozenset({"code", "label", "requires"})
#: who manages a subject (``Subject.managing_level``): a set may apply to some of them only
#: (QĐ 448 for units managed by a commune, TT 22/2020 for those of a district or the province)
MANAGING_LEVELS = ("commune", "district", "province")
_SET_KEYS = frozenset(_REQUIRED_KEYS + _OPTIONAL_KEYS)
_ITEM_KEYS = frozenset(
    {"code", "label", "label_en", "max_points", "description", "description_en", "verified"}
)
_BAND_KEYS = frozenset({"code", "label", "min"})

# ids go into URLs and a String(60) column; item codes into form field names, error keys
# such as "items[1.2].score" and a String(20) column
_ID_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,59}")
_CODE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,19}")


@dataclass(frozen=True)
class CriteriaItem:
    """One scored criterion (tiêu chí) of a set."""

    code: str
    label: str
    label_en: str
    max_points: float
    description: str = ""
    #: the description in English (the Vietnamese one shows where it is missing)
    description_en: str = ""
    #: False where the item (its points, often its wording) is an editable guess, not the text
    verified: bool = False


@dataclass(frozen=True)
class Band:
    """A rating band (xếp loại), e.g. Tốt from 85 points."""

    code: str
    label: str
    min: float


@dataclass(frozen=True)
class Level:
    """A level (mức độ) of a levels set: reached when every required indicator is met."""

    code: str
    label: str
    requires: tuple[str, ...]


@dataclass(frozen=True)
class CriteriaSet:
    """One version of the criteria for a title over a period of years."""

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
    #: the first and last day in force (a year in the file reads as 1 January / 31 December)
    starts: date | None = None
    ends: date | None = None
    #: managing level → (first day, last day or None): who the set is for, and when
    spans: dict | None = None
    #: "points" or "levels" (``KINDS``)
    kind: str = "points"
    #: the levels of a levels set, lowest first, each requiring its lower one's indicators
    levels: tuple[Level, ...] = ()
    #: the set's name and notes in English (the Vietnamese ones show where they are missing)
    label_en: str = ""
    notes_en: str = ""

    def __post_init__(self):
        if self.starts is None:
            object.__setattr__(self, "starts", date(self.period_from, 1, 1))
        if self.ends is None and self.period_to is not None:
            object.__setattr__(self, "ends", date(self.period_to, 12, 31))
        if self.spans is None:
            object.__setattr__(
                self, "spans", {level: (self.starts, self.ends) for level in MANAGING_LEVELS}
            )

    @property
    def managed_by(self) -> tuple[str, ...]:
        """The managing levels of the subjects the set is for."""
        return tuple(level for level in MANAGING_LEVELS if level in self.spans)

    @property
    def max_total(self) -> float:
        """The highest possible total: the sum of the items' maximum points."""
        return exact_sum(item.max_points for item in self.items)

    def item(self, code: str) -> CriteriaItem:
        """The item with this code; ``KeyError`` if the set has none."""
        for item in self.items:
            if item.code == code:
                return item
        raise KeyError(code)

    def holds(self, year: int) -> bool:
        """Whether ``year`` falls in the set's period."""
        return self.period_from <= year and (self.period_to is None or year <= self.period_to)

    def in_force_on(self, day: date, managed_by: str = "commune") -> bool:
        """Whether the set is in force on ``day`` (effective dates, both included) for a
        subject managed by ``managed_by``."""
        if managed_by not in self.spans:
            return False
        starts, ends = self.spans[managed_by]
        return starts <= day and (ends is None or day <= ends)

    def to_dict(self) -> dict:
        """The set as plain data (the API's criteria-set document)."""
        return {
            "id": self.id,
            "title": self.title,
            "period": {"from": self.period_from, "to": self.period_to},
            "effective": {
                "from": self.starts.isoformat(),
                "to": self.ends.isoformat() if self.ends else None,
            },
            "managed_by": {
                level: {"from": start.isoformat(), "to": end.isoformat() if end else None}
                for level, (start, end) in self.spans.items()
            },
            "version": self.version,
            "label": self.label,
            "source": self.source,
            "pass_mark": self.pass_mark,
            "pass_mark_dbkk": self.pass_mark_dbkk,
            "max_total": self.max_total,
            "kind": self.kind,
            "levels": [
                {"code": lv.code, "label": lv.label, "requires": list(lv.requires)}
                for lv in self.levels
            ],
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


def exact_sum(values) -> float:
    """Sum points as decimals: 26.7 + 26.7 + 26.6 is 80, not 79.99999999999999."""
    # a float sum could drop a total just below the pass mark and fail a family by 1e-14
    return float(sum((Decimal(repr(float(v))) for v in values), Decimal(0)))


def _fmt(value: float) -> str:
    return f"{value:g}"


def _span(start: date, end: date | None) -> str:
    """A span of days as the file would say it: whole years as years, else the dates."""
    if start.month == 1 and start.day == 1 and (end is None or (end.month, end.day) == (12, 31)):
        return f"{start.year}–{end.year if end is not None else '…'}"
    return f"{start:%d/%m/%Y}–{f'{end:%d/%m/%Y}' if end is not None else '…'}"


def _period_dates(at: Place, value) -> tuple[date, date | None]:
    """``{from: <year or date>, to: <year, date or null>}`` as the first and last day in force.

    A year is the whole year (``from: 2016`` is 01/01/2016, ``to: 2020`` is 31/12/2020); a date
    (``from: 2020-09-21``) is the day a text came into force, as the law counts it.
    """
    if not isinstance(value, dict) or "from" not in value:
        at.fail("must be a mapping {from: <year or date>, to: <year, date or null>}")
    at.mapping(value, ("from", "to"))

    def day(raw, where: Place, *, last: bool) -> date:
        if isinstance(raw, date):
            where.year(raw.year)
            return raw
        year = where.year(raw)
        return date(year, 12, 31) if last else date(year, 1, 1)

    def said(raw) -> str:
        return f"{raw:%d/%m/%Y}" if isinstance(raw, date) else str(raw)

    start = day(value["from"], at / "from", last=False)
    end = value.get("to")
    if end is not None:
        end = day(end, at / "to", last=True)
        if end < start:
            (at / "to").fail(f"{said(value['to'])} is before 'from' {said(value['from'])}")
    return start, end


class _Checker:
    """Builds one set from one file's data; every refusal names the file and the place."""

    def __init__(self, path: Path):
        self.top = Place(path)

    @staticmethod
    def text(value, at: Place, *, required: bool = True) -> str:
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                at.fail("is missing (give a non-empty text)")
            return ""
        if not isinstance(value, str):
            at.fail(f"must be text, got {value!r}")
        return nfc(value)

    def build(self, data: dict) -> CriteriaSet:
        top = self.top
        for key in _REQUIRED_KEYS:
            if key not in data or data[key] is None:
                (top / key).fail("is missing")

        set_id = data["id"]
        if not isinstance(set_id, str) or not _ID_RE.fullmatch(set_id):
            (top / "id").fail(
                f"{set_id!r} must be lower-case letters, digits, '.', '_' or '-' "
                "(at most 60), e.g. 'family-2016'"
            )
        title = data["title"]
        if title not in TITLES:
            (top / "title").fail(f"{title!r} is not one of {list(TITLES)}")
        starts, ends = _period_dates(top / "period", data["period"])
        spans = self.spans(data.get("managed_by"), starts, ends)
        version = data["version"]
        if isinstance(version, bool) or not isinstance(version, str | int):
            # an unquoted 2016.10 would be read as the number 2016.1
            (top / "version").fail(f'must be quoted text such as "2016.1", got {version!r}')
        version = self.text(str(version), top / "version")

        kind = data.get("kind", "points")
        if kind not in KINDS:
            (top / "kind").fail(f"{kind!r} is not one of {list(KINDS)}")
        items = self.items(data["items"], kind)
        max_total = exact_sum(i.max_points for i in items)
        levels: tuple[Level, ...] = ()
        if kind == "levels":
            for key in ("pass_mark", "pass_mark_dbkk", "bands"):
                if data.get(key) is not None:
                    (top / key).fail(
                        "a levels set has no points: its result is the level reached (levels)"
                    )
            levels = self.levels(data.get("levels"), items)
            # the fewest indicators any result passes with: the lowest level's
            pass_mark = float(len(levels[0].requires))
        else:
            if data.get("levels") is not None:
                (top / "levels").fail("only a set of kind: levels has levels")
            if data.get("pass_mark") is None:
                (top / "pass_mark").fail("is missing")
            pass_mark = self.mark(data["pass_mark"], "pass_mark", max_total)
        pass_mark_dbkk = None
        if data.get("pass_mark_dbkk") is not None:
            pass_mark_dbkk = self.mark(data["pass_mark_dbkk"], "pass_mark_dbkk", max_total)
            if pass_mark_dbkk > pass_mark:
                (top / "pass_mark_dbkk").fail(
                    f"{_fmt(pass_mark_dbkk)} is above pass_mark {_fmt(pass_mark)}"
                    " (the mark for especially disadvantaged communes may only be lower)"
                )
        bands = self.bands(data.get("bands"), max_total)
        notes = self.text(data.get("notes"), top / "notes", required=False)
        unverified = [i.code for i in items if not i.verified]
        if unverified and not notes:
            # the data must say itself what is provisional, never look like the law
            (top / "notes").fail(
                f"items {unverified} are marked verified: false, so notes must say what is "
                "provisional and how to check it"
            )
        return CriteriaSet(
            id=set_id,
            title=title,
            period_from=starts.year,
            period_to=ends.year if ends is not None else None,
            starts=starts,
            ends=ends,
            spans=spans,
            version=version,
            label=self.text(data["label"], top / "label"),
            source=self.text(data["source"], top / "source"),
            pass_mark=pass_mark,
            pass_mark_dbkk=pass_mark_dbkk,
            bands=bands,
            items=items,
            notes=notes,
            kind=kind,
            levels=levels,
            label_en=self.text(data.get("label_en"), top / "label_en", required=False),
            notes_en=self.text(data.get("notes_en"), top / "notes_en", required=False),
        )

    def levels(self, raw_levels, items) -> tuple[Level, ...]:
        at = self.top / "levels"
        if not isinstance(raw_levels, list) or not raw_levels:
            at.fail("must be a non-empty list of {code, label, requires}, lowest level first")
        codes = [i.code for i in items]
        levels: list[Level] = []
        for number, raw in enumerate(raw_levels, start=1):
            here = at / number
            if not isinstance(raw, dict):
                here.fail("must be a mapping with code, label and requires")
            here.mapping(raw, _LEVEL_KEYS)
            code = raw.get("code")
            if not isinstance(code, str) or not _CODE_RE.fullmatch(code):
                (here / "code").fail(f"must be a short text such as 'level1', got {code!r}")
            if code in {lv.code for lv in levels}:
                (here / "code").fail(f"duplicate level code {code!r}")
            requires = raw.get("requires")
            if requires == "all":
                requires = codes
            if not isinstance(requires, list) or not requires:
                (here / "requires").fail("must be a non-empty list of indicator codes, or all")
            requires = [str(r) for r in requires]
            unknown = [r for r in requires if r not in codes]
            if unknown:
                (here / "requires").fail(f"indicators {unknown} are not among the items")
            if levels and not set(levels[-1].requires) < set(requires):
                (here / "requires").fail(
                    f"must hold every indicator of {levels[-1].code!r} and more "
                    "(list levels from the lowest up)"
                )
            levels.append(
                Level(
                    code=code,
                    label=self.text(raw.get("label"), here / "label"),
                    requires=tuple(c for c in codes if c in requires),
                )
            )
        return tuple(levels)

    def spans(self, raw, starts: date, ends: date | None) -> dict:
        """``managed_by``: a list of levels (for the set's period), or levels each with its own
        period inside the set's; absent, every level for the set's period."""
        at = self.top / "managed_by"
        if raw is None:
            return {level: (starts, ends) for level in MANAGING_LEVELS}
        if isinstance(raw, dict):
            at.mapping(raw, MANAGING_LEVELS, what="managing levels to periods")
            spans = {}
            for level, period in raw.items():
                first, last = _period_dates(at / level, period)
                if first < starts or (ends is not None and (last is None or last > ends)):
                    (at / level).fail(f"{_span(first, last)} is outside the set's period")
                spans[level] = (first, last)
        else:
            levels = at.names(raw)
            for level in levels:
                if level not in MANAGING_LEVELS:
                    at.fail(f"{level!r} is not one of {list(MANAGING_LEVELS)}")
            spans = {level: (starts, ends) for level in levels}
        if not spans:
            at.fail(f"names no managing level; give some of {list(MANAGING_LEVELS)}")
        return {level: spans[level] for level in MANAGING_LEVELS if level in spans}

    def items(self, raw_items, kind: str = "points") -> tuple[CriteriaItem, ...]:
        if not isinstance(raw_items, list) or not raw_items:
            (self.top / "items").fail("must be a non-empty list")
        items = []
        seen: set[str] = set()
        for number, raw in enumerate(raw_items, start=1):
            at = self.top / "items" / number
            if not isinstance(raw, dict):
                at.fail("must be a mapping with code, label, label_en, max_points")
            at.mapping(raw, _ITEM_KEYS)
            code = raw.get("code")
            if code is None or code == "":
                (at / "code").fail("is missing")
            if isinstance(code, float):
                # YAML reads 1.10 as the number 1.1: the code the author typed is lost
                (at / "code").fail(f'{code!r} must be quoted, e.g. code: "{code}"')
            if isinstance(code, bool) or not isinstance(code, str | int):
                (at / "code").fail(f'must be text such as "1.2", got {code!r}')
            code = str(code)
            if not _CODE_RE.fullmatch(code):
                (at / "code").fail(
                    f"{code!r} may hold only letters, digits, '.', '_' or '-' (at most 20)"
                )
            if code in seen:
                (at / "code").fail(f"duplicate item code {code!r}")
            seen.add(code)
            max_points = raw.get("max_points")
            if kind == "levels":
                if max_points is not None:
                    (at / "max_points").fail("an indicator is met or not: it has no points")
                max_points = 1
            if not is_number(max_points) or max_points <= 0:
                (at / "max_points").fail(f"must be a positive number, got {max_points!r}")
            verified = raw.get("verified", False)
            if not isinstance(verified, bool):
                (at / "verified").fail(f"must be true or false, got {verified!r}")
            items.append(
                CriteriaItem(
                    code=code,
                    label=self.text(raw.get("label"), at / "label"),
                    label_en=self.text(raw.get("label_en"), at / "label_en"),
                    max_points=float(max_points),
                    description=self.text(
                        raw.get("description"), at / "description", required=False
                    ),
                    description_en=self.text(
                        raw.get("description_en"), at / "description_en", required=False
                    ),
                    verified=verified,
                )
            )
        return tuple(items)

    def mark(self, value, what: str, max_total: float) -> float:
        at = self.top / what
        if not is_number(value):
            at.fail(f"must be a number, got {value!r}")
        if value < 0:
            at.fail(f"{_fmt(value)} is negative")
        if value > max_total:
            at.fail(f"{_fmt(value)} is above the maximum total {_fmt(max_total)}")
        return float(value)

    def bands(self, raw_bands, max_total: float) -> tuple[Band, ...]:
        if raw_bands is None:
            return ()
        if not isinstance(raw_bands, list):
            (self.top / "bands").fail("must be a list of {code, label, min}, highest min first")
        bands: list[Band] = []
        for number, raw in enumerate(raw_bands, start=1):
            at = self.top / "bands" / number
            if not isinstance(raw, dict):
                at.fail("must be a mapping with code, label and min")
            at.mapping(raw, _BAND_KEYS)
            code = raw.get("code")
            if not isinstance(code, str) or not _CODE_RE.fullmatch(code):
                (at / "code").fail(f"must be a short text such as 'good', got {code!r}")
            if code in {b.code for b in bands}:
                (at / "code").fail(f"duplicate band code {code!r}")
            low = raw.get("min")
            if not is_number(low):
                (at / "min").fail(f"must be a number, got {low!r}")
            if not 0 <= low <= max_total:
                (at / "min").fail(
                    f"{_fmt(low)} is outside 0..{_fmt(max_total)} (the maximum total)"
                )
            if bands and low >= bands[-1].min:
                (at / "min").fail(
                    f"{_fmt(low)} is not below {_fmt(bands[-1].min)} of "
                    f"{bands[-1].code!r}; list bands from the highest min down"
                )
            bands.append(
                Band(code=code, label=self.text(raw.get("label"), at / "label"), min=float(low))
            )
        return tuple(bands)


def _check_periods(sets: list[tuple[CriteriaSet, Path]]) -> None:
    """Refuse overlaps (two sets for one day) and gaps (a day with no set) per title and
    managing level."""
    for title in TITLES:
        for level in MANAGING_LEVELS:
            chain = sorted(
                (
                    (cset.spans[level], cset, path)
                    for cset, path in sets
                    if cset.title == title and level in cset.spans
                ),
                key=lambda entry: entry[0][0],
            )
            for (e_span, earlier, e_path), (l_span, later, l_path) in zip(
                chain, chain[1:], strict=False
            ):
                whose = repr(title)
                if earlier.managed_by != MANAGING_LEVELS or later.managed_by != MANAGING_LEVELS:
                    whose += f" managed by a {level}"
                if e_span[1] is None or l_span[0] <= e_span[1]:
                    raise ConfigurationError(
                        f"{l_path}: period {_span(*l_span)} of {whose} overlaps "
                        f"{earlier.id} ({_span(*e_span)}) in {e_path}; "
                        "close the earlier period with 'to'"
                    )
                if l_span[0] > e_span[1] + timedelta(days=1):
                    gap = _span(e_span[1] + timedelta(days=1), l_span[0] - timedelta(days=1))
                    raise ConfigurationError(
                        f"{l_path}: period {_span(*l_span)} of {whose} leaves "
                        f"{gap} without a set after {earlier.id} in {e_path}"
                    )


def load_criteria_sets(directory: str | Path) -> dict[str, CriteriaSet]:
    """Load and validate every ``*.yaml`` criteria set in ``directory``, keyed by id."""
    folder = Path(directory)
    loaded: list[tuple[CriteriaSet, Path]] = []
    files: dict[str, Path] = {}
    for path in yaml_files(folder, "criteria"):
        cset = _Checker(path).build(read_settings(path, _SET_KEYS))
        if cset.id in files:
            (Place(path) / "id").fail(f"set id {cset.id!r} is also used in {files[cset.id]}")
        files[cset.id] = path
        loaded.append((cset, path))
    if not loaded:
        raise ConfigurationError(f"{folder}: no criteria sets (*.yaml) found")
    _check_periods(loaded)
    return {cset.id: cset for cset, _path in loaded}


def reference_date(year: int, today: date) -> date:
    """The day whose rules a case for ``year`` started on ``today`` is judged by.

    The day it starts, kept inside the year of recognition: a case for an earlier year
    follows that year's last rules, one for a later year that year's first.
    """
    return min(max(today, date(year, 1, 1)), date(year, 12, 31))


def criteria_set_for(
    sets: dict[str, CriteriaSet],
    title: str,
    on: date | int,
    managed_by: str = "commune",
) -> CriteriaSet:
    """The set in force for ``title`` on the day ``on`` for a subject managed by ``managed_by``.

    This is the one rule choosing a set; a case stores the id it started with and keeps it.
    A year stands for its last day. Before the first set in force for the title and level
    (the 2015 pilot) the earliest applies; after the last closed one, the latest that had
    started. A title or managing level no set is written for is refused with
    ``InvalidInput``, naming the title, the day and the level.
    """
    day = date(on, 12, 31) if isinstance(on, int) else on
    candidates = sorted(
        (s for s in sets.values() if s.title == title and managed_by in s.spans),
        key=lambda s: s.spans[managed_by][0],
    )
    if not candidates:
        if not any(s.title == title for s in sets.values()):
            raise ConfigurationError(f"no criteria set for title {title!r}")
        from htsd_workflow.core.labels import TITLE_LABELS  # labels import the registry

        levels = {"commune": _l("cấp xã"), "district": _l("cấp huyện"), "province": _l("cấp tỉnh")}
        raise InvalidInput(
            _l(
                "Chưa có bộ tiêu chí cho danh hiệu “%(title)s” áp dụng ngày %(day)s đối với "
                "đối tượng do %(level)s quản lý.",
                title=TITLE_LABELS.get(title, title),
                day=f"{day:%d/%m/%Y}",
                level=levels.get(managed_by, managed_by),
            ),
            details={"title": title, "date": day.isoformat(), "managed_by": managed_by},
        )
    for cset in candidates:
        if cset.in_force_on(day, managed_by):
            return cset
    if day < candidates[0].spans[managed_by][0]:
        return candidates[0]
    # past every period, or in a gap of sets not loaded by load_criteria_sets: the latest
    # set that had started by then
    return [s for s in candidates if s.spans[managed_by][0] <= day][-1]
