"""Import of the official geography (GSO codes) from the lists in ``geography.sources``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from htsd_workflow.core.errors import InvalidInput, NotFound
from htsd_workflow.core.models import assign_changed
from htsd_workflow.core.text import nfc, search_key
from htsd_workflow.extensions import db
from htsd_workflow.geography import sources
from htsd_workflow.geography.models import KEY_SUFFIX, DbkkPeriod, Unit


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    #: which list the province came from: "two_tier" (today's) or "three_tier" (before 2025)
    structure: str = "three_tier"


#: the first day of the two-tier structure (Nghị quyết 202/2025/QH15, Luật TCCQĐP 2025)
REFORM_DAY = date(2025, 7, 1)


def unit_key(gso_code: str, structure: str, known: dict[str, Unit]) -> str:
    """The key a unit of ``structure`` with ``gso_code`` has, or gets, in the units table.

    Its code, unless a unit of the other structure already holds that code: then the code with
    the structure's suffix, so that an old unit and a new one of the same code stay two units.
    """
    holder = known.get(gso_code)
    if holder is None or holder.structure == structure or holder.level == "province":
        return gso_code
    return gso_code + KEY_SUFFIX[structure]


def _known_units(codes: set[str]) -> dict[str, Unit]:
    keys = codes | {c + suffix for c in codes for suffix in KEY_SUFFIX.values()}
    return {u.code: u for u in db.session.scalars(select(Unit).where(Unit.code.in_(keys)))}


def _upsert(known: dict[str, Unit], values: dict, result: ImportResult) -> Unit:
    existing = known.get(values["code"])
    if existing is None:
        unit = Unit(**values, is_dbkk=False, is_ethnic_minority=False)
        db.session.add(unit)
        known[unit.code] = unit
        result.created += 1
        return unit
    if assign_changed(existing, values):
        result.updated += 1
    else:
        result.unchanged += 1
    return existing


def _unit_values(source, key: str, level: str, structure: str, **path) -> dict:
    return {
        "code": key,
        "gso_code": source.code,
        "name": nfc(source.name),
        "name_search": search_key(source.name),
        "level": level,
        "division_type": source.division_type,
        "structure": structure,
        **path,
    }


def import_province(province_code: str | int, *, before_2025: bool = False) -> ImportResult:
    """Create or update a province from the official lists; a second run changes nothing.

    From today's two-tier list when the province is in it (communes directly under the
    province), otherwise — or with ``before_2025`` — from the pre-2025 three-tier list. The flags
    (ĐBKK, ethnic-minority area) and the periods a reform set are ours: never touched.
    """
    raw = str(province_code).strip()
    if not raw.isdigit() or len(raw) > 2:
        raise InvalidInput(
            _l("Mã tỉnh phải là một hoặc hai chữ số (mã GSO), không phải “%(code)s”.", code=raw),
            details={"province": raw},
        )
    source = None if before_2025 else sources.new_province(raw)
    structure = "two_tier"
    if source is None:
        source = sources.old_province(raw)
        structure = "three_tier"
    if source is None:
        raise NotFound(_l("Không có tỉnh mã %(code)s trong dữ liệu GSO.", code=raw))
    codes = {source.code} | {c.code for c in source.children}
    codes |= {w.code for c in source.children for w in c.children}
    known = _known_units(codes)
    result = ImportResult(structure=structure)
    province = known.get(source.code)
    values = _unit_values(
        source, source.code, "province", structure, parent_code=None, province_code=source.code
    )
    values["district_code"] = None
    if province is not None:
        # one province across the reform (Quảng Ngãi keeps 51): its structure and workflow set
        # change when the reform is carried out, not when a list is read
        values.pop("structure")
    elif structure == "two_tier":
        # a province from today's list runs the two-tier definitions; one from the old list
        # the installation's default (WORKFLOW_SET, three_tier unless configured)
        values["workflow_set"] = structure
    _upsert(known, values, result)
    db.session.flush()
    if structure == "two_tier":
        for commune in source.children:
            key = unit_key(commune.code, structure, known)
            values = _unit_values(
                commune,
                key,
                "commune",
                structure,
                parent_code=source.code,
                province_code=source.code,
                district_code=None,
            )
            values["valid_from"] = REFORM_DAY
            _upsert(known, values, result)
        db.session.flush()
        return result
    for district in source.children:
        district_key = unit_key(district.code, structure, known)
        _upsert(
            known,
            _unit_values(
                district,
                district_key,
                "district",
                structure,
                parent_code=source.code,
                province_code=source.code,
                district_code=district_key,
            ),
            result,
        )
    db.session.flush()
    for district in source.children:
        district_key = unit_key(district.code, structure, known)
        for ward in district.children:
            _upsert(
                known,
                _unit_values(
                    ward,
                    unit_key(ward.code, structure, known),
                    "commune",
                    structure,
                    parent_code=district_key,
                    province_code=source.code,
                    district_code=district_key,
                ),
                result,
            )
    db.session.flush()
    return result


def get_unit(code: str) -> Unit:
    unit = db.session.get(Unit, str(code))
    if unit is None:
        raise NotFound(
            _l("Mã đơn vị hành chính “%(code)s” không tồn tại.", code=code),
            details={"unit_code": code},
        )
    return unit


def set_commune_flags(
    code: str,
    *,
    is_dbkk: bool | None = None,
    is_ethnic_minority: bool | None = None,
    from_year: int | None = None,
    to_year: int | None = None,
) -> Unit:
    """Change a commune's ĐBKK / ethnic-minority flags; ĐBKK with years adds a list period."""
    unit = get_unit(code)
    if unit.level != "commune":
        raise InvalidInput(
            _l("Chỉ xã/phường/thị trấn mới có cờ ĐBKK."), details={"unit_code": _l("Cần mã cấp xã")}
        )
    if is_ethnic_minority is not None:
        unit.is_ethnic_minority = is_ethnic_minority
    if is_dbkk is not None:
        unit.is_dbkk = is_dbkk
        if is_dbkk and from_year is not None:
            if to_year is not None and to_year < from_year:
                raise InvalidInput(
                    _l("Năm kết thúc phải sau năm bắt đầu."),
                    details={"to_year": _l("Không hợp lệ")},
                )
            db.session.add(DbkkPeriod(unit_code=unit.code, from_year=from_year, to_year=to_year))
    db.session.flush()
    return unit
