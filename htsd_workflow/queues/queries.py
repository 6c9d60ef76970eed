"""The reviewer's work queue: scoped, filtered, keyset-paginated by due date.

The filters become a WHERE clause over the indexed columns of cases (state, the unit path,
due_at, id), so each page is an index range scan however many cases there are.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from functools import lru_cache

from sqlalchemy import Integer, bindparam, exists, func, select, tuple_
from sqlalchemy.orm import aliased

from htsd_workflow.auth.models import User
from htsd_workflow.auth.roles import REVIEWER_ROLES
from htsd_workflow.auth.scope import territory, territory_clause
from htsd_workflow.cases.engine import get_registry
from htsd_workflow.cases.models import Case, PartClaim, SignOff
from htsd_workflow.cases.operations import actor_department, score_results
from htsd_workflow.core.collation import collated
from htsd_workflow.core.models import read_rows
from htsd_workflow.core.text import whole_number
from htsd_workflow.criteria.scoring import pass_mark_of
from htsd_workflow.geography.models import Unit
from htsd_workflow.geography.queries import unit_is_dbkk_in, units_within
from htsd_workflow.subjects.models import TITLE_OF_KIND, Subject

#: counts above this are shown as "more than"
COUNT_CAP = 10000

#: the user who claimed a case, joined a second time; made once, not per page (building an
#: alias of a mapped class costs more than the rest of the page's statement)
_CLAIMER = aliased(User)

#: the queue table's columns and joins, made once: building a select of thirteen labelled
#: columns and three joins cost more than sending it and reading its rows; each page adds
#: its WHERE, ORDER BY and LIMIT to a copy
_QUEUE_ROWS = (
    select(
        Case.id,
        Case.title,
        Case.workflow,
        Case.year,
        Case.state,
        Case.submitted_at,
        Case.due_at,
        Case.self_score,
        Case.score,
        Case.criteria_set_id,
        Case.claimed_by_id,
        Case.is_escalated,
        Case.commune_code,
        Subject.name.label("subject_name"),
        Unit.name.label("commune_name"),
        func.coalesce(_CLAIMER.full_name, _CLAIMER.username).label("claimed_by_name"),
        # the pass mark depends on it: asked here, not in a statement of its own per page
        unit_is_dbkk_in(Case.year).label("commune_dbkk"),
    )
    .join(Subject, Subject.id == Case.subject_id)
    .outerjoin(Unit, Unit.code == Case.commune_code)
    .outerjoin(_CLAIMER, _CLAIMER.id == Case.claimed_by_id)
)
_ASCENDING = (Case.due_at.asc(), Case.id.asc())
_DESCENDING = (Case.due_at.desc(), Case.id.desc())

#: the units a province's or a district's user may filter by (the filter lists need only
#: these columns)
_UNIT_COLUMNS = select(Unit.code, Unit.name, Unit.level, Unit.district_code).order_by(
    collated(Unit.name), Unit.code
)
_UNITS_OF = {
    level: _UNIT_COLUMNS.where(units_within(level, bindparam("code")))
    for level in ("province", "district")
}


def part_holders(rows) -> dict[int, dict[str, tuple[int, str]]]:
    """Who holds each department part of the page's cases at a joint stage (one statement,
    none when no row is at one): case id -> {part: (user id, name)}."""
    registry = get_registry()
    ids = [row.id for row in rows if registry.definition_of(row).states[row.state].joint]
    if not ids:
        return {}
    found: dict[int, dict[str, tuple[int, str]]] = {}
    for case_id, part, user_id, name in read_rows(
        select(
            PartClaim.case_id,
            PartClaim.part,
            PartClaim.user_id,
            func.coalesce(User.full_name, User.username),
        )
        .join(User, User.id == PartClaim.user_id)
        .where(PartClaim.case_id.in_(ids))
    ):
        found.setdefault(case_id, {})[part] = (user_id, name)
    return found


#: the most years in a row the queue filters by
MAX_IN_A_ROW = 10


@dataclass
class QueueFilter:
    title: str = ""
    district: str = ""
    commune: str = ""
    state: str = ""
    overdue: bool = False
    #: "" (everyone's), "mine" (claimed by me) or "free" (nobody's)
    claim: str = ""
    #: for the departments: only cases their department has not signed yet
    unsigned: bool = True
    #: "due" (soonest first) or "-due" (latest first)
    order: str = "due"
    #: only subjects recognised in each of the last N years before the case's ("N năm liền");
    #: 0 for every case
    in_a_row: int = 0

    @classmethod
    def from_args(cls, args) -> QueueFilter:
        found = cls(
            title=args.get("title", "") if args.get("title") in TITLE_OF_KIND.values() else "",
            district=(args.get("district") or "").strip()[:10],
            commune=(args.get("commune") or "").strip()[:10],
            state=(args.get("state") or "").strip()[:40],
            overdue=args.get("overdue") == "1",
            claim=args.get("claim") if args.get("claim") in ("mine", "free") else "",
            unsigned=args.get("unsigned", "1") == "1",
            order="-due" if args.get("order") == "-due" else "due",
            in_a_row=whole_number(args.get("in_a_row"), 0, MAX_IN_A_ROW) or 0,
        )
        return found

    def as_args(self) -> dict:
        """The filter as query-string arguments (defaults left out)."""
        default = QueueFilter()
        args = {}
        for spec in fields(self):
            value = getattr(self, spec.name)
            if value != getattr(default, spec.name):
                args[spec.name] = ("1" if value else "0") if isinstance(value, bool) else value
        return args


def queue_states(user: User) -> list[str]:
    """The reviewing stages whose cases the user's queue shows: a reviewer's own stage;
    supervisors (association, managers, admins) see every stage. Every set's: a three-tier
    case waiting at the district is still a case to see under a two-tier default."""
    return list(_queue_states(get_registry(), user.role))


@lru_cache(maxsize=64)
def _queue_states(registry, role: str) -> tuple[str, ...]:
    """``queue_states`` per loaded registry and role (a page asks three times; the registry's
    definitions do not change once loaded)."""
    states: list[str] = []
    for definition in registry.every_definition():
        for state in definition.review_states:
            mine = role not in REVIEWER_ROLES or role in state.roles
            if mine and state.name not in states:
                states.append(state.name)
    return tuple(states)


def queue_filter_shape(user: User, queue_filter: QueueFilter, now: datetime) -> tuple[tuple, dict]:
    """The user's queue under a filter as (shape, values): the shape says which conditions
    apply (scope always included), the values fill their parameters. Statements are made once
    per shape (``_where``): building a select and its cache key cost more than running it."""
    states = queue_states(user)
    if queue_filter.state in states:
        states = [queue_filter.state]
    what, scope = territory(user)
    department = actor_department(user) if queue_filter.unsigned else None
    # at a joint stage "mine" and "free" are about the user's department's part
    part = actor_department(user) if queue_filter.claim else None
    shape = (
        len(states) == 1,
        what,
        bool(queue_filter.title),
        bool(queue_filter.district),
        bool(queue_filter.commune),
        queue_filter.overdue,
        queue_filter.claim,
        bool(department),
        bool(part),
        queue_filter.in_a_row,
    )
    values = {
        "state": states[0] if states else None,
        "states": states,
        "scope": scope,
        "title": queue_filter.title,
        "district": queue_filter.district,
        "commune": queue_filter.commune,
        "now": now,
        "me": user.id,
        "department": department,
        "part": part,
        "in_a_row": queue_filter.in_a_row,
    }
    return shape, values


@lru_cache(maxsize=512)
def _where(shape: tuple) -> tuple:
    """The WHERE clauses of a shape, with parameters named as ``queue_filter_shape``'s
    values."""
    one_state, what, title, district, commune, overdue, claim, unsigned, has_part, in_a_row = shape
    clauses = [
        Case.state == bindparam("state")
        if one_state
        else Case.state.in_(bindparam("states", expanding=True)),
        territory_clause(Case, what, bindparam("scope")),
    ]
    if title:
        clauses.append(Case.title == bindparam("title"))
    if district:
        clauses.append(Case.district_code == bindparam("district"))
    if commune:
        clauses.append(Case.commune_code == bindparam("commune"))
    if overdue:
        clauses.append(Case.due_at < bindparam("now", type_=Case.due_at.type))
    if claim == "mine":
        mine = Case.claimed_by_id == bindparam("me")
        if has_part:
            mine = mine | exists(
                select(PartClaim.part).where(
                    PartClaim.case_id == Case.id, PartClaim.user_id == bindparam("me")
                )
            )
        clauses.append(mine)
    elif claim == "free":
        clauses.append(Case.claimed_by_id.is_(None))
        if has_part:
            clauses.append(
                ~exists(
                    select(PartClaim.part).where(
                        PartClaim.case_id == Case.id, PartClaim.part == bindparam("part")
                    )
                )
            )
    if in_a_row:
        # recognised in each of the N years before the case's year (one case a year at most)
        earlier = aliased(Case)
        years = bindparam("in_a_row", type_=Integer)
        clauses.append(
            select(func.count(func.distinct(earlier.year)))
            .where(
                earlier.subject_id == Case.subject_id,
                earlier.title == Case.title,
                earlier.state == "recognized",
                earlier.year >= Case.year - years,
                earlier.year < Case.year,
            )
            .scalar_subquery()
            >= years
        )
    if unsigned:
        clauses.append(
            ~exists(
                select(SignOff.id).where(
                    SignOff.case_id == Case.id, SignOff.department == bindparam("department")
                )
            )
        )
    return tuple(clauses)


_KEY_DUE = bindparam("key_due", type_=Case.due_at.type)
_KEY_ID = bindparam("key_id", type_=Case.id.type)


@lru_cache(maxsize=512)
def _page_statement(shape: tuple, cursor: str, ascending: bool, size: int):
    """One page of a shape's rows; ``cursor`` is "" (first page), ">" (after a key) or "<"
    (before it)."""
    clauses = list(_where(shape))
    key = tuple_(Case.due_at, Case.id)
    if cursor == ">":
        clauses.append(key > tuple_(_KEY_DUE, _KEY_ID))
    elif cursor == "<":
        clauses.append(key < tuple_(_KEY_DUE, _KEY_ID))
    return (
        _QUEUE_ROWS.where(*clauses)
        .order_by(*(_ASCENDING if ascending else _DESCENDING))
        .limit(size + 1)
    )


@lru_cache(maxsize=512)
def _count_statement(shape: tuple):
    inner = select(Case.id).where(*_where(shape)).limit(COUNT_CAP + 1)
    return select(func.count()).select_from(inner.subquery())


@lru_cache(maxsize=512)
def _matching_statement(shape: tuple):
    return (
        select(Case.id)
        .where(*_where(shape))
        .order_by(Case.due_at, Case.id)
        .limit(bindparam("limit", type_=Integer))
    )


def encode_cursor(due_at: datetime, case_id: int) -> str:
    return f"{due_at.isoformat()}_{case_id}"


def decode_cursor(text: str | None) -> tuple[datetime, int] | None:
    if not text or "_" not in text:
        return None
    due, _sep, case_id = text.rpartition("_")
    number = whole_number(case_id, 1)
    try:
        moment = datetime.fromisoformat(due)
    except ValueError:
        return None
    # the cursors this page writes hold a stored naive moment and an id; anything else (a
    # zone, an id beyond the key's range) was typed by hand and must not reach SQL
    if number is None or moment.tzinfo is not None:
        return None
    return moment, number


@dataclass
class QueuePage:
    rows: list
    next_cursor: str | None
    prev_cursor: str | None


def queue_page(
    user: User,
    queue_filter: QueueFilter,
    now: datetime,
    *,
    after: str | None = None,
    before: str | None = None,
    size: int = 50,
) -> QueuePage:
    """One page of the queue after (or before) a cursor, with the columns the table shows."""
    descending = queue_filter.order == "-due"
    shape, values = queue_filter_shape(user, queue_filter, now)
    after_key = decode_cursor(after)
    before_key = decode_cursor(before) if after_key is None else None
    backwards = before_key is not None
    # rows after the cursor in the order shown: later keys for "soonest first", earlier for
    # "latest first"; going back from a cursor, the other way
    cursor = ""
    if after_key or before_key:
        values["key_due"], values["key_id"] = after_key or before_key
        cursor = ">" if (after_key is not None) != descending else "<"
    ascending = descending == backwards
    rows = read_rows(_page_statement(shape, cursor, ascending, size), values)
    has_more = len(rows) > size
    rows = rows[:size]
    if backwards:
        rows.reverse()
    next_cursor = prev_cursor = None
    if rows:
        if has_more or backwards:
            next_cursor = encode_cursor(rows[-1].due_at, rows[-1].id)
        if (after_key is not None) or (backwards and has_more):
            prev_cursor = encode_cursor(rows[0].due_at, rows[0].id)
    return QueuePage(rows=rows, next_cursor=next_cursor, prev_cursor=prev_cursor)


def count_matching(user: User, queue_filter: QueueFilter, now: datetime) -> int:
    """How many cases match, counted up to COUNT_CAP + 1."""
    shape, values = queue_filter_shape(user, queue_filter, now)
    return read_rows(_count_statement(shape), values)[0][0]


def matching_ids(user: User, queue_filter: QueueFilter, now: datetime, limit: int) -> list[int]:
    """Ids of every case matching the filter (soonest due first), at most ``limit``."""
    shape, values = queue_filter_shape(user, queue_filter, now)
    return [row[0] for row in read_rows(_matching_statement(shape), {**values, "limit": limit})]


class PassMarks:
    """The pass mark of each row of a page: the marks per criteria set and ĐBKK status (the
    rows say whether their commune is ĐBKK in their year: ``commune_dbkk``, from
    ``geography.queries.unit_is_dbkk_in`` in the rows' own statement)."""

    def __init__(self, rows):
        self.registry = get_registry()
        self.marks: dict[tuple, float] = {}
        # a levels set passes by which indicators are met, not by how many: those rows' results
        # are computed from their items (one query for the page)
        levels = [
            row for row in rows if self.registry.criteria_set(row.criteria_set_id).kind == "levels"
        ]
        #: the levels rows' results: the level applied for and the level reached (queue column)
        self.results = score_results(levels)
        self.reached = {case_id: result.passed for case_id, result in self.results.items()}

    def passes(self, score, criteria_set_id: str, dbkk: bool, case_id=None) -> bool | None:
        if score is None:
            return None
        if case_id in self.reached:
            return self.reached[case_id]
        key = (criteria_set_id, bool(dbkk))
        mark = self.marks.get(key)
        if mark is None:
            mark = self.marks[key] = pass_mark_of(self.registry.criteria_set(key[0]), key[1])
        return score >= mark


def count_failing(case_ids: list[int], chunk: int = 1000) -> int:
    """How many of the cases are under their pass mark (or have no score), by the score the
    queue shows: for the confirmation before a bulk action over a whole filter."""
    failing = 0
    for start in range(0, len(case_ids), chunk):
        rows = read_rows(
            select(
                Case.id,
                func.coalesce(Case.score, Case.self_score).label("score"),
                Case.criteria_set_id,
                unit_is_dbkk_in(Case.year).label("commune_dbkk"),
            )
            .outerjoin(Unit, Unit.code == Case.commune_code)
            .where(Case.id.in_(case_ids[start : start + chunk]))
        )
        marks = PassMarks(rows)
        failing += sum(
            1
            for row in rows
            if not marks.passes(row.score, row.criteria_set_id, row.commune_dbkk, row.id)
        )
    return failing


def units_in_scope(user: User) -> tuple[list, list]:
    """(districts, communes) the user may filter by: rows of code, name, level and
    district_code (the filter lists need no more than that, and loading whole units on every
    queue page cost more than the page's own query)."""
    statement = _UNITS_OF.get(user.unit_level)
    if statement is None:
        return [], []
    units = read_rows(statement, {"code": user.unit_code})
    districts = [u for u in units if u.level == "district"]
    communes = [u for u in units if u.level == "commune"]
    return districts, communes
