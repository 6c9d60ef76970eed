"""One case's life: the steps it took and the rows the core operations would have written.

``CaseSimulator.plan`` picks the steps (create, assess, submit, claim, approve, sign, returns,
rejections, withdrawals) that lead a case to its target state, with the working day of each.
``CaseSimulator.emit`` replays them the way ``start_case``, ``save_assessment``, ``claim_case``
and ``cases.writing._apply`` do — destinations come from the real workflow machine, deadlines
from the real calendar (through ``DayTable``) — and appends COPY text rows for the cases,
history, stage visits, sign-offs and assessment items.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field

from bench.data.days import MINUTES_PER_DAY, DayTable
from htsd_workflow.auth.roles import DEPARTMENT_OF_ROLE
from htsd_workflow.cases.engine import TransitionContext, WorkflowRegistry
from htsd_workflow.cases.operations import PASS_MARK_TRIGGERS
from htsd_workflow.cases.rules import (
    CLOSE_BY_PARAMS,
    RESET_ON_MOVE,
    returned_from_after,
    to_python,
)
from htsd_workflow.criteria.scoring import compute_result

NULL = "\\N"
#: whether a closed visit was late, by the rule the writers apply (``rules.close_values``)
_CLOSED_LATE = to_python(CLOSE_BY_PARAMS["is_late"])
#: office hours (local minutes of the day) in which people act: 07:30 – 16:59
FIRST_MINUTE, LAST_MINUTE = 450, 1019

#: share of stays decided within the stage's SLA
ON_TIME_SHARE = 0.85
#: chance that a reviewer claims a case before deciding, adjusts a score, returns it once
CLAIM_SHARE, ADJUST_SHARE, RETURN_SHARE = 0.8, 0.12, 0.10
#: chance that the joint provincial stage sends a case back to the previous stage
RETURN_TO_PREVIOUS_SHARE = 0.04
#: chance that one department has signed before the other returns a case from the joint stage
SIGNED_BEFORE_RETURN_SHARE = 0.5
#: share of commune-managed cases a commune officer enters on the household's behalf
ON_BEHALF_SHARE = 0.15
#: open current-year cases: share overdue; claimed; partly signed at the joint stage
OVERDUE_SHARE, OPEN_CLAIM_SHARE, OPEN_FIRST_SIGN_SHARE = 0.30, 0.35, 0.40

RETURN_COMMENTS = (
    "Đề nghị bổ sung minh chứng tiêu chí 2 (học tập của người lớn).",
    "Thiếu biên bản họp thôn xác nhận kết quả tự đánh giá.",
    "Đề nghị chụp rõ giấy khen của các cháu và bổ sung sổ theo dõi học tập.",
)
REJECT_COMMENTS = (
    "Chưa đạt điểm chuẩn theo bộ tiêu chí.",
    "Hồ sơ không đủ điều kiện theo hướng dẫn của Hội Khuyến học.",
)
RETURN_UP_COMMENTS = ("Đề nghị huyện thẩm định lại điểm tiêu chí 3.",)
EVIDENCE = (
    "Có biên bản họp thôn và ảnh minh chứng.",
    "Giấy khen học sinh tiên tiến năm học vừa qua.",
    "Sổ theo dõi học tập của gia đình.",
    "Xác nhận của chi hội khuyến học thôn.",
)
ADJUST_NOTE = "Minh chứng chưa đầy đủ, điều chỉnh điểm."
#: why a case under its pass mark was approved or signed all the same (as fire_trigger keeps it)
OVERRIDE_REASON = "Đã xác minh thực tế tại địa phương, đề nghị chuyển tiếp."


#: the ``data`` of a sign event, as the core's JSON column writes it
DEPARTMENT_DATA = {d: json.dumps({"department": d}) for d in DEPARTMENT_OF_ROLE.values()}


def _copy_safe(text: str) -> str:
    """Check that a fixed text needs no escaping in COPY's text format."""
    if any(ch in text for ch in "\\\t\n\r"):
        raise ValueError(f"text needs COPY escaping: {text!r}")
    return text


