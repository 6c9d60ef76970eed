"""Generate benchmark data on a real province's geography (PostgreSQL only).

Shape of the data (``generate``):

* subjects in every commune — households (about 92 %), their villages (communities), clans and
  commune-managed units — plus units managed by each district and by the province; each with
  an applicant account, and each clan with member households;
* reviewer accounts ``xa<commune code>`` and ``huyen<district code>``, the two provincial
  departments ``sogddt`` / ``sovhttdl``, ``hoikhuyenhoc``, ``lanhdaotinh``, ``admin`` and a
  manager ``lanhdaohuyen<district code>`` per district; all share one password hash;
* cases over the chosen years, created mostly early in each year. Older years end mostly in a
  final state; the current year is spread over every state, its open cases with realistic
  ages in their stage (about 30 % overdue). The history has a row for every step (create,
  assess, submit, claim, adjust_scores, approve, sign, returns and resubmissions, reject,
  withdraw), with from/to states chained exactly as the core writes them; stage visits,
  sign-offs and assessment items follow the same rules as ``cases.writing._apply``.

Not generated: outbox rows (a running system has delivered them), escalation rungs (cases wait
for the escalation scan), extended deadlines and calendar exceptions. Case ids follow creation
order, so the history is roughly in time order, as in a live database.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import multiprocessing
import os
import random
import secrets
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import select, text, update
from sqlalchemy.exc import ProgrammingError
from werkzeug.security import generate_password_hash

from bench.data.days import MINUTES_PER_DAY, DayTable
from bench.data.load import (
    CopyWriter,
    connect,
    drop_keys_and_indexes,
    restore_keys_and_indexes,
    set_sequences,
)
from bench.data.simulate import (
    OVERDUE_SHARE,
    CaseSimulator,
    Rows,
    SubjectInfo,
)
from htsd_workflow.cases.engine import get_registry
from htsd_workflow.cases.operations import ensure_round
from htsd_workflow.core.calendar import get_calendar
from htsd_workflow.core.errors import DomainError
from htsd_workflow.core.text import search_key
from htsd_workflow.core.time import to_local, utcnow
from htsd_workflow.demo.seed import FAMILY_NAMES, GIVEN_NAMES
from htsd_workflow.extensions import db
from htsd_workflow.geography.models import Unit
from htsd_workflow.geography.operations import import_province
from htsd_workflow.geography.queries import dbkk_communes

BENCH_PASSWORD = "demo1234"
#: changes whenever the shape of the generated data changes (the bench regenerates then)
GENERATOR_VERSION = 1
#: share of subjects that apply in a given year
PARTICIPATION = 0.88
#: cases simulated per COPY batch
BATCH = 10_000
#: tables the generator loads (and empties first)
LOADED_TABLES = [
    "subjects",
    "clan_members",
    "users",
    "cases",
    "case_events",
    "stage_visits",
    "sign_offs",
    "assessment_items",
]
#: tables ``reset`` keeps: the geography, the calendar and the migration marker
KEPT_TABLES = {"units", "dbkk_periods", "calendar_exceptions", "alembic_version"}

#: target states (and weights) of cases of the current year, and of older years
CURRENT_YEAR_TARGETS = (
    ("draft", 7),
    ("commune_review", 18),
    ("returned", 6),
    ("district_verification", 13),
    ("provincial_confirmation", 12),
    ("recognized", 34),
    ("rejected", 5),
    ("withdrawn", 5),
)
OLDER_YEAR_TARGETS = (
    ("recognized", 80),
    ("rejected", 7),
    ("withdrawn", 5),
    ("draft", 3),
    ("returned", 2),
    ("commune_review", 1),
    ("district_verification", 1),
    ("provincial_confirmation", 1),
)
#: review outcomes not reached by an open case's stay
FINAL_OR_APPLICANT = ("draft", "returned", "recognized", "rejected", "withdrawn")

COLUMNS = {
    "subjects": (
        "id",
        "kind",
        "name",
        "name_search",
        "unit_code",
        "managing_level",
        "province_code",
        "district_code",
        "commune_code",
        "community_id",
        "head_name",
        "external_code",
        "phone",
        "address",
        "unit_type",
        "created_at",
    ),
    "clan_members": ("id", "clan_id", "household_id"),
    "users": (
        "id",
        "username",
        "password_hash",
        "role",
        "unit_code",
        "unit_level",
        "subject_id",
        "full_name",
        "email",
        "phone",
        "is_active_user",
        "locale",
        "created_at",
        "session_token",
        "must_change_password",
    ),
    "cases": (
        "id",
        "subject_id",
        "title",
        "year",
        "workflow",
        "criteria_set_id",
        "state",
        "is_open",
        "entry_level",
        "returned_from",
        "province_code",
        "district_code",
        "commune_code",
        "stage_entered_at",
        "due_at",
        "is_extended",
        "escalation_rung",
        "is_escalated",
        "claimed_by_id",
        "claimed_at",
        "self_score",
        "score",
        "submitted_at",
        "decided_at",
        "created_at",
        "version",
    ),
    "case_events": (
        "case_id",
        "at",
        "actor_id",
        "actor_role",
        "trigger",
        "from_state",
        "to_state",
        "comment",
        "data",
    ),
    "stage_visits": (
        "case_id",
        "stage",
        "title",
        "year",
        "province_code",
        "district_code",
        "commune_code",
        "entered_at",
        "due_at",
        "left_at",
        "outcome",
        "working_days",
        "is_late",
        "is_escalated",
    ),
    "sign_offs": ("case_id", "department", "user_id", "at"),
    "assessment_items": (
        "case_id",
        "code",
        "position",
        "score",
        "evidence",
        "entered_by_id",
        "reviewed_score",
        "review_note",
        "reviewed_by_id",
        "reviewed_stage",
    ),
}

UNIT_NAMES = (
    ("school", "Trường Tiểu học"),
    ("school", "Trường Mầm non"),
    ("school", "Trường THCS"),
    ("agency", "Trạm Y tế"),
    ("organisation", "Hợp tác xã nông nghiệp"),
    ("enterprise", "Doanh nghiệp tư nhân"),
)
DISTRICT_UNIT_NAMES = (
    ("agency", "Phòng Giáo dục và Đào tạo"),
    ("school", "Trường THPT"),
    ("agency", "Trung tâm Y tế"),
    ("organisation", "Hội Phụ nữ"),
)
PROVINCE_UNIT_NAMES = (
    ("agency", "Sở"),
    ("school", "Trường THPT chuyên"),
    ("enterprise", "Công ty cổ phần"),
)


class BenchDataError(DomainError):
    """The generator cannot run here (wrong database, data present, bad arguments)."""

    code = "bench_data"


@dataclass
class GenerateResult:
    rows: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    states: dict[int, dict[str, int]] = field(default_factory=dict)

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    def as_dict(self) -> dict:
        return {
            "rows": self.rows,
            "seconds": {k: round(v, 2) for k, v in self.seconds.items()},
            "states": {str(k): v for k, v in self.states.items()},
        }


def _require_postgres() -> None:
    if db.engine.dialect.name != "postgresql":
        raise BenchDataError(
            "The bench data generator needs PostgreSQL (it loads with COPY); this app uses "
            f"{db.engine.dialect.name}. Set DATABASE_URL=postgresql://user@host/database."
        )


def reset() -> list[str]:
    """Empty every data table (all but the geography, calendar and migration marker)."""
    _require_postgres()
    db.session.commit()
    db.session.remove()
    tables = [t.name for t in db.metadata.sorted_tables if t.name not in KEPT_TABLES]
    with db.engine.begin() as connection:
        names = ", ".join(f'"{name}"' for name in tables)
        connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    return tables


# --- people and places ---------------------------------------------------------------------


def _person(rng: random.Random) -> str:
    return f"{rng.choice(FAMILY_NAMES)} {rng.choice(GIVEN_NAMES)}"


def _null(value) -> str:
    return "\\N" if value is None else str(value)


class _Subjects:
    """Subject rows (and clan members), numbered from ``first_id``."""

    def __init__(self, rng, created_text: str, first_id: int = 1, first_member_id: int = 1):
        self.rng = rng
        self.created_text = created_text
        self.lines: list[str] = []
        self.clan_lines: list[str] = []
        self.infos: list[SubjectInfo] = []
        #: (managing unit code, the name its applicant account shows) per subject
        self.holders: list[tuple[str, str]] = []
        self.keys: dict[str, str] = {}
        self._next_id = first_id
        self._next_member = first_member_id

    def populate(self, province, districts, communes, total: int) -> None:
        """About ``total`` subjects over the province, most of them households."""
        rng = self.rng
        weights = [rng.lognormvariate(0, 0.6) for _ in communes]
        scale = round(total * 0.92) / sum(weights)
        for commune, weight in zip(communes, weights, strict=True):
            self.commune(commune, max(20, round(weight * scale)))
        per_district = max(3, round(total * 0.006 / max(1, len(districts))))
        for district in districts:
            for number in range(1, per_district + 1):
                unit_type, label = DISTRICT_UNIT_NAMES[number % len(DISTRICT_UNIT_NAMES)]
                name = f"{label} số {number} {district.name}"
                code = f"U{district.code}-{number}"
                self._add("unit", name, district, None, None, code, unit_type)
        for number in range(1, max(5, round(total * 0.002)) + 1):
            unit_type, label = PROVINCE_UNIT_NAMES[number % len(PROVINCE_UNIT_NAMES)]
            name = f"{label} số {number} tỉnh {province.name}"
            code = f"U{province.code}-{number}"
            self._add("unit", name, province, None, None, code, unit_type)

    def households(self, commune: Unit, count: int, tag: str) -> None:
        """``count`` more households in a commune (external codes carry ``tag``)."""
        for n in range(1, count + 1):
            head = _person(self.rng)
            code = f"H{commune.code}-{tag}{n:05d}"
            self._add("family", f"Hộ {head}", commune, None, head, code)

    def _key(self, name: str) -> str:
        key = self.keys.get(name)
        if key is None:
            key = self.keys[name] = search_key(name)
        return key

    def _add(self, kind, name, unit, community_id, head, code, unit_type=None) -> int:
        subject_id = self._next_id
        self._next_id += 1
        commune_code = unit.code if unit.level == "commune" else None
        self.lines.append(
            f"{subject_id}\t{kind}\t{name}\t{self._key(name)}\t{unit.code}\t{unit.level}"
            f"\t{unit.province_code}\t{_null(unit.district_code)}\t{_null(commune_code)}"
            f"\t{_null(community_id)}\t{_null(head)}\t{code}\t\\N\t\\N\t{_null(unit_type)}"
            f"\t{self.created_text}\n"
        )
        self.infos.append(
            SubjectInfo(
                id=subject_id,
                title=kind,
                level=unit.level,
                province_code=unit.province_code,
                district_code=unit.district_code,
                commune_code=commune_code,
                applicant_id=0,  # set once the accounts are numbered
            )
        )
        self.holders.append((unit.code, head or name))
        return subject_id

    def commune(self, commune: Unit, households: int) -> None:
        """A commune's villages, households, clans (with members) and units."""
        rng = self.rng
        village = "Tổ dân phố" if commune.division_type.lower() == "phường" else "Thôn"
        villages = [
            self._add(
                "community",
                f"{village} {n}, {commune.name}",
                commune,
                None,
                _person(rng),
                f"C{commune.code}-{n}",
            )
            for n in range(1, max(3, round(households / 150)) + 1)
        ]
        homes = []
        for n in range(1, households + 1):
            head = _person(rng)
            homes.append(
                self._add(
                    "family",
                    f"Hộ {head}",
                    commune,
                    rng.choice(villages),
                    head,
                    f"H{commune.code}-{n:05d}",
                )
            )
        for n in range(1, max(1, round(households / 70)) + 1):
            family = rng.choice(FAMILY_NAMES)
            clan = self._add(
                "clan",
                f"Dòng họ {family} số {n} ({commune.name})",
                commune,
                None,
                f"{family} {rng.choice(GIVEN_NAMES)}",
                f"D{commune.code}-{n}",
            )
            for household in rng.sample(homes, min(len(homes), rng.randint(5, 15))):
                self.clan_lines.append(f"{self._next_member}\t{clan}\t{household}\n")
                self._next_member += 1
        for n in range(1, max(2, round(households / 90)) + 1):
            unit_type, label = UNIT_NAMES[n % len(UNIT_NAMES)]
            self._add(
                "unit",
                f"{label} số {n} {commune.name}",
                commune,
                None,
                _person(rng),
                f"U{commune.code}-{n}",
                unit_type,
            )


