"""The 2025 reorganisation carried out on one new province, as one operation.

``carry_out_reform("51", date(2025, 7, 1))`` carries every old unit that became part of new
province 51 into it, by the official conversion table (``sources.successions``):

- old units close the day before, today's open on the day; each old commune is linked to its
  successor(s) (``UnitSuccession``);
- subjects move to their old commune's successor; those of a commune split between several
  new ones, or managed by an abolished district, are listed for an officer to assign;
- accounts follow their territory (the auth operation, with its audit entry); reviewers of an
  abolished district are deactivated and their claims released (its managers keep reading its
  history);
- running cases move to the two-tier definition by the state mapping (the workflow files'
  ``carried_from``, overridable), with a history row naming the old and new units (the case
  operation); finished cases stay as they were, under their old units;
- denominators and ĐBKK lists stay with the old units.

Nothing here commits: the command commits once (or, for ``--dry-run``, rolls back). A second
run changes nothing.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from htsd_workflow.auth.models import User
from htsd_workflow.auth.operations import deactivate_user, update_user
from htsd_workflow.cases.models import Case
from htsd_workflow.cases.operations import carry_cases
from htsd_workflow.core.errors import InvalidInput, NotFound
from htsd_workflow.core.titles import ONE_PER_COMMUNE
from htsd_workflow.extensions import db
from htsd_workflow.geography import sources
from htsd_workflow.geography.models import Unit, UnitSuccession
from htsd_workflow.geography.operations import import_province
from htsd_workflow.subjects.models import Subject
from htsd_workflow.subjects.operations import move_subjects

#: the history comment of a case carried by the reform
REFORM_COMMENT = "Chuyển theo sắp xếp đơn vị hành chính"


@dataclass
class ReformReport:
    """What the reform did (or would do): every figure counts a change, so a second run is 0."""

    units_opened: int = 0
    units_closed: int = 0
    successions: int = 0
    subjects_moved: int = 0
    accounts_moved: int = 0
    accounts_deactivated: int = 0
    #: (from set/state, to set/state) → cases carried
    cases: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    #: subjects left for a person to assign: (id, name, old unit key, why)
    to_assign: list[tuple[int, str, str, str]] = field(default_factory=list)
    #: staff accounts of a split commune, left for an admin to place: (username, old unit key)
    accounts_to_assign: list[tuple[str, str]] = field(default_factory=list)
    #: old units of the table that this database does not hold
    not_held: int = 0

    @property
    def changed(self) -> bool:
        return any(
            (
                self.units_opened,
                self.units_closed,
                self.successions,
                self.subjects_moved,
                self.accounts_moved,
                self.accounts_deactivated,
                sum(self.cases.values()),
            )
        )


def _held(level_codes: set[str], structure: str) -> dict[str, Unit]:
    """Units of ``structure`` by GSO code."""
    if not level_codes:
        return {}
    return {
        u.gso_code: u
        for u in db.session.scalars(
            select(Unit).where(Unit.gso_code.in_(level_codes), Unit.structure == structure)
        )
    }


def carry_out_reform(
    province_code: str,
    effective: date,
    *,
    state_map: dict | None = None,
    now: datetime | None = None,
) -> ReformReport:
    """Carry the old units that became part of ``province_code`` into it (see module).

    ``now`` is the moment the cases' history rows carry (the demo replays the reform's day).
    """
    code = sources.gso(province_code, "province")
    if sources.new_province(code) is None:
        raise NotFound(
            _l("Không có tỉnh mã %(code)s trong danh mục hiện hành (từ 01/7/2025).", code=code)
        )
    report = ReformReport()
    eve = effective - timedelta(days=1)
    table = sources.successions(code)
    old_units = _held({s.old_code for s in table}, "three_tier")
    report.not_held = len({s.old_code for s in table} - set(old_units))
    if not old_units:
        raise InvalidInput(
            _l(
                "Cơ sở dữ liệu chưa có đơn vị cũ nào của tỉnh mã %(code)s: "
                "nhập danh mục trước 01/7/2025 trước (geo import --before-2025).",
                code=code,
            )
        )
    held_before = set(_held({s.new_code for s in table}, "two_tier"))
    import_province(code)  # today's units, if not imported yet
    new_units = _held({s.new_code for s in table}, "two_tier")
    opened = set(new_units) - held_before
    for gso_code, unit in new_units.items():
        if unit.valid_from != effective:
            unit.valid_from = effective
            opened.add(gso_code)
    report.units_opened = len(opened)

    # the province: its structure and workflow set from the day on
    province = db.session.get(Unit, code)
    if (province.structure, province.workflow_set) != ("two_tier", "two_tier"):
        province.structure = "two_tier"
        province.workflow_set = "two_tier"

    # successions, and the old units' end
    successors: dict[str, list[Unit]] = defaultdict(list)
    default_of: dict[str, Unit] = {}
    existing = {
        (s.predecessor_code, s.successor_code)
        for s in db.session.scalars(
            select(UnitSuccession).where(
                UnitSuccession.predecessor_code.in_([u.code for u in old_units.values()])
            )
        )
    }
    for item in table:
        old = old_units.get(item.old_code)
        if old is None:
            continue
        new = new_units[item.new_code]
        successors[old.code].append(new)
        if item.is_default:
            default_of[old.code] = new
        if (old.code, new.code) not in existing:
            db.session.add(
                UnitSuccession(
                    predecessor_code=old.code,
                    successor_code=new.code,
                    effective_on=effective,
                    share=None if item.is_split else 1.0,
                    is_default=item.is_default,
                )
            )
            report.successions += 1
    old_provinces = {u.province_code for u in old_units.values()}
    closing = list(old_units.values())
    closing += db.session.scalars(
        select(Unit).where(
            Unit.province_code.in_(old_provinces),
            Unit.structure == "three_tier",
            Unit.level == "district",
        )
    ).all()
    closing += [db.session.get(Unit, p) for p in old_provinces if p != code]
    for unit in closing:
        if unit.valid_to != eve:
            unit.valid_to = eve
            report.units_closed += 1
    for other in old_provinces - {code}:
        if (other, code) not in existing and not db.session.scalar(
            select(UnitSuccession.id).where(
                UnitSuccession.predecessor_code == other, UnitSuccession.successor_code == code
            )
        ):
            db.session.add(
                UnitSuccession(predecessor_code=other, successor_code=code, effective_on=effective)
            )
            report.successions += 1
    db.session.flush()

    # where each old unit's subjects, accounts and running cases go
    target: dict[str, Unit | None] = {}
    districts = {u.code for u in closing if u.level == "district"}
    for district in districts:
        target[district] = None
    for old in old_units.values():  # a district of the table (Lý Sơn) has its successor
        following = successors.get(old.code, [])
        target[old.code] = following[0] if len(following) == 1 else None
    for other in old_provinces:
        target[other] = province
    old_keys = set(target)

    subjects = db.session.scalars(
        select(Subject).where(Subject.unit_code.in_(old_keys)).order_by(Subject.id)
    ).all()
    moves: dict[int, str] = {}
    for subject in subjects:
        if subject.kind in ONE_PER_COMMUNE:
            continue  # the old commune's own subject stays with it (move_subjects)
        new = target[subject.unit_code]
        if new is None:
            why = "district" if subject.unit_code in districts else "split"
            report.to_assign.append((subject.id, subject.name, subject.unit_code, why))
        else:
            moves[subject.id] = new.code
    report.subjects_moved = move_subjects(moves)

    # accounts
    for user in db.session.scalars(
        select(User).where(User.unit_code.in_(old_keys), User.role != "applicant")
    ):
        new = target[user.unit_code]
        if user.unit_code in districts:
            # a district's managers keep reading its history (read-only); its reviewers go
            if user.role != "manager" and user.is_active_user:
                deactivate_user(user)
                report.accounts_deactivated += 1
        elif new is not None and new.code != user.unit_code:
            _move_account(user, new.code)
            report.accounts_moved += 1
        elif new is None and user.is_active_user:
            report.accounts_to_assign.append((user.username, user.unit_code))
    moved_subjects = set(moves)
    for user in db.session.scalars(
        select(User).where(User.role == "applicant", User.subject_id.in_(moved_subjects))
    ):
        subject = db.session.get(Subject, user.subject_id)
        if user.unit_code != subject.unit_code:
            _move_account(user, None)
            report.accounts_moved += 1

    # running cases: to the two-tier definition, under their subject's new unit
    rows = db.session.execute(
        select(
            Case.id,
            Case.workflow,
            Case.state,
            Case.subject_id,
            Case.commune_code,
            Case.district_code,
            Case.province_code,
        )
        .where(
            Case.is_open.is_(True),
            Case.province_code.in_(old_provinces),
        )
        .order_by(Case.id)
    ).all()
    subject_unit = {s.id: s for s in subjects}
    paths, data, ids = {}, {}, []
    for row in rows:
        subject = subject_unit.get(row.subject_id) or db.session.get(Subject, row.subject_id)
        path = (subject.province_code, subject.district_code, subject.commune_code)
        old_path = (row.province_code, row.district_code, row.commune_code)
        if row.workflow.startswith("two_tier/") and path == old_path:
            continue
        ids.append(row.id)
        if path != old_path:
            paths[row.id] = path
        data[row.id] = {
            "from_unit": row.commune_code or row.district_code or row.province_code,
            "to_unit": path[2] or path[1] or path[0],
        }
    plan = carry_cases(
        ids,
        "two_tier",
        state_map=state_map,
        comment=REFORM_COMMENT,
        paths=paths,
        data=data,
        now=now,
    )
    if plan.unmapped:
        raise InvalidInput(
            _l(
                "Có hồ sơ đang ở bước không có trong quy trình hai cấp: %(states)s.",
                states=", ".join(sorted(plan.unmapped)),
            ),
            details={state: len(ids) for state, ids in plan.unmapped.items()},
        )
    for (from_set, old_state, new_state), count in plan.moves.items():
        report.cases[(f"{from_set}/{old_state}", f"two_tier/{new_state}")] += count
    db.session.flush()
    return report


def _move_account(user: User, unit_code: str | None) -> None:
    """An account follows its territory (an applicant its subject), with its audit entry."""
    update_user(
        user,
        role=user.role,
        unit_code=unit_code,
        subject_id=user.subject_id,
        full_name=user.full_name,
        email=user.email,
        phone=user.phone,
    )


def assign_subject(subject_id: int, unit_code: str, *, now: datetime | None = None) -> Subject:
    """Place a subject the reform left for a person to assign (a split commune's, an abolished
    district's) under a unit of today; its running cases and its applicant accounts follow."""
    subject = db.session.get(Subject, subject_id)
    if subject is None:
        raise NotFound(_l("Không có đối tượng mã %(id)s.", id=subject_id))
    unit = db.session.get(Unit, unit_code)
    if unit is None or unit.valid_to is not None:
        raise InvalidInput(
            _l("Mã “%(code)s” không phải đơn vị hành chính hiện hành.", code=unit_code),
            details={"unit": unit_code},
        )
    if subject.kind != "unit" and unit.level != "commune":
        raise InvalidInput(
            _l("Hộ gia đình, dòng họ và cộng đồng phải thuộc một xã/phường/thị trấn."),
            details={"unit": unit_code},
        )
    old = subject.unit_code
    move_subjects({subject.id: unit.code})
    path = (unit.province_code, unit.district_code, unit.code if unit.level == "commune" else None)
    ids = list(
        db.session.scalars(
            select(Case.id).where(Case.subject_id == subject.id, Case.is_open.is_(True))
        )
    )
    province = db.session.get(Unit, unit.province_code)
    carry_cases(
        ids,
        province.workflow_set or "two_tier",
        comment=REFORM_COMMENT,
        paths={case_id: path for case_id in ids},
        data={case_id: {"from_unit": old, "to_unit": unit.code} for case_id in ids},
        now=now,
    )
    for user in db.session.scalars(
        select(User).where(User.role == "applicant", User.subject_id == subject.id)
    ):
        _move_account(user, None)
    db.session.flush()
    return subject