for _text in (*RETURN_COMMENTS, *REJECT_COMMENTS, *RETURN_UP_COMMENTS, *EVIDENCE, ADJUST_NOTE):
    _copy_safe(_text)


@dataclass(frozen=True)
class SubjectInfo:
    """What a case needs to know about its subject."""

    id: int
    title: str
    level: str
    province_code: str
    district_code: str | None
    commune_code: str | None
    applicant_id: int


@dataclass
class Flow:
    """A workflow definition turned into the lookups the simulation needs."""

    title: str
    workflow: str
    initial: str
    kind: dict[str, str]
    sla: dict[str, int | None]
    roles: dict[str, tuple[str, ...]]
    joint: dict[str, tuple[str, ...]]
    #: reviewing stages a case passes, from where it enters, per entry level
    path: dict[str, list[str]]
    #: from a joint stage: (trigger, destination) of the return to the previous stage
    back: dict[str, tuple[str, str]]
    #: the stage visits entering a state opens: the stage, then each department's part
    visit_stages: dict[str, tuple[str, ...]]
    criteria: dict[int, tuple[str, tuple[str, ...], tuple[float, ...]]] = field(
        default_factory=dict
    )

    def is_review(self, state: str) -> bool:
        return self.kind[state] == "review"


@dataclass
class Rows:
    """COPY text rows, per table, for one batch of cases."""

    cases: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    visits: list[str] = field(default_factory=list)
    sign_offs: list[str] = field(default_factory=list)
    items: list[str] = field(default_factory=list)

    def by_table(self) -> dict[str, list[str]]:
        return {
            "cases": self.cases,
            "case_events": self.events,
            "stage_visits": self.visits,
            "sign_offs": self.sign_offs,
            "assessment_items": self.items,
        }


def _text(value) -> str:
    return NULL if value is None else str(value)


def _copy_value(value) -> str:
    if isinstance(value, bool):
        return "t" if value else "f"
    return _text(value)


#: a case row's extension and escalation columns as every move leaves them (``cases.rules``);
#: the generated lives have no extension nor escalation
_RESET_TEXT = "\t".join(
    _copy_value(RESET_ON_MOVE[c]) for c in ("is_extended", "escalation_rung", "is_escalated")
)