class _Accounts:
    """User rows, numbered from ``first_id``: reviewers, then one applicant per subject."""

    def __init__(self, password_hash: str, created_text: str, first_id: int = 1):
        self.password_hash = password_hash
        self.created_text = created_text
        self.lines: list[str] = []
        self.ids: dict[str, int] = {}
        self._next_id = first_id

    def reviewers(self, province, districts, communes) -> None:
        fixed = [
            ("admin", "admin", province, "Quản trị hệ thống"),
            ("hoikhuyenhoc", "province_officer", province, f"Hội Khuyến học {province.name}"),
            ("sogddt", "education_reviewer", province, "Chuyên viên Sở GD&ĐT"),
            ("sovhttdl", "culture_reviewer", province, "Chuyên viên Sở VHTTDL"),
            ("lanhdaotinh", "manager", province, f"Lãnh đạo {province.name}"),
        ]
        for district in districts:
            fixed.append(
                (f"huyen{district.code}", "district_reviewer", district, f"Cán bộ {district.name}")
            )
            fixed.append(
                (f"lanhdaohuyen{district.code}", "manager", district, f"Lãnh đạo {district.name}")
            )
        for commune in communes:
            fixed.append(
                (f"xa{commune.code}", "commune_reviewer", commune, f"Cán bộ {commune.name}")
            )
        for username, role, unit, full_name in fixed:
            self._add(username, role, unit.code, unit.level, None, full_name)

    def _add(self, username, role, unit_code, level, subject_id, full_name) -> int:
        user_id = self._next_id
        self._next_id += 1
        self.ids[username] = user_id
        self.lines.append(
            f"{user_id}\t{username}\t{self.password_hash}\t{role}\t{unit_code}\t{level}"
            f"\t{_null(subject_id)}\t{full_name}\t\\N\t\\N\tt\tvi\t{self.created_text}"
            f"\t{secrets.token_hex(8)}\tf\n"
        )
        return user_id

    def add_applicants(self, subjects: _Subjects) -> list[SubjectInfo]:
        """One applicant account per subject; return the subjects with their applicant id."""
        with_ids = []
        for info, (unit_code, holder) in zip(subjects.infos, subjects.holders, strict=True):
            prefix = "ho" if info.title == "family" else "nd"
            user_id = self._add(
                f"{prefix}{info.id}", "applicant", unit_code, info.level, info.id, holder
            )
            with_ids.append(dataclasses.replace(info, applicant_id=user_id))
        return with_ids


