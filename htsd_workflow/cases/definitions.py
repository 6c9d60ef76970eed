"""Workflow definitions: loaded from ``workflows/<set>/*.yaml`` and validated at start-up."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from htsd_workflow.auth.roles import DEPARTMENT_OF_ROLE, ROLES
from htsd_workflow.core.datafiles import (
    Place,
    is_number,
    is_whole_number,
    read_settings,
    yaml_files,
)
from htsd_workflow.core.errors import ConfigurationError
from htsd_workflow.core.titles import TITLES
from htsd_workflow.criteria.loader import MANAGING_LEVELS
from htsd_workflow.geography.models import LEVELS

STATE_KINDS = ("applicant", "review", "final")
#: what ``village_meeting:`` may say: a meeting is required before commune review, optional
#: (recorded and shown when held), or off
VILLAGE_MEETING_RULES = ("required", "optional", "off")

#: guard names a definition may use; their code lives in cases.engine.GUARDS
GUARD_NAMES = (
    "assessment_complete",
    "managed_at_commune",
    "managed_at_district",
    "managed_at_province",
    "returned_from_dest",
    "all_departments_signed",
    "not_all_departments_signed",
)
RUNG_ACTIONS = ("remind", "escalate")
NOTIFY_TARGETS = ("level", "supervisor", "province_officer", "manager", "applicant")

_FILE_KEYS = {
    "abstract",
    "extends",
    "title",
    "initial",
    "states",
    "transitions",
    "escalation",
    "decision",
    "carried_from",
}
_STATE_KEYS = {"label", "kind", "level", "roles", "sla_days", "joint"}
_TRANSITION_KEYS = {
    "trigger",
    "source",
    "dest",
    "roles",
    "guards",
    "comment",
    "label",
    "issuing_level",
}
_RUNG_KEYS = {"rung", "at_sla_fraction", "overdue_days", "action", "notify"}
_DECISION_KEYS = {"level", "signer_title", "body", "number", "bases", "valid_months"}


@dataclass(frozen=True)
class StateDef:
    name: str
    label: str
    kind: str
    level: str | None = None
    roles: tuple[str, ...] = ()
    sla_days: int | None = None
    #: departments that must all sign for a joint sign-off stage
    joint: tuple[str, ...] = ()

    @property
    def is_review(self) -> bool:
        return self.kind == "review"

    @property
    def is_final(self) -> bool:
        return self.kind == "final"


@dataclass(frozen=True)
class TransitionDef:
    trigger: str
    sources: tuple[str, ...]
    dest: str
    roles: tuple[str, ...]
    guards: tuple[str, ...] = ()
    comment_required: bool = False
    label: str = ""
    #: only people of the level that issues the case's recognition decision may fire it (its
    #: officer or its leader, for that decision's territory): ``issuing_level: true``
    issuing_level: bool = False


@dataclass(frozen=True)
class RungDef:
    rung: int
    action: str
    notify: tuple[str, ...]
    #: fire when this share of the stage's SLA has passed (e.g. 0.75)
    at_sla_fraction: float | None = None
    #: fire when the case is overdue by more than this many working days (0 = as soon as overdue)
    overdue_days: int | None = None


#: ``decision: level: managing``: the level that manages the subject issues its decision (a
#: unit managed by a district or the province: the People's Committee of the same level)
MANAGING = "managing"
#: the texts of a decision block that may differ by issuing level (a mapping level → text)
_PER_LEVEL_KEYS = ("signer_title", "body", "number")


@dataclass(frozen=True)
class DecisionText:
    """What a decision of one issuing level says: its signer, body and number pattern."""

    level: str
    #: the signer's title, e.g. "Chủ tịch Ủy ban nhân dân xã"
    signer_title: str
    #: the issuing body's name, "{unit}" standing for the territory's name
    body: str
    #: the number pattern, "{n}" standing for the running number, e.g. "{n}/QĐ-UBND"
    number: str

    def body_name(self, unit_name: str) -> str:
        return self.body.replace("{unit}", unit_name)

    def format_number(self, number: str) -> str:
        """A bare running number ("12") in the pattern; a full number as typed."""
        number = number.strip()
        return self.number.replace("{n}", number) if number.isdigit() else number


@dataclass(frozen=True)
class DecisionDef:
    """Who issues the recognition decision of a title, and what it says (``decision:``)."""

    #: the issuing level: commune, district or province, or ``managing`` (the level that
    #: manages the subject, ``Subject.managing_level`` as the criteria sets read it)
    level: str
    #: the legal bases (căn cứ), one line each
    bases: tuple[str, ...]
    #: how long the title is valid, in months from the decision's date
    valid_months: int
    #: issuing level → what a decision of that level says
    texts: dict[str, DecisionText] = field(default_factory=dict, compare=False)

    def text(self, level: str) -> DecisionText:
        return self.texts[level]


def issuing_level(block: DecisionDef, managed_by: str, levels) -> str:
    """The level that issues the decision for a subject managed by ``managed_by`` under a
    definition whose stages work at ``levels``: the block's level, or the managing level
    where it says ``managing``; where the definition has no district stage (the two-tier set:
    no districts since 1 July 2025) the district level is the province's."""
    level = managed_by if block.level == MANAGING else block.level
    if level == "district" and "district" not in levels:
        return "province"
    return level


