"""The official lists of administrative units, read offline from installed packages.

- the pre-2025 three-tier list (province → district → commune): ``vietnam-provinces`` 0.6.0,
  the list this project has always imported (same names, so existing data stays unchanged);
- today's two-tier list (province → commune, since 1 July 2025) and the official old → new
  conversion table: the data files of ``vietnamadminunits`` (MIT), read directly (its Python
  modules pull in geocoding we do not need). Its old codes are the same GSO codes as
  ``vietnam-provinces``' — the codes are what joins the two.

Codes are returned as the statistics office writes them: zero-padded strings (province 2
digits, district 3, commune 5).
"""

from __future__ import annotations

import importlib.util
import json
import sqlite3
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import vietnam_provinces

WIDTH = {"province": 2, "district": 3, "commune": 5}


def gso(code, level: str) -> str:
    """``code`` as the statistics office writes it: digits, zero-padded to the level's width."""
    return str(code).strip().zfill(WIDTH[level])


@dataclass
class SourceUnit:
    code: str
    name: str
    division_type: str
    children: list[SourceUnit] = field(default_factory=list)


@dataclass(frozen=True)
class Succession:
    """One old → new pair of the 2025 conversion table."""

    old_code: str
    #: "commune", or "district" for an old district that had no communes (Lý Sơn)
    old_level: str
    new_code: str
    is_default: bool
    #: whether the old unit went to more than one new commune
    is_split: bool


def _data_dir() -> Path:
    spec = importlib.util.find_spec("vietnamadminunits")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the package vietnamadminunits is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _query(sql: str, *params) -> list[sqlite3.Row]:
    path = _data_dir() / "dataset.db"
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        conn.row_factory = sqlite3.Row
        return conn.execute(sql, params).fetchall()


@cache
def _converter() -> dict:
    with open(_data_dir() / "converter_2025.json", encoding="utf-8") as handle:
        return json.load(handle)


def _type_of(name: str, types: tuple[str, ...]) -> str:
    return next((t for t in types if name.lower().startswith(t)), "")


def old_province(code) -> SourceUnit | None:
    """The province as it was until 30 June 2025, with districts and communes; None if absent."""
    with open(vietnam_provinces.NESTED_DIVISIONS_JSON_PATH, encoding="utf-8") as handle:
        provinces = json.load(handle)
    wanted = gso(code, "province")
    raw = next((p for p in provinces if gso(p["code"], "province") == wanted), None)
    if raw is None:
        return None
    return SourceUnit(
        wanted,
        raw["name"],
        raw["division_type"],
        [
            SourceUnit(
                gso(d["code"], "district"),
                d["name"],
                d["division_type"],
                [
                    SourceUnit(gso(w["code"], "commune"), w["name"], w["division_type"])
                    for w in d["wards"]
                ],
            )
            for d in raw["districts"]
        ],
    )


def new_province(code) -> SourceUnit | None:
    """The province as it is since 1 July 2025, communes directly under it; None if absent."""
    wanted = gso(code, "province")
    rows = _query(
        "SELECT DISTINCT province, wardCode, ward, wardType FROM admin_units "
        "WHERE provinceCode = ? ORDER BY wardCode",
        wanted,
    )
    if not rows:
        return None
    name = rows[0]["province"]
    return SourceUnit(
        wanted,
        name,
        _type_of(name, ("thành phố", "tỉnh")),
        [
            SourceUnit(gso(r["wardCode"], "commune"), r["ward"], (r["wardType"] or "").lower())
            for r in rows
        ],
    )


def successions(new_province_code) -> list[Succession]:
    """The official 2025 conversion of every old unit that became part of the new province."""
    wanted = gso(new_province_code, "province")
    new_rows = _query(
        "SELECT DISTINCT provinceKey, wardKey, wardCode FROM admin_units WHERE provinceCode = ?",
        wanted,
    )
    if not new_rows:
        return []
    province_key = new_rows[0]["provinceKey"]
    new_code = {r["wardKey"]: gso(r["wardCode"], "commune") for r in new_rows}
    old_provinces = _converter()["DICT_PROVINCE"][province_key]
    marks = ",".join("?" * len(old_provinces))
    old_code: dict[str, tuple[str, str]] = {}
    for r in _query(
        "SELECT DISTINCT provinceKey, districtKey, wardKey, districtCode, wardCode "
        f"FROM admin_units_legacy WHERE provinceKey IN ({marks})",
        *old_provinces,
    ):
        key = f"{r['provinceKey']}_{r['districtKey']}_{r['wardKey'] or ''}"
        if r["wardCode"]:
            old_code[key] = (gso(r["wardCode"], "commune"), "commune")
        else:
            old_code[key] = (gso(r["districtCode"], "district"), "district")
    found: list[Succession] = []
    for new_key, old_keys in _converter()["DICT_PROVINCE_WARD_NO_DIVIDED"][province_key].items():
        for old_key in old_keys:
            code, level = old_code[old_key]
            found.append(Succession(code, level, new_code[new_key], True, False))
    divided = _converter()["DICT_PROVINCE_WARD_DIVIDED"].get(province_key, {})
    for old_key, parts in divided.items():
        code, level = old_code[old_key]
        for part in parts:
            found.append(
                Succession(
                    code, level, new_code[part["newWardKey"]], part["isDefaultNewWard"], True
                )
            )
    return found