# --- time ------------------------------------------------------------------------------------


def _day_table(first_year: int, today: date) -> DayTable:
    registry = get_registry()
    slas = {
        s.sla_days
        for d in registry.definitions.values()
        for s in d.states.values()
        if s.sla_days is not None
    }
    first = date(first_year, 1, 1) - timedelta(days=40)
    return DayTable(get_calendar(), first, today + timedelta(days=200), slas)


def _last_workday(days: DayTable, now: datetime) -> int:
    """Index of the last working day strictly before today (local): every step is in the past."""
    today = to_local(now).date()
    return days.workday_at_or_before(days.day_number(today) - 1)


def _parse_years(years: tuple[int, int] | str, current: int) -> list[int]:
    if isinstance(years, str):
        try:
            first, last = (int(part) for part in years.split("-"))
        except ValueError as exc:
            raise BenchDataError(f"Years must look like 2023-2026, not {years!r}.") from exc
    else:
        first, last = years
    if first > last:
        raise BenchDataError(f"The first year {first} comes after the last year {last}.")
    if last > current:
        raise BenchDataError(f"Year {last} is in the future (the current year is {current}).")
    if first < 2015:
        raise BenchDataError("The programme started in 2015: choose years from 2015 on.")
    return list(range(first, last + 1))


def _cases_per_year(total: int, years: list[int]) -> list[int]:
    """Slightly more cases each year (the movement grows); they add up to ``total``."""
    weights = [1 + 0.08 * i for i in range(len(years))]
    counts = [int(total * w / sum(weights)) for w in weights]
    counts[-1] += total - sum(counts)
    return counts