@dataclass(frozen=True)
class WorkflowDefinition:
    name: str
    title: str
    set_name: str
    source_file: str
    initial: str
    states: dict[str, StateDef]
    transitions: tuple[TransitionDef, ...]
    escalation: tuple[RungDef, ...]
    #: the recognition decision's settings; None when the file has no ``decision:`` block
    decision: DecisionDef | None = None
    #: whether a village meeting (bình xét) must be recorded before commune review:
    #: required, optional or off (``village_meeting:``; optional by default)
    village_meeting: str = "optional"
    #: how running cases of another set are carried into this definition: set name →
    #: {state there: state here}; a state of the same name here needs no entry
    carried_from: dict = field(default_factory=dict, compare=False)
    _by_trigger: dict = field(default_factory=dict, compare=False, repr=False)
    _triggers: tuple[str, ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        for transition in self.transitions:
            for source in transition.sources:
                self._by_trigger.setdefault((transition.trigger, source), []).append(transition)
        # every transition asks whether its trigger is one of these: found once
        triggers = tuple(dict.fromkeys(t.trigger for t in self.transitions))
        object.__setattr__(self, "_triggers", triggers)

    @property
    def ref(self) -> str:
        """What a case records of the definition it runs under (``Case.workflow``)."""
        return f"{self.set_name}/{self.name}"

    @property
    def review_states(self) -> list[StateDef]:
        """Reviewing stages in the order the file lists them (commune first)."""
        return [s for s in self.states.values() if s.is_review]

    @property
    def triggers(self) -> list[str]:
        return list(self._triggers)

    def candidates(self, trigger: str, state: str) -> list[TransitionDef]:
        """Transitions of ``trigger`` that leave ``state``, in file order."""
        return self._by_trigger.get((trigger, state), [])

    def _of_trigger(self, trigger: str, state: str | None) -> list[TransitionDef]:
        if state is not None:
            return self.candidates(trigger, state)
        return [t for t in self.transitions if t.trigger == trigger]

    def transition_label(self, trigger: str, state: str | None = None) -> str | None:
        """The file's label of ``trigger`` fired from ``state`` (any state when None)."""
        found = self._of_trigger(trigger, state)
        return found[0].label if found else None

    def requires_comment(self, trigger: str, state: str | None = None) -> bool:
        """Whether the file says ``comment: true`` for ``trigger`` (from ``state``)."""
        return any(t.comment_required for t in self._of_trigger(trigger, state))

    def ends_case(self, trigger: str, state: str) -> bool:
        """Whether every way ``trigger`` leaves ``state`` ends the case (ask to confirm first)."""
        found = self.candidates(trigger, state)
        return bool(found) and all(self.states[t.dest].is_final for t in found)

    def is_return(self, transition: TransitionDef) -> bool:
        """A return: from a reviewing stage back to the applicant or to an earlier stage."""
        order = [s.name for s in self.review_states]
        dest = self.states[transition.dest]
        for source in transition.sources:
            if not self.states[source].is_review:
                continue
            if dest.kind == "applicant" and dest.name != self.initial:
                return True
            if dest.is_review and order.index(dest.name) < order.index(source):
                return True
        return False

    @property
    def return_triggers(self) -> tuple[str, ...]:
        """The triggers that send a case back (return_to_applicant, return_to_district …)."""
        return tuple(dict.fromkeys(t.trigger for t in self.transitions if self.is_return(t)))

    @property
    def levels(self) -> tuple[str, ...]:
        """The administrative levels the definition's reviewing stages work at."""
        return tuple(dict.fromkeys(s.level for s in self.review_states))

    def issuing_level(self, managed_by: str) -> str:
        """The level that issues the decision recognising a subject managed by ``managed_by``
        (``Case.entry_level``); see ``issuing_level``."""
        return issuing_level(self.decision, managed_by, self.levels)

    def managed_by_issued_at(self, level: str) -> tuple[str, ...]:
        """The managing levels of the subjects whose decisions ``level`` issues (none when
        the title has no decision block or that level issues none)."""
        if self.decision is None:
            return ()
        return tuple(m for m in MANAGING_LEVELS if self.issuing_level(m) == level)

    def supervising_level(self, state: str) -> str:
        """The level that supervises a stage: the next reviewing stage's level.

        The last stage has no next one: the provincial association supervises it.
        """
        stages = self.review_states
        names = [s.name for s in stages]
        if state not in names:
            raise KeyError(state)
        index = names.index(state)
        if index + 1 < len(stages):
            return stages[index + 1].level
        return "province_officer"

    def supervising_roles(self, state: str) -> tuple[str, ...]:
        stages = self.review_states
        names = [s.name for s in stages]
        index = names.index(state)
        if index + 1 < len(stages):
            return stages[index + 1].roles
        return ("province_officer",)

    def to_dict(self) -> dict:
        """A JSON-ready description for clients that render the workflow."""
        return {
            "name": self.name,
            "title": self.title,
            "set": self.set_name,
            "initial": self.initial,
            "states": [
                {
                    "name": s.name,
                    "label": s.label,
                    "kind": s.kind,
                    "level": s.level,
                    "roles": list(s.roles),
                    "sla_days": s.sla_days,
                    "joint": list(s.joint),
                }
                for s in self.states.values()
            ],
            "transitions": [
                {
                    "trigger": t.trigger,
                    "sources": list(t.sources),
                    "dest": t.dest,
                    "roles": list(t.roles),
                    "guards": list(t.guards),
                    "comment_required": t.comment_required,
                    "label": t.label,
                }
                for t in self.transitions
            ],
            "escalation": [
                {
                    "rung": r.rung,
                    "action": r.action,
                    "notify": list(r.notify),
                    "at_sla_fraction": r.at_sla_fraction,
                    "overdue_days": r.overdue_days,
                }
                for r in self.escalation
            ],
        }


def _read(path: Path) -> dict:
    return read_settings(path, _FILE_KEYS)


def _merge(base: dict, child: dict) -> dict:
    """Child settings over the base's: states merge per state, lists are replaced."""
    merged = {k: v for k, v in base.items() if k != "abstract"}
    for key, value in child.items():
        if key == "states" and isinstance(value, dict):
            states = {name: dict(spec or {}) for name, spec in (base.get("states") or {}).items()}
            for name, spec in value.items():
                states[name] = {**states.get(name, {}), **(spec or {})}
            merged["states"] = states
        elif key != "extends":
            merged[key] = value
    return merged


def _build(path: Path, data: dict, set_name: str, where: str | None = None) -> WorkflowDefinition:
    top = Place(where or path)
    title = data.get("title")
    if not isinstance(title, str) or title not in TITLES:
        (top / "title").fail(f"{title!r} is not one of {list(TITLES)}")
    raw_states = data.get("states")
    if not isinstance(raw_states, dict) or not raw_states:
        (top / "states").fail("must be a non-empty mapping of states")
    states: dict[str, StateDef] = {}
    for name, spec in raw_states.items():
        at = top / "states" / str(name)
        if not isinstance(name, str) or not name.isidentifier():
            at.fail("a state name must be a word like commune_review")
        spec = at.mapping(spec, _STATE_KEYS)
        kind = spec.get("kind")
        if kind not in STATE_KINDS:
            (at / "kind").fail(f"must be one of {list(STATE_KINDS)}, got {kind!r}")
        roles = (at / "roles").names(spec.get("roles"))
        for role in roles:
            if not isinstance(role, str) or role not in ROLES:
                (at / "roles").fail(f"unknown role {role!r}")
        level = spec.get("level")
        if level is not None and (not isinstance(level, str) or level not in LEVELS):
            (at / "level").fail(f"must be one of {list(LEVELS)}, got {level!r}")
        sla = spec.get("sla_days")
        joint = (at / "joint").names(spec.get("joint"))
        if kind == "review":
            if level is None:
                (at / "level").fail(f"a review state needs a level, one of {list(LEVELS)}")
            if not roles:
                (at / "roles").fail("a review state needs the roles that work it")
            if not is_whole_number(sla):
                (at / "sla_days").fail(f"must be a whole number of working days, got {sla!r}")
            if sla < 1:
                (at / "sla_days").fail(f"must be at least 1, got {sla}")
        elif sla is not None:
            (at / "sla_days").fail("only review states have sla_days")
        departments = set(DEPARTMENT_OF_ROLE.values())
        for department in joint:
            if not isinstance(department, str) or department not in departments:
                (at / "joint").fail(f"unknown department {department!r}")
        signing = {DEPARTMENT_OF_ROLE[r] for r in roles if r in DEPARTMENT_OF_ROLE}
        if joint and not set(joint) <= signing:
            (at / "joint").fail("every joint department needs its role in roles")
        states[name] = StateDef(
            name=name,
            label=str(spec.get("label") or name),
            kind=kind,
            level=level,
            roles=roles,
            sla_days=sla,
            joint=joint,
        )
    initial = data.get("initial")
    if not isinstance(initial, str) or initial not in states:
        (top / "initial").fail(f"{initial!r} is not a defined state")

    raw_transitions = data.get("transitions")
    if not isinstance(raw_transitions, list) or not raw_transitions:
        (top / "transitions").fail("must be a non-empty list")
    transitions = []
    for number, spec in enumerate(raw_transitions, start=1):
        at = top / "transitions" / number
        if not isinstance(spec, dict):
            at.fail("must be a mapping with trigger, source, dest and roles")
        at.mapping(spec, _TRANSITION_KEYS)
        trigger = spec.get("trigger")
        if not isinstance(trigger, str) or not trigger.isidentifier():
            (at / "trigger").fail(f"must be a name, got {trigger!r}")
        sources = (at / "source").names(spec.get("source"))
        if not sources:
            (at / "source").fail("is missing")
        for source in sources:
            if not isinstance(source, str) or source not in states:
                (at / "source").fail(f"{source!r} is not a defined state")
        dest = spec.get("dest")
        if not isinstance(dest, str) or dest not in states:
            (at / "dest").fail(f"leads to {dest!r}, which is not a defined state")
        for source in sources:
            # a final state is left only for another one (a revocation), never back into review
            if states[source].is_final and not states[dest].is_final:
                (at / "source").fail(
                    f"{source!r} is a final state; from it only another final state may follow"
                )
        roles = (at / "roles").names(spec.get("roles"))
        if not roles:
            (at / "roles").fail(f"missing: who may fire {trigger!r}?")
        for role in roles:
            if not isinstance(role, str) or role not in ROLES:
                (at / "roles").fail(f"unknown role {role!r}")
        guards = (at / "guards").names(spec.get("guards"))
        for guard in guards:
            if not isinstance(guard, str) or guard not in GUARD_NAMES:
                (at / "guards").fail(f"unknown guard {guard!r}; known guards: {list(GUARD_NAMES)}")
        comment = spec.get("comment", False)
        if not isinstance(comment, bool):
            (at / "comment").fail(f"must be true or false, got {comment!r}")
        by_issuing_level = spec.get("issuing_level", False)
        if not isinstance(by_issuing_level, bool):
            (at / "issuing_level").fail(f"must be true or false, got {by_issuing_level!r}")
        transitions.append(
            TransitionDef(
                trigger=trigger,
                sources=sources,
                dest=dest,
                roles=roles,
                guards=guards,
                comment_required=comment,
                label=str(spec.get("label") or trigger),
                issuing_level=by_issuing_level,
            )
        )

    reachable = {initial}
    changed = True
    while changed:
        changed = False
        for t in transitions:
            if reachable & set(t.sources) and t.dest not in reachable:
                reachable.add(t.dest)
                changed = True
    unreachable = set(states) - reachable
    if unreachable:
        (top / "states").fail(f"state(s) {sorted(unreachable)} cannot be reached from {initial!r}")

    rungs = []
    raw_rungs = data.get("escalation") or []
    if not isinstance(raw_rungs, list):
        (top / "escalation").fail("must be a list of rungs")
    for number, spec in enumerate(raw_rungs, start=1):
        at = top / "escalation" / number
        if not isinstance(spec, dict):
            at.fail("must be a mapping with rung, action, notify and when")
        at.mapping(spec, _RUNG_KEYS)
        if spec.get("rung") != number:
            (at / "rung").fail(f"rungs must be numbered 1, 2, 3 … in order; expected {number}")
        if not isinstance(spec.get("action"), str) or spec.get("action") not in RUNG_ACTIONS:
            (at / "action").fail(f"must be one of {list(RUNG_ACTIONS)}")
        notify = (at / "notify").names(spec.get("notify"))
        for target in notify:
            if not isinstance(target, str) or target not in NOTIFY_TARGETS:
                (at / "notify").fail(f"unknown notify target {target!r}")
        fraction = spec.get("at_sla_fraction")
        overdue = spec.get("overdue_days")
        if (fraction is None) == (overdue is None):
            at.fail("give exactly one of at_sla_fraction, overdue_days")
        if fraction is not None and not (is_number(fraction) and 0 < fraction < 1):
            (at / "at_sla_fraction").fail(f"must be between 0 and 1, got {fraction!r}")
        if overdue is not None and (not is_whole_number(overdue) or overdue < 0):
            (at / "overdue_days").fail(f"must be a whole number, 0 or more, got {overdue!r}")
        rungs.append(
            RungDef(
                rung=number,
                action=spec["action"],
                notify=notify,
                at_sla_fraction=fraction,
                overdue_days=overdue,
            )
        )
    levels = tuple(dict.fromkeys(s.level for s in states.values() if s.is_review))
    decision = _build_decision(data.get("decision"), str(where or path), levels)
    if "revoke" in {t.trigger for t in transitions} and decision is None:
        raise ConfigurationError(f"{where or path}: a revoke transition needs a decision: block")
    if decision is None and any(t.issuing_level for t in transitions):
        raise ConfigurationError(f"{where or path}: issuing_level: true needs a decision: block")
    village_meeting = data.get("village_meeting", "optional")
    if village_meeting not in VILLAGE_MEETING_RULES:
        raise ConfigurationError(
            f"{where or path}: village_meeting must be one of {', '.join(VILLAGE_MEETING_RULES)}"
        )
    return WorkflowDefinition(
        name=path.stem,
        title=title,
        set_name=set_name,
        source_file=str(path),
        initial=initial,
        states=states,
        transitions=tuple(transitions),
        escalation=tuple(rungs),
        decision=decision,
        village_meeting=village_meeting,
        carried_from=_carried_from(data.get("carried_from"), states, where),
    )


def _build_decision(spec, where: str, levels: tuple[str, ...] = LEVELS) -> DecisionDef | None:
    if spec is None:
        return None
    at = f"{where}: decision"
    if not isinstance(spec, dict):
        raise ConfigurationError(f"{at}: must be a mapping")
    unknown = set(spec) - _DECISION_KEYS
    if unknown:
        raise ConfigurationError(f"{at}: unknown setting(s) {sorted(unknown)}")
    missing = _DECISION_KEYS - set(spec)
    if missing:
        raise ConfigurationError(f"{at}: missing setting(s) {sorted(missing)}")
    if spec["level"] not in (*LEVELS, MANAGING):
        raise ConfigurationError(f"{at}: level must be one of {[*LEVELS, MANAGING]}")
    probe = DecisionDef(level=spec["level"], bases=(), valid_months=1)
    # the levels this block issues at: every managing level's, in this definition
    issuing = tuple(dict.fromkeys(issuing_level(probe, m, levels) for m in MANAGING_LEVELS))
    per_level = {}
    for key in _PER_LEVEL_KEYS:
        value = spec[key]
        if isinstance(value, dict):
            unknown_levels = set(value) - set(LEVELS)
            if unknown_levels:
                raise ConfigurationError(
                    f"{at}: {key} names unknown level(s) {sorted(map(str, unknown_levels))}"
                )
            lacking = [lv for lv in issuing if lv not in value]
            if lacking:
                raise ConfigurationError(
                    f"{at}: {key} gives no text for the level(s) {lacking} it issues at"
                )
        else:
            value = dict.fromkeys(issuing, value)
        for text in value.values():
            if not isinstance(text, str) or not text.strip():
                raise ConfigurationError(f"{at}: {key} must be a text (or one per level)")
        per_level[key] = {level: text.strip() for level, text in value.items()}
    for body in per_level["body"].values():
        if "{unit}" not in body:
            raise ConfigurationError(f"{at}: body must contain {{unit}} (the territory's name)")
    for number in per_level["number"].values():
        if "{n}" not in number:
            raise ConfigurationError(f"{at}: number must contain {{n}} (the running number)")
    bases = spec["bases"]
    if (
        not isinstance(bases, list)
        or not bases
        or not all(isinstance(b, str) and b.strip() for b in bases)
    ):
        raise ConfigurationError(f"{at}: bases must be a non-empty list of texts (căn cứ)")
    months = spec["valid_months"]
    if isinstance(months, bool) or not isinstance(months, int) or months < 1:
        raise ConfigurationError(f"{at}: valid_months must be a whole number of months, 1 or more")
    return DecisionDef(
        level=spec["level"],
        bases=tuple(b.strip() for b in bases),
        valid_months=months,
        texts={
            level: DecisionText(
                level=level,
                signer_title=per_level["signer_title"][level],
                body=per_level["body"][level],
                number=per_level["number"][level],
            )
            for level in issuing
        },
    )


def _carried_from(raw, states: dict, where: str) -> dict:
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not all(isinstance(v, dict) for v in raw.values()):
        raise ConfigurationError(f"{where}: carried_from must map a set name to {{state: state}}")
    for set_name, mapping in raw.items():
        for old, new in mapping.items():
            if new not in states:
                raise ConfigurationError(
                    f"{where}: carried_from {set_name}: {old} → {new!r}, which is not a state"
                )
    return {str(k): {str(o): str(n) for o, n in v.items()} for k, v in raw.items()}


def load_workflows(directory: str | Path, set_name: str) -> dict[str, WorkflowDefinition]:
    """Load and validate the definitions of one set; return them by title.

    Raises ConfigurationError naming the file and the problem.
    """
    folder = Path(directory) / set_name
    if not folder.is_dir():
        raise ConfigurationError(f"{folder}: no such workflow set (WORKFLOW_SET={set_name!r})")
    raw = {path.stem: (path, _read(path)) for path in yaml_files(folder, "workflow")}
    by_title: dict[str, WorkflowDefinition] = {}
    for name, (path, data) in raw.items():
        if data.get("abstract"):
            continue
        seen = [name]
        while "extends" in data:
            parent = data["extends"]
            at = Place(raw[seen[-1]][0]) / "extends"
            if not isinstance(parent, str):
                at.fail(f"must name a file of {folder}, got {parent!r}")
            if parent not in raw:
                at.fail(f"{parent!r} is not a file of {folder}")
            if parent in seen:
                at.fail(f"the file extends itself through {seen}")
            seen.append(parent)
            data = _merge(raw[parent][1], data)
        where = str(path)
        if len(seen) > 1:
            where += " (extends " + ", ".join(str(raw[n][0]) for n in seen[1:]) + ")"
        definition = _build(path, data, set_name, where)
        if definition.title in by_title:
            (Place(path) / "title").fail(
                f"a second definition for {definition.title!r} "
                f"(also {by_title[definition.title].source_file})"
            )
        by_title[definition.title] = definition
    missing = set(TITLES) - set(by_title)
    if missing:
        raise ConfigurationError(f"{folder}: no workflow definition for {sorted(missing)}")
    return by_title
