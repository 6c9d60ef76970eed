"""Workflow definitions: loaded from ``workflows/<set>/*.yaml`` and validated at start-up."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from htsd_workflow.auth.roles import DEPARTMENT_OF_ROLE, ROLES
from htsd_workflow.core.errors import ConfigurationError
from htsd_workflow.geography.models import LEVELS
from htsd_workflow.subjects.models import TITLE_OF_KIND

TITLES = tuple(TITLE_OF_KIND.values())
STATE_KINDS = ("applicant", "review", "final")
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
    "carried_from",
}
_STATE_KEYS = {"label", "kind", "level", "roles", "sla_days", "joint"}
_TRANSITION_KEYS = {"trigger", "source", "dest", "roles", "guards", "comment", "label"}
_RUNG_KEYS = {"rung", "at_sla_fraction", "overdue_days", "action", "notify"}


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


@dataclass(frozen=True)
class RungDef:
    rung: int
    action: str
    notify: tuple[str, ...]
    #: fire when this share of the stage's SLA has passed (e.g. 0.75)
    at_sla_fraction: float | None = None
    #: fire when the case is overdue by more than this many working days (0 = as soon as overdue)
    overdue_days: int | None = None


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
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigurationError(f"{path}: the file must hold a mapping of settings")
    unknown = set(data) - _FILE_KEYS
    if unknown:
        raise ConfigurationError(f"{path}: unknown setting(s) {sorted(unknown)}")
    return data


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


def _as_tuple(value, where: str) -> tuple:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(value)
    raise ConfigurationError(f"{where}: expected a name or a list of names, got {value!r}")


def _build(path: Path, data: dict, set_name: str, where: str | None = None) -> WorkflowDefinition:
    where = where or str(path)
    title = data.get("title")
    if not isinstance(title, str) or title not in TITLES:
        raise ConfigurationError(f"{where}: title {title!r} is not one of {list(TITLES)}")
    raw_states = data.get("states")
    if not isinstance(raw_states, dict) or not raw_states:
        raise ConfigurationError(f"{where}: 'states' must be a non-empty mapping")
    states: dict[str, StateDef] = {}
    for name, spec in raw_states.items():
        at = f"{where}: state {name!r}"
        if not isinstance(name, str) or not name.isidentifier():
            raise ConfigurationError(f"{at}: a state name must be a word like commune_review")
        spec = spec or {}
        if not isinstance(spec, dict):
            raise ConfigurationError(f"{at}: must be a mapping")
        unknown = set(spec) - _STATE_KEYS
        if unknown:
            raise ConfigurationError(f"{at}: unknown setting(s) {sorted(unknown)}")
        kind = spec.get("kind")
        if kind not in STATE_KINDS:
            raise ConfigurationError(f"{at}: kind must be one of {list(STATE_KINDS)}")
        roles = _as_tuple(spec.get("roles"), at)
        for role in roles:
            if not isinstance(role, str) or role not in ROLES:
                raise ConfigurationError(f"{at}: unknown role {role!r}")
        level = spec.get("level")
        if level is not None and not isinstance(level, str):
            raise ConfigurationError(f"{at}: level must be one of {LEVELS}")
        sla = spec.get("sla_days")
        joint = _as_tuple(spec.get("joint"), at)
        if kind == "review":
            if level not in LEVELS:
                raise ConfigurationError(f"{at}: a review state needs level, one of {LEVELS}")
            if not roles:
                raise ConfigurationError(f"{at}: a review state needs the roles that work it")
            if isinstance(sla, bool) or not isinstance(sla, int):
                raise ConfigurationError(f"{at}: sla_days must be a whole number of working days")
            if sla < 1:
                raise ConfigurationError(f"{at}: sla_days must be at least 1, got {sla}")
        elif sla is not None:
            raise ConfigurationError(f"{at}: only review states have sla_days")
        departments = set(DEPARTMENT_OF_ROLE.values())
        for department in joint:
            if not isinstance(department, str) or department not in departments:
                raise ConfigurationError(f"{at}: unknown department {department!r} in joint")
        signing = {DEPARTMENT_OF_ROLE[r] for r in roles if r in DEPARTMENT_OF_ROLE}
        if joint and not set(joint) <= signing:
            raise ConfigurationError(f"{at}: every joint department needs its role in roles")
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
        raise ConfigurationError(f"{where}: initial state {initial!r} is not a defined state")

    raw_transitions = data.get("transitions")
    if not isinstance(raw_transitions, list) or not raw_transitions:
        raise ConfigurationError(f"{where}: 'transitions' must be a non-empty list")
    transitions = []
    for number, spec in enumerate(raw_transitions, start=1):
        at = f"{where}: transition {number}"
        if not isinstance(spec, dict):
            raise ConfigurationError(f"{at}: must be a mapping")
        unknown = set(spec) - _TRANSITION_KEYS
        if unknown:
            raise ConfigurationError(f"{at}: unknown setting(s) {sorted(unknown)}")
        trigger = spec.get("trigger")
        if not isinstance(trigger, str) or not trigger.isidentifier():
            raise ConfigurationError(f"{at}: trigger must be a name, got {trigger!r}")
        at = f"{where}: transition {number} ({trigger})"
        sources = _as_tuple(spec.get("source"), at)
        if not sources:
            raise ConfigurationError(f"{at}: source is missing")
        for source in sources:
            if not isinstance(source, str) or source not in states:
                raise ConfigurationError(f"{at}: source {source!r} is not a defined state")
            if states[source].is_final:
                raise ConfigurationError(f"{at}: source {source!r} is a final state")
        dest = spec.get("dest")
        if not isinstance(dest, str) or dest not in states:
            raise ConfigurationError(f"{at}: leads to {dest!r}, which is not a defined state")
        roles = _as_tuple(spec.get("roles"), at)
        if not roles:
            raise ConfigurationError(f"{at}: roles are missing (who may fire it?)")
        for role in roles:
            if not isinstance(role, str) or role not in ROLES:
                raise ConfigurationError(f"{at}: unknown role {role!r}")
        guards = _as_tuple(spec.get("guards"), at)
        for guard in guards:
            if not isinstance(guard, str) or guard not in GUARD_NAMES:
                raise ConfigurationError(
                    f"{at}: unknown guard {guard!r}; known guards: {list(GUARD_NAMES)}"
                )
        comment = spec.get("comment", False)
        if not isinstance(comment, bool):
            raise ConfigurationError(f"{at}: comment must be true or false")
        transitions.append(
            TransitionDef(
                trigger=trigger,
                sources=sources,
                dest=dest,
                roles=roles,
                guards=guards,
                comment_required=comment,
                label=str(spec.get("label") or trigger),
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
        raise ConfigurationError(f"{where}: state(s) {sorted(unreachable)} cannot be reached")

    rungs = []
    raw_rungs = data.get("escalation") or []
    if not isinstance(raw_rungs, list):
        raise ConfigurationError(f"{where}: escalation must be a list of rungs")
    for number, spec in enumerate(raw_rungs, start=1):
        at = f"{where}: escalation rung {number}"
        if not isinstance(spec, dict):
            raise ConfigurationError(f"{at}: must be a mapping")
        unknown = set(spec) - _RUNG_KEYS
        if unknown:
            raise ConfigurationError(f"{at}: unknown setting(s) {sorted(unknown)}")
        if spec.get("rung") != number:
            raise ConfigurationError(f"{at}: rungs must be numbered 1, 2, 3 … in order")
        if not isinstance(spec.get("action"), str) or spec.get("action") not in RUNG_ACTIONS:
            raise ConfigurationError(f"{at}: action must be one of {list(RUNG_ACTIONS)}")
        notify = _as_tuple(spec.get("notify"), at)
        for target in notify:
            if not isinstance(target, str) or target not in NOTIFY_TARGETS:
                raise ConfigurationError(f"{at}: unknown notify target {target!r}")
        fraction = spec.get("at_sla_fraction")
        overdue = spec.get("overdue_days")
        if (fraction is None) == (overdue is None):
            raise ConfigurationError(f"{at}: give exactly one of at_sla_fraction, overdue_days")
        if fraction is not None and not (
            isinstance(fraction, int | float)
            and not isinstance(fraction, bool)
            and 0 < fraction < 1
        ):
            raise ConfigurationError(f"{at}: at_sla_fraction must be between 0 and 1")
        if overdue is not None and (
            isinstance(overdue, bool) or not isinstance(overdue, int) or overdue < 0
        ):
            raise ConfigurationError(f"{at}: overdue_days must be a whole number, 0 or more")
        rungs.append(
            RungDef(
                rung=number,
                action=spec["action"],
                notify=notify,
                at_sla_fraction=fraction,
                overdue_days=overdue,
            )
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
        carried_from=_carried_from(data.get("carried_from"), states, where),
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
    raw = {path.stem: (path, _read(path)) for path in sorted(folder.glob("*.yaml"))}
    by_title: dict[str, WorkflowDefinition] = {}
    for name, (path, data) in raw.items():
        if data.get("abstract"):
            continue
        seen = [name]
        while "extends" in data:
            parent = data["extends"]
            if not isinstance(parent, str):
                raise ConfigurationError(f"{path}: extends must name a file of {folder}")
            if parent not in raw:
                raise ConfigurationError(f"{path}: extends {parent!r}, which is not in {folder}")
            if parent in seen:
                raise ConfigurationError(f"{path}: extends itself through {seen}")
            seen.append(parent)
            data = _merge(raw[parent][1], data)
        where = str(path)
        if len(seen) > 1:
            where += " (extends " + ", ".join(str(raw[n][0]) for n in seen[1:]) + ")"
        definition = _build(path, data, set_name, where)
        if definition.title in by_title:
            raise ConfigurationError(
                f"{path}: a second definition for title {definition.title!r} "
                f"(also {by_title[definition.title].source_file})"
            )
        by_title[definition.title] = definition
    missing = set(TITLES) - set(by_title)
    if missing:
        raise ConfigurationError(f"{folder}: no workflow definition for {sorted(missing)}")
    return by_title