def _created_days(days: DayTable, year: int, last_workday: int, count: int, rng) -> list[int]:
    """Workday indexes of case creation in ``year``: most early in the year, sorted."""
    low = days.workday_at_or_before(days.day_number(date(year, 1, 2))) + 1
    high = min(days.workday_at_or_before(days.day_number(date(year, 11, 30))), last_workday)
    if high < low:
        raise BenchDataError(f"Year {year} has no working day before today to create cases on.")
    span = high - low + 1
    return sorted(low + min(span - 1, int(span * rng.random() ** 1.5)) for _ in range(count))


def _open_age(rng: random.Random, sla: int) -> int:
    """Workdays an open case has spent in its stage: 30 % beyond the SLA (overdue)."""
    if rng.random() < OVERDUE_SHARE:
        return sla + min(60, int(rng.expovariate(1 / 10)))
    return rng.randint(0, sla - 1)


# --- the generator ---------------------------------------------------------------------------


def _people_and_places(province_code: str):
    province = db.session.get(Unit, province_code)
    districts = db.session.scalars(
        select(Unit)
        .where(Unit.level == "district", Unit.province_code == province_code)
        .order_by(Unit.code)
    ).all()
    communes = db.session.scalars(
        select(Unit)
        .where(Unit.level == "commune", Unit.province_code == province_code)
        .order_by(Unit.code)
    ).all()
    return province, districts, communes