def _number(value) -> str:
    if value is None:
        return NULL
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class CaseSimulator:
    """Plans and writes case lives for one workflow set and one span of days."""

    def __init__(
        self,
        registry: WorkflowRegistry,
        days: DayTable,
        *,
        commune_reviewers: dict[str, int],
        district_reviewers: dict[str, int],
        department_reviewers: dict[str, int],
        last_workday: int,
        dbkk: dict[int, set[str]] | None = None,
    ):
        self.registry = registry
        #: year -> the ĐBKK communes of that year (geography.queries.dbkk_communes)
        self.dbkk = dbkk or {}
        self.days = days
        self.commune_reviewers = commune_reviewers
        self.district_reviewers = district_reviewers
        #: role -> user id, for the joint stage's departments
        self.department_reviewers = department_reviewers
        self.role_of_department = {d: r for r, d in DEPARTMENT_OF_ROLE.items()}
        #: index into days.workdays of the last working day that may hold a step
        self.last_workday = last_workday
        self._destinations: dict[tuple, str | None] = {}
        self.flows = {title: self._flow(title) for title in registry.definitions}

    # --- the workflow, from the real definitions and machines -----------------------------

    def destination(self, title, state, trigger, level, returned_from, signed=frozenset()):
        """The state the real machine moves to (memoised); None when the guards refuse."""
        key = (title, state, trigger, level, returned_from, signed)
        if key not in self._destinations:
            definition = self.registry.definition(title)
            ctx = TransitionContext(
                state=state,
                entry_level=level,
                returned_from=returned_from,
                missing_items=(),
                signed_departments=frozenset(signed),
                joint_departments=definition.states[state].joint,
            )
            taken = self.registry.engine(title).run(ctx, trigger)
            self._destinations[key] = ctx.state if taken is not None else None
        return self._destinations[key]

    def _flow(self, title: str) -> Flow:
        definition = self.registry.definition(title)
        states = definition.states
        path = {}
        for level in ("commune", "district", "province"):
            stage = self.destination(title, definition.initial, "submit", level, None)
            stages = []
            while stage is not None and states[stage].is_review and not states[stage].joint:
                stages.append(stage)
                stage = self.destination(title, stage, "approve", level, None)
            if stage is not None and states[stage].joint:
                stages.append(stage)
            if stages:
                path[level] = stages
        back = {}
        for state in states.values():
            if not state.joint:
                continue
            for transition in definition.transitions:
                if (
                    state.name in transition.sources
                    and states[transition.dest].is_review
                    and transition.dest != state.name
                ):
                    back[state.name] = (transition.trigger, transition.dest)
        return Flow(
            title=title,
            workflow=definition.ref,
            initial=definition.initial,
            kind={name: s.kind for name, s in states.items()},
            sla={name: s.sla_days for name, s in states.items()},
            roles={name: s.roles for name, s in states.items()},
            joint={name: s.joint for name, s in states.items()},
            path=path,
            back=back,
            visit_stages={
                name: (name, *(f"{name}:{d}" for d in s.joint)) for name, s in states.items()
            },
        )

    def criteria(self, flow: Flow, year: int, managed_by: str = "commune"):
        if (year, managed_by) not in flow.criteria:
            cset = self.registry.criteria_for(flow.title, year, managed_by)
            flow.criteria[year, managed_by] = (
                cset.id,
                tuple(i.code for i in cset.items),
                tuple(i.max_points for i in cset.items),
            )
        return flow.criteria[year, managed_by]

    # --- planning ---------------------------------------------------------------------------

    def plan(self, subject: SubjectInfo, target: str, created: int, rng: random.Random) -> list:
        """Steps ``[trigger, role, workday index, department, comment]`` towards ``target``.

        ``target`` is a state name; a reviewing stage the subject's cases never pass is
        replaced by the first one they do.
        """
        flow = self.flows[subject.title]
        ri, r = rng.randint, rng.random
        on_behalf = subject.level == "commune" and r() < ON_BEHALF_SHARE
        drafter = "commune_reviewer" if on_behalf else "applicant"
        k = created
        steps = [["create", drafter, k, None, None]]
        if target == "draft":
            if r() < 0.6:
                steps.append(["assess", drafter, k + ri(0, 5), None, None])
            return steps
        for _ in range(rng.choices((1, 2, 3, 4), (3, 3, 2, 2))[0]):  # drafts are saved repeatedly
            k += ri(0, 5)
            steps.append(["assess", drafter, k, None, None])
        withdraw_from = None
        if target == "withdrawn":
            withdraw_from = rng.choices(("draft", "returned", "review"), (4, 3, 3))[0]
            if withdraw_from == "draft":
                steps.append(["withdraw", "applicant", k + ri(1, 30), None, None])
                return steps
        k += ri(0, 15)
        steps.append(["submit", drafter, k, None, None])
        stages = flow.path[subject.level]
        if flow.kind.get(target) == "review" and target not in stages:
            target = stages[0]
        end_stage = None
        if target in ("rejected", "returned", "withdrawn"):
            end_stage = rng.choices(stages, (5, 3, 2)[: len(stages)])[0]
        returned_at = set()
        index, entered = 0, k
        while True:
            stage = stages[index]
            if stage == target:
                return steps
            sla = flow.sla[stage]
            decided = entered + (ri(0, sla) if r() < ON_TIME_SHARE else sla + ri(1, 20))
            departments = flow.joint[stage]
            if departments:
                role = self.role_of_department[rng.choice(departments)]
                # before this department sends it back, another may already have signed
                others = [d for d in departments if self.role_of_department[d] != role]
                early = None
                if others and r() < SIGNED_BEFORE_RETURN_SHARE:
                    early = ["sign", None, entered + ri(0, decided - entered), others[0], None]
                    early[1] = self.role_of_department[others[0]]
            else:
                early = None
                role = flow.roles[stage][0]
                if r() < CLAIM_SHARE:
                    claim_day = entered + ri(0, min(2, decided - entered))
                    steps.append(["claim", role, claim_day, None, None])
                if r() < ADJUST_SHARE:
                    steps.append(["adjust_scores", role, decided, None, None])
            if stage == end_stage:
                if target == "rejected":
                    steps.append(["reject", role, decided, None, rng.choice(REJECT_COMMENTS)])
                elif target == "withdrawn" and withdraw_from == "review":
                    steps.append(["withdraw", "applicant", decided, None, None])
                else:
                    comment = rng.choice(RETURN_COMMENTS)
                    steps += [early] if early else []
                    steps.append(["return_to_applicant", role, decided, None, comment])
                    if target == "withdrawn":
                        steps.append(["withdraw", "applicant", decided + ri(1, 30), None, None])
                return steps
            back = flow.back.get(stage) if departments else None
            if (
                back is not None
                and back[1] in stages
                and stage not in returned_at
                and r() < RETURN_TO_PREVIOUS_SHARE
            ):
                returned_at.add(stage)
                comment = rng.choice(RETURN_UP_COMMENTS)
                steps += [early] if early else []
                steps.append([back[0], role, decided, None, comment])
                index, entered = stages.index(back[1]), decided
                continue
            if stage not in returned_at and r() < RETURN_SHARE:
                returned_at.add(stage)
                comment = rng.choice(RETURN_COMMENTS)
                steps += [early] if early else []
                steps.append(["return_to_applicant", role, decided, None, comment])
                k = decided + ri(1, 10)
                steps.append(["assess", drafter, k, None, None])
                k += ri(0, 3)
                resubmitter = drafter if stage == stages[0] else "applicant"
                steps.append(["resubmit", resubmitter, k, None, None])
                entered = k
                continue
            if departments:  # every department signs, each in its own time
                order = rng.sample(departments, len(departments))
                sign_days = sorted(
                    entered + (ri(0, sla) if r() < ON_TIME_SHARE else sla + ri(1, 10))
                    for _ in order
                )
                for department, day in zip(order, sign_days, strict=True):
                    role = self.role_of_department[department]
                    steps.append(["sign", role, day, department, None])
                return steps
            steps.append(["approve", role, decided, None, None])
            index, entered = index + 1, decided

    def plain_plan(self, subject: SubjectInfo, target: str) -> list:
        """The shortest life that leaves a case in reviewing stage ``target`` since the last
        working day: create and assess, submit, then one approval per stage before it.
        ``draft``: created and fully assessed on the last working day, ready to submit."""
        if target == "draft":
            day = self.last_workday
            return [
                ["create", "applicant", day, None, None],
                ["assess", "applicant", day, None, None],
            ]
        flow = self.flows[subject.title]
        stages = flow.path[subject.level]
        if target not in stages:
            raise ValueError(f"{subject.title} cases of a {subject.level} do not wait in {target}")
        passed = stages[: stages.index(target)]
        day = self.last_workday - len(passed)
        steps = [
            ["create", "applicant", day - 1, None, None],
            ["assess", "applicant", day - 1, None, None],
            ["submit", "applicant", day, None, None],
        ]
        for number, stage in enumerate(passed, start=1):
            steps.append(["approve", flow.roles[stage][0], day + number, None, None])
        return steps

    def place_open(self, steps: list, age: int) -> None:
        """Move the steps after the draft so that the last one happened ``age`` workdays ago.

        Used for open cases of the current year, whose age in their stage is what the queues
        and overdue counts show. A case created too late to fit keeps its own times.
        """
        submit = next((i for i, s in enumerate(steps) if s[0] == "submit"), None)
        if submit is None:
            return
        shift = (self.last_workday - age) - steps[-1][2]
        if steps[submit][2] + shift < steps[submit - 1][2]:
            return
        for step in steps[submit:]:
            step[2] += shift

    # --- writing ----------------------------------------------------------------------------

    def emit(
        self,
        rows: Rows,
        case_id: int,
        subject: SubjectInfo,
        year: int,
        steps: list,
        rng: random.Random,
        *,
        good: bool = True,
        open_extras: bool = False,
    ) -> str:
        """Replay ``steps`` for one case into ``rows``; return the case's final state.

        Steps after the last usable working day are dropped (the case stays where it is now).
        With ``open_extras`` a case left open in review may since have been claimed, or signed
        by one department at the joint stage.
        """
        life = _Life(self, rows, case_id, subject, year, rng, good)
        for step in steps:
            if step[2] > self.last_workday:
                break
            life.apply(*step)
        flow = life.flow
        if open_extras and life.state is not None and flow.is_review(life.state):
            day = rng.randint(life.day, self.last_workday)
            departments = flow.joint[life.state]
            if departments:
                signed = {d for d, _, _ in life.signed}
                waiting = [d for d in departments if d not in signed]
                if len(waiting) > 1 and rng.random() < OPEN_FIRST_SIGN_SHARE:
                    department = rng.choice(waiting)
                    life.apply("sign", self.role_of_department[department], day, department, None)
            elif rng.random() < OPEN_CLAIM_SHARE:
                life.apply("claim", flow.roles[life.state][0], day, None, None)
        life.finish()
        return life.state


