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
from sqlalchemy import func, select

from htsd_workflow.audit.operations import record_audit
from htsd_workflow.auth.models import User
from htsd_workflow.auth.operations import deactivate_user, update_user
from htsd_workflow.auth.scope import in_scope, units_in_territory
from htsd_workflow.cases.models import Case
from htsd_workflow.cases.operations import carry_cases
from htsd_workflow.core.errors import Conflict, InvalidInput, NotFound
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


def assign_subject(
    subject_id: int, unit_code: str, *, actor: User | None = None, now: datetime | None = None
) -> Subject:
    """Place a subject the reform left for a person to assign (a split commune's, an abolished
    district's) under a unit of today; its running cases and its applicant accounts follow,
    with an audit entry (``actor`` None: the command line). A subject already there is left
    as it is (a second submission changes nothing)."""
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
    if subject.unit_code == unit.code:
        return subject  # placed there already
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
    record_audit(
        "subject_assigned",
        actor=actor,
        target=f"subject:{subject.id}",
        details={"from": old, "to": unit.code, "cases": len(ids)},
        province_code=unit.province_code,
    )
    db.session.flush()
    return subject


@dataclass(frozen=True)
class Candidate:
    """A successor commune a split commune's subject may be placed under."""

    code: str
    name: str
    #: the part of the old commune that went to it, when the decision says so
    share: float | None
    #: the one the official conversion table names when an address cannot say which
    is_default: bool


@dataclass
class Awaiting:
    """A subject of a split commune still under its old commune, and where it may go."""

    subject: Subject
    old_unit: Unit
    candidates: list[Candidate]
    #: its running cases (they follow it)
    running: int


def _split_candidates(user: User, old_codes=None) -> dict[str, list[Candidate]]:
    """The closed communes split between several new ones (all of them, or ``old_codes``),
    with their successors inside the user's territory: old unit key → candidates."""
    split = (
        select(UnitSuccession.predecessor_code)
        .group_by(UnitSuccession.predecessor_code)
        .having(func.count() > 1)
    )
    statement = (
        select(UnitSuccession, Unit.name)
        .join(Unit, Unit.code == UnitSuccession.successor_code)
        .where(
            UnitSuccession.predecessor_code.in_(split),
            units_in_territory(user),
            Unit.valid_to.is_(None),
            Unit.level == "commune",
        )
        .order_by(UnitSuccession.predecessor_code, Unit.name, Unit.code)
    )
    if old_codes is not None:
        statement = statement.where(UnitSuccession.predecessor_code.in_(list(old_codes)))
    found: dict[str, list[Candidate]] = defaultdict(list)
    for succession, name in db.session.execute(statement):
        found[succession.predecessor_code].append(
            Candidate(succession.successor_code, name, succession.share, succession.is_default)
        )
    closed = set(
        db.session.scalars(
            select(Unit.code).where(Unit.code.in_(list(found)), Unit.valid_to.is_not(None))
        )
    )
    return {code: found[code] for code in found if code in closed}


def subjects_awaiting_assignment(user: User) -> list[Awaiting]:
    """The subjects of split communes that no officer has placed yet, whose old commune has a
    successor in the user's territory, with those successors (by old commune, then name)."""
    candidates = _split_candidates(user)
    if not candidates:
        return []
    subjects = db.session.scalars(
        select(Subject)
        .where(Subject.unit_code.in_(list(candidates)))
        .order_by(Subject.unit_code, Subject.name, Subject.id)
    ).all()
    running = dict(
        db.session.execute(
            select(Case.subject_id, func.count())
            .where(Case.subject_id.in_([s.id for s in subjects]), Case.is_open.is_(True))
            .group_by(Case.subject_id)
        ).all()
    )
    old_units = {
        u.code: u for u in db.session.scalars(select(Unit).where(Unit.code.in_(list(candidates))))
    }
    return [
        Awaiting(s, old_units[s.unit_code], candidates[s.unit_code], running.get(s.id, 0))
        for s in subjects
    ]


def assign_split_subjects(choices: dict[int, str], actor: User, *, now=None) -> int:
    """Place subjects of split communes under the successor chosen for each (subject id →
    unit key), all or none; return how many moved. A subject already under its chosen unit is
    left (a second submission changes nothing); one another officer placed elsewhere since is
    a conflict; a unit that is not one of its old commune's successors in the actor's
    territory is refused, as is a subject outside it."""
    if not choices:
        raise InvalidInput(
            _l("Chọn xã mới cho ít nhất một đối tượng."),
            details={"unit": _l("Chọn xã mới")},
        )
    subjects = {
        s.id: s for s in db.session.scalars(select(Subject).where(Subject.id.in_(list(choices))))
    }
    candidates = _split_candidates(actor, {s.unit_code for s in subjects.values()})
    errors: dict[str, object] = {}
    moves: dict[int, str] = {}
    for subject_id, unit_code in choices.items():
        subject = subjects.get(subject_id)
        awaiting = subject is not None and subject.unit_code in candidates
        placed = not awaiting and subject is not None and subject.unit_code == unit_code
        if placed and in_scope(actor, subject):
            continue  # placed there already: the same choice submitted twice
        if not awaiting:
            if subject is not None and in_scope(actor, subject):
                raise Conflict(
                    _l(
                        "Đối tượng “%(name)s” đã được chỉ định vào đơn vị khác; tải lại trang.",
                        name=subject.name,
                    ),
                    details={"subject": subject_id},
                )
            raise NotFound(_l("Không tìm thấy đối tượng trong phạm vi của bạn."))
        if unit_code not in {c.code for c in candidates[subject.unit_code]}:
            errors[str(subject_id)] = _l("Chọn một xã mới được hình thành từ xã cũ của đối tượng.")
            continue
        moves[subject_id] = unit_code
    if errors:
        raise InvalidInput(_l("Xã mới đã chọn không hợp lệ cho một số đối tượng."), details=errors)
    for subject_id, unit_code in moves.items():
        assign_subject(subject_id, unit_code, actor=actor, now=now)
    return len(moves)