def _password_hash() -> str:
    from flask import current_app

    method = current_app.config.get("PASSWORD_HASH_METHOD", "scrypt")
    return generate_password_hash(BENCH_PASSWORD, method=method)


def generate(
    case_count: int,
    *,
    years: tuple[int, int] | str = (2023, 2026),
    seed: int = 1,
    province_code: str = "62",
    now: datetime | None = None,
    progress=None,
) -> GenerateResult:
    """Load ``case_count`` cases with subjects, accounts and history into an empty database."""
    _require_postgres()
    if case_count < 1:
        raise BenchDataError("Give a number of cases of at least 1.")
    started = time.perf_counter()
    now = now or utcnow()
    today = to_local(now).date()
    year_list = _parse_years(years, today.year)
    try:
        present = db.session.execute(
            text(
                "SELECT EXISTS (SELECT 1 FROM cases) OR EXISTS (SELECT 1 FROM subjects) "
                "OR EXISTS (SELECT 1 FROM users)"
            )
        ).scalar()
    except ProgrammingError as exc:
        db.session.rollback()
        raise BenchDataError(
            "The database has no tables yet: run `flask --app htsd_workflow db upgrade` first."
        ) from exc
    if present:
        raise BenchDataError(
            "The database already has users, subjects or cases: run "
            "`python -m bench.data reset` first (it empties the data tables)."
        )
    rng = random.Random(seed)
    result = GenerateResult()
    say = progress or (lambda message: None)

    import_province(province_code)
    province, districts, communes = _people_and_places(province_code)
    registry = get_registry()
    for title in registry.definitions:
        for year in year_list:
            ensure_round(title, year)
    # ĐBKK / ethnic-minority communes: a mountain province has many (a seeded third of them)
    flagged = [c.code for c in communes if rng.random() < 1 / 3]
    db.session.execute(
        update(Unit).where(Unit.code.in_(flagged)).values(is_dbkk=True, is_ethnic_minority=True)
    )
    days = _day_table(year_list[0], today)
    last_workday = _last_workday(days, now)
    db.session.commit()

    counts = _cases_per_year(case_count, year_list)
    subject_total = max(200, math.ceil(max(counts) / PARTICIPATION))
    # subjects and accounts exist from a month before the first round, 08:00 local
    first_day = days.day_number(date(year_list[0], 1, 1)) - 30
    created_text = days.text(first_day * MINUTES_PER_DAY + 480)
    subjects = _Subjects(rng, created_text)
    subjects.populate(province, districts, communes, subject_total)
    accounts = _Accounts(_password_hash(), created_text)
    accounts.reviewers(province, districts, communes)
    infos = accounts.add_applicants(subjects)
    say(f"{len(infos):,} subjects, {len(accounts.ids):,} accounts; {case_count:,} cases to go")

    _WORK["simulator"] = _simulator(
        get_registry(), days, last_workday, accounts.ids, years=year_list
    )
    _WORK["infos"] = infos
    batches = _plan_batches(days, last_workday, len(infos), year_list, counts, today.year, rng)
    url = db.engine.url.render_as_string(hide_password=False)
    db.session.commit()  # hold no lock the load's DDL would wait for
    db.engine.dispose()  # and no connection the worker processes would inherit
    cases = _Simulation(batches)
    connection = None
    try:
        connection = connect(url)
        cursor = connection.cursor()
        cursor.execute("SET maintenance_work_mem = '512MB'")
        cursor.execute("SET synchronous_commit = off")
        cursor.execute(f"TRUNCATE {', '.join(LOADED_TABLES)} CASCADE")
        saved = drop_keys_and_indexes(cursor, LOADED_TABLES)
        writer = CopyWriter(connection, freeze=True)
        try:
            writer.put("subjects", COLUMNS["subjects"], subjects.lines)
            writer.put("clan_members", COLUMNS["clan_members"], subjects.clan_lines)
            writer.put("users", COLUMNS["users"], accounts.lines)
            year_done = {}
            for batch, data, states in cases:
                for table, (payload, count) in data.items():
                    writer.put_data(table, COLUMNS[table], payload, count)
                totals = result.states.setdefault(batch.year, {})
                for state, count in states.items():
                    totals[state] = totals.get(state, 0) + count
                year_done[batch.year] = year_done.get(batch.year, 0) + len(batch.created)
                if year_done[batch.year] == counts[year_list.index(batch.year)]:
                    say(f"{batch.year}: {year_done[batch.year]:,} cases")
        finally:
            writer.close()
        result.seconds["load"] = time.perf_counter() - started
        result.seconds["copy_busy"] = writer.busy_seconds
        say(f"loaded in {result.seconds['load']:.0f} s; building indexes and keys")
        spent = restore_keys_and_indexes(cursor, saved)
        result.seconds.update(spent)
        set_sequences(cursor, LOADED_TABLES)
        connection.commit()
        marker = time.perf_counter()
        connection.autocommit = True
        cursor.execute(f"ANALYZE {', '.join(LOADED_TABLES)}")
        result.seconds["analyze"] = time.perf_counter() - marker
    finally:
        cases.close()
        _WORK.clear()
        if connection is not None:
            connection.close()
    result.rows = dict(writer.rows)
    result.seconds["total"] = time.perf_counter() - started
    return result