def _float(value) -> str:
    """A score as the JSON the core writes after reading it back (a float)."""
    return "null" if value is None else repr(float(value))


class _Life:
    """The evolving facts of one case while its steps are replayed."""

    def __init__(self, sim: CaseSimulator, rows: Rows, case_id, subject, year, rng, good):
        self.sim, self.rows, self.case_id, self.subject = sim, rows, case_id, subject
        self.year, self.good = year, good
        self.random = rng.random
        self.text = sim.days.text
        self.flow = flow = sim.flows[subject.title]
        self.criteria_id, self.codes, self.maxima = sim.criteria(flow, year, subject.level)
        self.actors = {
            "applicant": subject.applicant_id,
            "commune_reviewer": sim.commune_reviewers.get(subject.commune_code),
            "district_reviewer": sim.district_reviewers.get(subject.district_code),
            **sim.department_reviewers,
        }
        #: the columns every stage visit repeats after case_id and stage
        self.visit_head = (
            f"\t{subject.title}\t{year}\t{subject.province_code}"
            f"\t{_text(subject.district_code)}\t{_text(subject.commune_code)}\t"
        )
        self.state = None
        self.version = 1
        self.claimed_by = self.claimed_at = self.returned_from = None
        self.submitted = self.decided = self.due = None
        self.created = self.entered_at = 0
        self.open_visits: list[tuple] = []  # (stage, entered, due)
        self.signed: list[tuple] = []  # (department, user, minute)
        self.scores: list | None = None
        self.evidence: list | None = None
        self.entered_by = None
        self.reviewed: dict[int, tuple] = {}
        self.day, self.minute = -1, 0

    def _moment(self, day: int) -> int:
        """A moment in office hours of workday ``day``, after the previous step."""
        minute = FIRST_MINUTE + int(self.random() * (LAST_MINUTE - FIRST_MINUTE + 1))
        if day < self.day:
            raise AssertionError(f"steps out of order for case {self.case_id}")
        if day == self.day and minute <= self.minute:
            minute = min(self.minute + 1 + int(self.random() * 20), MINUTES_PER_DAY - 1)
        self.day, self.minute = day, minute
        return self.sim.days.workdays[day] * MINUTES_PER_DAY + minute

    def _event(self, moment, actor, role, trigger, from_state, to_state, comment, data):
        self.rows.events.append(
            f"{self.case_id}\t{self.text(moment)}\t{actor}\t{role}\t{trigger}"
            f"\t{from_state}\t{to_state}\t{comment}\t{data}\n"
        )

    def _close(self, visit, moment, outcome) -> None:
        stage, came, due = visit
        text = self.text
        late = "t" if _CLOSED_LATE({"due_at": due}, {"now": moment}) else "f"
        self.rows.visits.append(
            f"{self.case_id}\t{stage}{self.visit_head}{text(came)}\t{text(due)}"
            f"\t{text(moment)}\t{outcome}\t{self.sim.days.working_days(came, moment)}"
            f"\t{late}\tf\n"
        )

    def apply(self, trigger, role, day, department, comment) -> None:
        """One step, written as the core operation for it writes it."""
        moment = self._moment(day)
        actor = self.actors[role]
        if actor is None:
            raise AssertionError(f"no {role} account for case {self.case_id}")
        state = self.state
        if trigger == "create":  # start_case
            self.state = self.flow.initial
            self.created = self.entered_at = moment
            self._event(moment, actor, role, "create", NULL, self.state, NULL, NULL)
        elif trigger == "assess":  # save_assessment by the applicant (or on their behalf)
            self._assess(moment, actor, role)
        elif trigger == "adjust_scores":  # save_assessment by a reviewer
            self._adjust(moment, actor, role)
        elif trigger == "claim":  # claim_case
            self.claimed_by, self.claimed_at = actor, moment
            self._event(moment, actor, role, "claim", state, state, NULL, NULL)
        else:  # fire_trigger -> _apply
            self._transition(moment, actor, role, trigger, department, comment)

    def _assess(self, moment, actor, role) -> None:
        random, codes = self.random, self.codes
        if self.scores is None:
            self.scores = [None] * len(codes)
            self.evidence = [None] * len(codes)
        scores, evidence = self.scores, self.evidence
        low, width = (0.82, 0.18) if self.good else (0.45, 0.33)
        changes = []
        for i, top in enumerate(self.maxima):
            old = scores[i]
            if old is None:
                new = round(top * (low + width * random()))
            else:
                new = min(int(top), old + int(random() * 3))
            changes.append(f'{{"code": "{codes[i]}", "old": {_float(old)}, "new": {new}}}')
            scores[i] = new
            if evidence[i] is None and random() < 0.7:
                evidence[i] = EVIDENCE[int(random() * len(EVIDENCE))]
        self.entered_by = actor
        data = '{"items": [' + ", ".join(changes) + "]}"
        self._event(moment, actor, role, "assess", self.state, self.state, NULL, data)
        self.version += 1  # save_assessment bumps the version

    def _adjust(self, moment, actor, role) -> None:
        i = int(self.random() * len(self.codes))
        previous = self.reviewed.get(i)
        new = max(0, self.scores[i] - 1 - int(self.random() * 3))
        self.reviewed[i] = (new, ADJUST_NOTE, actor, self.state)
        old = None if previous is None else previous[0]
        data = (
            f'{{"items": [{{"code": "{self.codes[i]}", "self": {_float(self.scores[i])}, '
            f'"old": {_float(old)}, "new": {new}, "note": "{ADJUST_NOTE}"}}]}}'
        )
        self._event(moment, actor, role, "adjust_scores", self.state, self.state, NULL, data)
        self.version += 1

    def _transition(self, moment, actor, role, trigger, department, comment) -> None:
        flow, state = self.flow, self.state
        signed_now = frozenset(d for d, _, _ in self.signed)
        if department:
            signed_now |= {department}
        to = self.sim.destination(
            self.subject.title, state, trigger, self.subject.level, self.returned_from, signed_now
        )
        if to is None:
            raise AssertionError(f"{trigger} refused from {state} for case {self.case_id}")
        if department:
            self.signed.append((department, actor, moment))
        if to != state:
            kind_to = flow.kind[to]
            keep, returned_from = returned_from_after(flow.kind[state], kind_to, state)
            if not keep:
                self.returned_from = returned_from
            self.version += 1
            self.entered_at = moment
            self.claimed_by = self.claimed_at = None
            if self.submitted is None:
                self.submitted = moment
            if kind_to == "final":
                self.decided = moment
            if flow.joint[state] and kind_to != "final":
                self.signed = []
            if flow.kind[state] == "review":
                for visit in self.open_visits:
                    self._close(visit, moment, trigger)
                self.open_visits = []
            if kind_to == "review":
                self.due = due = self.sim.days.due[flow.sla[to]][moment // MINUTES_PER_DAY]
                self.open_visits = [(stage, moment, due) for stage in flow.visit_stages[to]]
            else:
                self.due = None
        elif department:  # one department's part of the joint stage ends
            part = f"{state}:{department}"
            for visit in self.open_visits:
                if visit[0] == part:
                    self._close(visit, moment, trigger)
            self.open_visits = [v for v in self.open_visits if v[0] != part]
        data = NULL if department is None else DEPARTMENT_DATA[department]
        if trigger in PASS_MARK_TRIGGERS:
            override = self._override()
            if override is not None:
                facts = {"department": department} if department else {}
                data = _copy_safe(json.dumps({**facts, "override": override}, ensure_ascii=False))
        self._event(moment, actor, role, trigger, state, to, comment or NULL, data)
        self.state = to

    def _override(self) -> dict | None:
        """The override a reviewer gives to move the case on under its pass mark (the score
        that counts: reviewers' adjusted scores where given), None when it passes."""
        scores = self.scores or [None] * len(self.codes)
        counted = {
            code: self.reviewed[i][0] if i in self.reviewed else scores[i]
            for i, code in enumerate(self.codes)
        }
        is_dbkk = self.subject.commune_code in self.sim.dbkk.get(self.year, ())
        cset = self.sim.registry.criteria_set(self.criteria_id)
        result = compute_result(cset, counted, is_dbkk)
        if result.passed:
            return None
        return {
            "reason": OVERRIDE_REASON,
            "total": result.total,
            "max_total": result.max_total,
            "pass_mark": result.pass_mark,
        }

    def finish(self) -> None:
        """Write the case row and what is still open: visits, sign-offs, assessment items."""
        rows, case_id, text = self.rows, self.case_id, self.text
        for stage, came, due in self.open_visits:
            rows.visits.append(
                f"{case_id}\t{stage}{self.visit_head}{text(came)}\t{text(due)}"
                "\t\\N\t\\N\t\\N\t\\N\tf\n"
            )
        for department, user, moment in self.signed:
            rows.sign_offs.append(f"{case_id}\t{department}\t{user}\t{text(moment)}\n")
        scores, evidence, entered_by = self.scores, self.evidence, self.entered_by
        items = rows.items
        for i, code in enumerate(self.codes):
            review = self.reviewed.get(i)
            reviewed = (
                f"{_number(review[0])}\t{review[1]}\t{review[2]}\t{review[3]}"
                if review
                else "\\N\t\\N\t\\N\t\\N"
            )
            if scores is None or scores[i] is None:
                items.append(f"{case_id}\t{code}\t{i}\t\\N\t\\N\t\\N\t{reviewed}\n")
            else:
                items.append(
                    f"{case_id}\t{code}\t{i}\t{scores[i]}\t{evidence[i] or NULL}"
                    f"\t{entered_by}\t{reviewed}\n"
                )
        subject, flow = self.subject, self.flow
        self_score = sum(s for s in scores if s is not None) if scores else None
        # the total that counts: the reviewers' adjusted score of an item where given
        score = (
            sum(
                self.reviewed[i][0] if i in self.reviewed else s
                for i, s in enumerate(scores)
                if s is not None or i in self.reviewed
            )
            if scores
            else None
        )
        is_open = "f" if flow.kind[self.state] == "final" else "t"
        due, claimed_at, submitted, decided = (
            NULL if value is None else text(value)
            for value in (self.due, self.claimed_at, self.submitted, self.decided)
        )
        rows.cases.append(
            f"{case_id}\t{subject.id}\t{subject.title}\t{self.year}\t{flow.workflow}"
            f"\t{self.criteria_id}\t{self.state}\t{is_open}\t{subject.level}"
            f"\t{_text(self.returned_from)}\t{subject.province_code}"
            f"\t{_text(subject.district_code)}\t{_text(subject.commune_code)}"
            f"\t{text(self.entered_at)}\t{due}\t{_RESET_TEXT}\t{_text(self.claimed_by)}"
            f"\t{claimed_at}\t{_number(self_score)}\t{_number(score)}\t{submitted}\t{decided}"
            f"\t{text(self.created)}\t{self.version}\n"
        )
