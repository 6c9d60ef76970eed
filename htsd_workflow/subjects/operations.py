"""Creating subjects: households, clans (with member households), communities and units."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from htsd_workflow.core.errors import Conflict, InvalidInput
from htsd_workflow.core.text import nfc, search_key
from htsd_workflow.core.titles import ONE_PER_COMMUNE
from htsd_workflow.extensions import db
from htsd_workflow.geography.models import Unit, UnitSuccession
from htsd_workflow.subjects.models import KINDS, UNIT_TYPES, ClanMember, Subject


def create_subject(
    kind: str,
    name: str,
    unit_code: str,
    *,
    head_name: str | None = None,
    community_id: int | None = None,
    external_code: str | None = None,
    phone: str | None = None,
    address: str | None = None,
    unit_type: str | None = None,
    member_ids: list[int] | None = None,
) -> Subject:
    """Create a subject managed by the unit ``unit_code``.

    Households, clans and communities belong to a commune (a clan to its head's commune), and
    so does the commune itself as an applicant (kind ``commune``, one per commune); units are
    attached to the commune, district or province that manages them.
    """
    if kind not in KINDS:
        raise InvalidInput(
            _l("Loại đối tượng “%(kind)s” không hợp lệ.", kind=kind),
            details={"kind": _l("Chọn một trong: %(choices)s", choices=", ".join(KINDS))},
        )
    name = nfc(name)
    if not name:
        raise InvalidInput(_l("Thiếu tên."), details={"name": _l("Bắt buộc")})
    if len(name) > 300:
        raise InvalidInput(_l("Tên quá dài."), details={"name": _l("Tối đa 300 ký tự")})
    unit = db.session.get(Unit, str(unit_code)) if unit_code else None
    if unit is None:
        raise InvalidInput(
            _l("Mã đơn vị hành chính “%(code)s” không tồn tại.", code=unit_code),
            details={"unit_code": _l("Nhập mã GSO của xã (hoặc huyện/tỉnh với đơn vị)")},
        )
    if kind != "unit" and unit.level != "commune":
        raise InvalidInput(
            _l("Hộ gia đình, dòng họ và cộng đồng phải thuộc một xã/phường/thị trấn."),
            details={"unit_code": _l("Cần mã cấp xã")},
        )
    if unit.valid_to is not None:
        successors = db.session.scalars(
            select(UnitSuccession.successor_code).where(
                UnitSuccession.predecessor_code == unit.code
            )
        ).all()
        raise InvalidInput(
            _l(
                "%(name)s không còn từ %(day)s (sắp xếp đơn vị hành chính); đơn vị hiện hành: "
                "%(successors)s.",
                name=unit.name,
                day=unit.valid_to.isoformat(),
                successors=", ".join(successors) or "—",
            ),
            details={"unit_code": _l("Nhập mã đơn vị hiện hành")},
        )
    if kind == "unit" and unit_type is not None and unit_type not in UNIT_TYPES:
        raise InvalidInput(
            _l("Loại đơn vị “%(type)s” không hợp lệ.", type=unit_type),
            details={"unit_type": _l("Chọn một trong: %(choices)s", choices=", ".join(UNIT_TYPES))},
        )
    if community_id is not None:
        community = db.session.get(Subject, community_id)
        if (
            community is None
            or community.kind != "community"
            or (community.commune_code != unit.code)
        ):
            raise InvalidInput(
                _l("Thôn/tổ dân phố không tồn tại trong xã này."),
                details={"community_id": _l("Chọn thôn/làng của xã")},
            )
    if external_code and db.session.scalar(
        select(Subject.id).where(Subject.external_code == external_code)
    ):
        raise _code_taken(external_code)
    if kind in ONE_PER_COMMUNE and db.session.scalar(
        select(Subject.id).where(Subject.kind == kind, Subject.unit_code == unit.code)
    ):
        raise _commune_taken(unit)
    subject = Subject(
        kind=kind,
        name=name,
        name_search=search_key(name),
        unit_code=unit.code,
        managing_level=unit.level,
        province_code=unit.province_code,
        district_code=unit.district_code,
        commune_code=unit.code if unit.level == "commune" else None,
        community_id=community_id,
        head_name=nfc(head_name) or None,
        external_code=external_code or None,
        phone=phone or None,
        address=nfc(address) or None,
        unit_type=unit_type if kind == "unit" else None,
    )
    db.session.add(subject)
    try:
        db.session.flush()
    except IntegrityError as exc:
        # another request took the code between the check above and this insert; the
        # request's boundary rolls the transaction back
        if external_code and "external_code" in str(exc.orig):
            raise _code_taken(external_code) from exc
        if kind in ONE_PER_COMMUNE and "uq_subjects_one_commune" in str(exc.orig):
            raise _commune_taken(unit) from exc
        if kind in ONE_PER_COMMUNE and "subjects.unit_code" in str(exc.orig):  # SQLite's words
            raise _commune_taken(unit) from exc
        raise
    if member_ids:
        add_clan_members(subject, member_ids)
    return subject


def _commune_taken(unit: Unit) -> Conflict:
    """The refusal of a second subject for a commune's own title."""
    return Conflict(
        _l("%(name)s đã có trong danh sách đối tượng (mỗi xã một hồ sơ cấp xã).", name=unit.name),
        details={"unit_code": _l("Đã tồn tại")},
    )


def _code_taken(external_code: str) -> Conflict:
    """The refusal of a code in use. The subject holding it is not named: it may lie outside
    the caller's territory."""
    return Conflict(
        _l("Mã “%(code)s” đã được dùng cho một đối tượng khác.", code=external_code),
        details={"external_code": _l("Đã tồn tại")},
    )


def add_clan_members(clan: Subject, household_ids: list[int]) -> None:
    """Attach member households (from any commune) to a clan."""
    if clan.kind != "clan":
        raise InvalidInput(_l("Chỉ dòng họ mới có hộ thành viên."), details={"kind": _l("clan")})
    households = db.session.scalars(
        select(Subject).where(Subject.id.in_(household_ids), Subject.kind == "family")
    ).all()
    found = {h.id for h in households}
    unknown = [i for i in household_ids if i not in found]
    if unknown:
        raise InvalidInput(_l("Có hộ thành viên không tồn tại."), details={"member_ids": unknown})
    existing = set(
        db.session.scalars(select(ClanMember.household_id).where(ClanMember.clan_id == clan.id))
    )
    for household_id in household_ids:
        if household_id not in existing:
            db.session.add(ClanMember(clan_id=clan.id, household_id=household_id))
    db.session.flush()


def move_subjects(moves: dict[int, str]) -> int:
    """Put subjects under another managing unit (subject id → unit code), e.g. an old commune's
    successor after a reorganisation; return how many changed. Their cases keep their own
    unit path: the case operations carry the running ones."""
    changed = 0
    units = {
        u.code: u
        for u in db.session.scalars(select(Unit).where(Unit.code.in_(set(moves.values()))))
    }
    for subject in db.session.scalars(select(Subject).where(Subject.id.in_(list(moves)))):
        if subject.kind in ONE_PER_COMMUNE:
            # a commune applying as itself stays that commune: its successor applies anew
            continue
        unit = units[moves[subject.id]]
        values = {
            "unit_code": unit.code,
            "managing_level": unit.level,
            "province_code": unit.province_code,
            "district_code": unit.district_code,
            "commune_code": unit.code if unit.level == "commune" else None,
        }
        if any(getattr(subject, k) != v for k, v in values.items()):
            for key, value in values.items():
                setattr(subject, key, value)
            changed += 1
    db.session.flush()
    return changed