def _dbkk_by_year(years) -> dict[int, set[str]]:
    """The ĐBKK communes of each year, by the rule scoring uses."""
    communes = db.session.scalars(select(Unit.code).where(Unit.level == "commune")).all()
    return {year: dbkk_communes(communes, year) for year in years}


def _simulator(registry, days, last_workday, reviewer_ids: dict[str, int], years=()):
    """A simulator whose reviewers are the accounts ``xa<code>``, ``huyen<code>``, the Sở."""
    return CaseSimulator(
        registry,
        days,
        commune_reviewers={
            name[2:]: uid for name, uid in reviewer_ids.items() if name.startswith("xa")
        },
        district_reviewers={
            name[5:]: uid for name, uid in reviewer_ids.items() if name.startswith("huyen")
        },
        department_reviewers={
            "education_reviewer": reviewer_ids["sogddt"],
            "culture_reviewer": reviewer_ids["sovhttdl"],
        },
        last_workday=last_workday,
        dbkk=_dbkk_by_year(years),
    )


@dataclass
class _Batch:
    """The cases one worker simulates: a slice of one year, in creation order."""

    year: int
    first_case_id: int
    created: list[int]
    subjects: list[int]
    seed: int
    is_current: bool


#: what the worker processes share (inherited when they are forked)
_WORK: dict = {}


