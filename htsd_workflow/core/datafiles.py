"""The data files under ``workflows/``, read and refused one way.

Workflow definitions (``cases/definitions.py``), criteria sets (``criteria/loader.py``) and
plans (``reports/plans.py``) each list their folder with ``yaml_files``, read each file with
``read_yaml`` and check it through a ``Place``. A problem stops the loader with a
``ConfigurationError`` that names the file and the place in it, then what is wrong:

    workflows/three_tier/family.yaml: states.commune_review.sla_days: must be at least 1, got -3

A place is the path of keys from the top of the file; list entries are counted from 1, as a
person reading the file counts them (``transitions[3].dest``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import NoReturn

import yaml

from htsd_workflow.core.errors import ConfigurationError

#: libyaml's parser when PyYAML was built with it (about ten times the pure-Python one: the
#: app reads some thirty files at every start), with the same safe constructor
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _StrictLoader(_SafeLoader):
    """``yaml.SafeLoader`` that refuses a key given twice in one mapping.

    Plain ``safe_load`` keeps the last value silently, so a second ``pass_mark:`` pasted
    further down a file would change the mark without anyone noticing.
    """

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _value in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
            except TypeError:  # unhashable key: the base constructor reports it
                continue
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"found duplicate key {key!r}",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def yaml_files(folder: str | Path, what: str, *, required: bool = True) -> list[Path]:
    """The ``*.yaml`` files of ``folder`` in name order.

    A missing folder is refused when ``required`` (else there are no files); a ``*.yml`` file
    is refused, since it would be skipped silently and its author left wondering.
    """
    folder = Path(folder)
    if not folder.is_dir():
        if required:
            raise ConfigurationError(f"{folder}: {what} directory not found")
        return []
    stray = sorted(folder.glob("*.yml"))
    if stray:
        raise ConfigurationError(f"{stray[0]}: {what} files must end in .yaml")
    return sorted(folder.glob("*.yaml"))


def read_yaml(path: Path):
    """The data of one file: UTF-8 text, YAML read safely (plain data, no objects), no key
    given twice in a mapping. Refused naming the file otherwise."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigurationError(f"{path}: not UTF-8 text ({exc.reason})") from exc
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot be read ({exc.strerror})") from exc
    try:
        # _StrictLoader is a SafeLoader: this is yaml.safe_load plus the duplicate-key check
        return yaml.load(text, Loader=_StrictLoader)
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"{path}: not valid YAML: {exc}") from exc


def is_number(value) -> bool:
    """A finite int or float; YAML's true and false are not numbers."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def is_whole_number(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


#: years outside this range are typos (2106 for 2016), not periods of a programme
YEAR_MIN, YEAR_MAX = 1990, 2100


def read_settings(path: Path, allowed) -> dict:
    """A file that holds one mapping of ``allowed`` settings (``read_yaml``)."""
    data = read_yaml(path)
    if data is None:
        Place(path).fail("the file is empty")
    return Place(path).mapping(data, allowed)


class Place:
    """Where in which file a value was found; ``fail`` refuses it there."""

    __slots__ = ("file", "path")

    def __init__(self, file: str | Path, path: str = ""):
        self.file = str(file)
        self.path = path

    def __truediv__(self, key: str | int) -> Place:
        """The place of ``key`` inside this one: a setting's name, or an entry's number
        (from 1)."""
        if isinstance(key, int):
            return Place(self.file, f"{self.path}[{key}]")
        return Place(self.file, f"{self.path}.{key}" if self.path else str(key))

    def __str__(self) -> str:
        return f"{self.file}: {self.path}" if self.path else self.file

    def fail(self, problem: str) -> NoReturn:
        raise ConfigurationError(f"{self}: {problem}")

    def mapping(self, value, allowed, *, what: str = "settings") -> dict:
        """``value`` as a mapping holding only ``allowed`` keys (``None`` is empty)."""
        if value is None:
            return {}
        if not isinstance(value, dict):
            whose = "the file must hold" if not self.path else "must be"
            self.fail(f"{whose} a mapping of {what}, got {_kind(value)}")
        unknown = sorted(str(k) for k in set(value) - set(allowed))
        if unknown:
            self.fail(f"unknown setting(s) {unknown}; allowed: {', '.join(sorted(allowed))}")
        return value

    def year(self, value) -> int:
        """A year such as 2016 (one outside 1990–2100 is a typo, 2106 for 2016)."""
        if not is_whole_number(value):
            self.fail(f"must be a year such as 2016, got {value!r}")
        if not YEAR_MIN <= value <= YEAR_MAX:
            self.fail(f"{value} is not a plausible year ({YEAR_MIN}–{YEAR_MAX})")
        return value

    def period(self, value) -> tuple[int, int | None]:
        """``{from: <year>, to: <year or null>}`` as (from, to)."""
        if not isinstance(value, dict) or "from" not in value:
            self.fail("must be a mapping {from: <year>, to: <year or null>}")
        self.mapping(value, ("from", "to"))
        start = (self / "from").year(value["from"])
        end = value.get("to")
        if end is not None:
            end = (self / "to").year(end)
            if end < start:
                (self / "to").fail(f"{end} is before 'from' {start}")
        return start, end

    def names(self, value) -> tuple:
        """A name or a list of names as a tuple (``None`` is none)."""
        if value is None:
            return ()
        if isinstance(value, str):
            return (value,)
        if isinstance(value, list):
            return tuple(value)
        self.fail(f"expected a name or a list of names, got {value!r}")


def _kind(value) -> str:
    return {list: "a list", str: "a text"}.get(type(value), type(value).__name__)
