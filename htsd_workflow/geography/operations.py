"""Import of the official geography (GSO codes) from the ``vietnam-provinces`` package."""

from __future__ import annotations

import json
from dataclasses import dataclass

import vietnam_provinces
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from htsd_workflow.core.errors import InvalidInput, NotFound
from htsd_workflow.core.models import assign_changed
from htsd_workflow.core.text import nfc, search_key
from htsd_workflow.extensions import db
from htsd_workflow.geography.models import DbkkPeriod, Unit


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0


def _divisions() -> list[dict]:
    with open(vietnam_provinces.NESTED_DIVISIONS_JSON_PATH, encoding="utf-8") as handle:
        return json.load(handle)


def _upsert(existing: Unit | None, values: dict, result: ImportResult) -> None:
    if existing is None:
        db.session.add(Unit(**values, is_dbkk=False, is_ethnic_minority=False))
        result.created += 1
        return
    if assign_changed(existing, values):
        result.updated += 1
    else:
        result.unchanged += 1


def import_province(province_code: str | int) -> ImportResult:
    """Create or update a province with its districts and communes; a second run changes nothing.

    The flags (ĐBKK, ethnic-minority area) are ours, not the package's: they are never touched.
    """
    code = int(province_code)
    province = next((p for p in _divisions() if p["code"] == code), None)
    if province is None:
        raise NotFound(_l("Không có tỉnh mã %(code)s trong dữ liệu GSO.", code=province_code))
    known = {
        u.code: u for u in db.session.scalars(select(Unit).where(Unit.province_code == str(code)))
    }
    result = ImportResult()
    province_code_str = str(code)
    _upsert(
        known.get(province_code_str),
        {
            "code": province_code_str,
            "name": nfc(province["name"]),
            "name_search": search_key(province["name"]),
            "level": "province",
            "division_type": province["division_type"],
            "parent_code": None,
            "province_code": province_code_str,
            "district_code": None,
        },
        result,
    )
    db.session.flush()
    for district in province["districts"]:
        district_code = str(district["code"])
        _upsert(
            known.get(district_code),
            {
                "code": district_code,
                "name": nfc(district["name"]),
                "name_search": search_key(district["name"]),
                "level": "district",
                "division_type": district["division_type"],
                "parent_code": province_code_str,
                "province_code": province_code_str,
                "district_code": district_code,
            },
            result,
        )
    db.session.flush()
    for district in province["districts"]:
        for ward in district["wards"]:
            ward_code = str(ward["code"])
            _upsert(
                known.get(ward_code),
                {
                    "code": ward_code,
                    "name": nfc(ward["name"]),
                    "name_search": search_key(ward["name"]),
                    "level": "commune",
                    "division_type": ward["division_type"],
                    "parent_code": str(district["code"]),
                    "province_code": province_code_str,
                    "district_code": str(district["code"]),
                },
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