def _plan_batches(days, last_workday, subject_count, year_list, counts, current_year, rng):
    batches = []
    case_id = 1
    for year, count in zip(year_list, counts, strict=True):
        chosen = rng.sample(range(subject_count), count)
        created = _created_days(days, year, last_workday, count, rng)
        for start in range(0, count, BATCH):
            batches.append(
                _Batch(
                    year=year,
                    first_case_id=case_id + start,
                    created=created[start : start + BATCH],
                    subjects=chosen[start : start + BATCH],
                    seed=rng.getrandbits(64),
                    is_current=year == current_year,
                )
            )
        case_id += count
    return batches


def _run_batch(batch: _Batch) -> tuple[_Batch, dict[str, tuple[bytes, int]], dict[str, int]]:
    """Simulate one batch; return its COPY data per table (bytes, rows) and its final states."""
    simulator: CaseSimulator = _WORK["simulator"]
    infos: list[SubjectInfo] = _WORK["infos"]
    rng = random.Random(batch.seed)
    targets = CURRENT_YEAR_TARGETS if batch.is_current else OLDER_YEAR_TARGETS
    names = [t for t, _ in targets]
    cumulative = list(itertools.accumulate(w for _, w in targets))
    rows = Rows()
    states: dict[str, int] = {}
    for offset, (day, subject_index) in enumerate(zip(batch.created, batch.subjects, strict=True)):
        subject = infos[subject_index]
        target = rng.choices(names, cum_weights=cumulative)[0]
        steps = simulator.plan(subject, target, day, rng)
        if batch.is_current and target not in ("draft", "recognized", "rejected", "withdrawn"):
            sla = simulator.flows[subject.title].sla.get(target) or 10
            age = rng.randint(0, 40) if target == "returned" else _open_age(rng, sla)
            simulator.place_open(steps, age)
        state = simulator.emit(
            rows,
            batch.first_case_id + offset,
            subject,
            batch.year,
            steps,
            rng,
            good=target != "rejected",
            open_extras=batch.is_current,
        )
        states[state] = states.get(state, 0) + 1
    data = {t: ("".join(lines).encode(), len(lines)) for t, lines in rows.by_table().items()}
    return batch, data, states


class _Simulation:
    """The batches' results in order, from forked worker processes (or here, for one batch).

    The workers are forked when this is built, before any database connection is opened, so
    they inherit none.
    """

    def __init__(self, batches: list[_Batch]):
        workers = min(os.cpu_count() or 1, len(batches))
        self.pool = None
        if workers >= 2:
            self.pool = multiprocessing.get_context("fork").Pool(workers)
            self.results = self.pool.imap(_run_batch, batches)
        else:
            self.results = map(_run_batch, batches)

    def __iter__(self):
        return iter(self.results)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()


def append_cases(
    count: int,
    target: str,
    commune_codes: list[str],
    *,
    now: datetime | None = None,
    seed: int = 7,
) -> list[int]:
    """Add ``count`` new households with one case each, waiting in ``target`` (a reviewing
    stage, or ``draft``: assessed, ready to submit); return the ids.

    The cases have consecutive ids and the same shape (create, assess, submit, an approval per
    stage passed, entering ``target`` on the last working day, so none is overdue): the pools
    the benchmarks act on. Households go round ``commune_codes``.
    """
    _require_postgres()
    now = now or utcnow()
    today = to_local(now).date()
    rng = random.Random(seed)
    registry = get_registry()
    units = [db.session.get(Unit, code) for code in commune_codes]
    if not units or any(u is None or u.level != "commune" for u in units):
        raise BenchDataError(f"Not all of {commune_codes} are communes.")
    for title in registry.definitions:
        ensure_round(title, today.year)
    days = _day_table(today.year - 1, today)
    last_workday = _last_workday(days, now)
    db.session.commit()
    db.session.commit()  # hold no lock the load's DDL would wait for
    connection = connect(db.engine.url.render_as_string(hide_password=False))
    try:
        cursor = connection.cursor()
        tables = ("subjects", "users", *LOADED_TABLES[3:])
        cursor.execute(f"LOCK TABLE {', '.join(tables)} IN EXCLUSIVE MODE")
        top = {
            table: cursor.execute(f"SELECT coalesce(max(id), 0) FROM {table}").fetchone()[0]
            for table in tables
        }
        reviewer_ids = dict(
            cursor.execute(
                "SELECT username, id FROM users WHERE role IN "
                "('commune_reviewer', 'district_reviewer', 'education_reviewer', "
                "'culture_reviewer')"
            ).fetchall()
        )
        password_hash = cursor.execute(
            "SELECT password_hash FROM users WHERE username = 'admin'"
        ).fetchone()
        created_text = days.text(days.workdays[last_workday] * MINUTES_PER_DAY - 2 * 1440 + 480)
        subjects = _Subjects(rng, created_text, first_id=top["subjects"] + 1)
        tag = f"B{top['cases'] + 1}-"
        for position, unit in enumerate(units):
            share = count // len(units) + (1 if position < count % len(units) else 0)
            subjects.households(unit, share, tag)
        accounts = _Accounts(
            password_hash[0] if password_hash else _password_hash(),
            created_text,
            first_id=top["users"] + 1,
        )
        infos = accounts.add_applicants(subjects)
        simulator = _simulator(registry, days, last_workday, reviewer_ids, years=(today.year,))
        rows = Rows()
        first_case = top["cases"] + 1
        for offset, subject in enumerate(infos):
            steps = simulator.plain_plan(subject, target)
            simulator.emit(rows, first_case + offset, subject, today.year, steps, rng)
        writer = CopyWriter(connection)
        try:
            writer.put("subjects", COLUMNS["subjects"], subjects.lines)
            writer.put("users", COLUMNS["users"], accounts.lines)
            for table, lines in rows.by_table().items():
                writer.put(table, COLUMNS[table], lines)
        finally:
            writer.close()
        set_sequences(cursor, list(tables))
        connection.commit()
    finally:
        connection.close()
    return list(range(first_case, first_case + len(infos)))
