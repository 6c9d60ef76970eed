"""The workflow engine: one shared ``transitions.Machine`` per definition, built once.

A case never owns a machine. To fire a trigger, the operation builds a light
``TransitionContext`` (the case's facts plus the actor) and runs the shared machine's event on
it; the machine checks the source state and the guards and sets ``context.state``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

from flask import current_app
from transitions import Machine, MachineError

from htsd_workflow.cases.definitions import (
    StateDef,
    TransitionDef,
    WorkflowDefinition,
    load_workflows,
)
from htsd_workflow.criteria.loader import (
    CriteriaSet,
    criteria_set_for,
    load_criteria_sets,
    reference_date,
)


@dataclass
class TransitionContext:
    """What the guards may look at while one trigger is fired on one case."""

    state: str
    entry_level: str
    returned_from: str | None = None
    #: criteria item codes without a score; None when not looked up
    missing_items: tuple[str, ...] | None = None
    #: departments that have signed, including the one signing now
    signed_departments: frozenset[str] = field(default_factory=frozenset)
    joint_departments: tuple[str, ...] = ()
    #: the definition row of the transition taken
    taken: TransitionDef | None = None


GUARDS = {
    "assessment_complete": lambda ctx, t: not ctx.missing_items,
    "managed_at_commune": lambda ctx, t: ctx.entry_level == "commune",
    "managed_at_district": lambda ctx, t: ctx.entry_level == "district",
    "managed_at_province": lambda ctx, t: ctx.entry_level == "province",
    "returned_from_dest": lambda ctx, t: ctx.returned_from == t.dest,
    "all_departments_signed": lambda ctx, t: set(ctx.joint_departments) <= ctx.signed_departments,
    "not_all_departments_signed": lambda ctx, t: not (
        set(ctx.joint_departments) <= ctx.signed_departments
    ),
}


#: the guards that read the case's missing scores (``missing_items``, looked up only for them)
READS_MISSING_ITEMS = frozenset({"assessment_complete"})


def reads_missing_items(specs) -> bool:
    """Whether firing one of the transitions ``specs`` evaluates the missing scores."""
    return any(READS_MISSING_ITEMS.intersection(spec.guards) for spec in specs)


def guard_passes(name: str, ctx: TransitionContext, transition: TransitionDef) -> bool:
    return bool(GUARDS[name](ctx, transition))


def _condition(name: str):
    def check(event_data) -> bool:
        return guard_passes(name, event_data.model, event_data.transition.spec)

    check.__name__ = f"guard_{name}"
    return check


def _recorder(spec: TransitionDef):
    def record(event_data) -> None:
        event_data.model.taken = spec

    return record


class WorkflowEngine:
    """A definition with its one shared machine."""

    def __init__(self, definition: WorkflowDefinition):
        self.definition = definition
        self.machine = Machine(
            model=None,
            states=list(definition.states),
            initial=definition.initial,
            auto_transitions=False,
            send_event=True,
            ignore_invalid_triggers=False,
        )
        for spec in definition.transitions:
            for source in spec.sources:
                dest = None if spec.dest == source else spec.dest  # internal: no exit/enter
                self.machine.add_transition(
                    spec.trigger,
                    source,
                    dest,
                    conditions=[_condition(g) for g in spec.guards],
                    after=[_recorder(spec)],
                )
                # each machine transition knows the definition row it came from
                self.machine.events[spec.trigger].transitions[source][-1].spec = spec

    def would_take(self, ctx: TransitionContext, trigger: str) -> TransitionDef | None:
        """The transition ``trigger`` would take from ``ctx`` by the machine's guards, without
        changing ``ctx`` (it is fired on a copy)."""
        return self.run(replace(ctx), trigger)

    def run(self, ctx: TransitionContext, trigger: str) -> TransitionDef | None:
        """Fire ``trigger`` on ``ctx``; return the transition taken, or None if guards refused.

        Raises ``MachineError`` when the trigger does not leave the current state.
        """
        event = self.machine.events.get(trigger)
        if event is None:
            raise MachineError(f"unknown trigger {trigger!r}")
        ctx.taken = None
        if not event.trigger(ctx):
            return None
        return ctx.taken


#: the workflow sets an installation may hold side by side (a province runs one, in data)
WORKFLOW_SETS = ("three_tier", "two_tier")


def set_of(workflow: str) -> str:
    """The set of a case's ``workflow`` ("two_tier/family" → "two_tier")."""
    return workflow.split("/", 1)[0]


class WorkflowRegistry:
    """The definitions and criteria sets in force, loaded and validated at start-up.

    Every set under the workflows folder is loaded: each case runs under the set it records
    (``Case.workflow``: ``definition_of``), and a new case under its province's set
    (``cases.starting.definition_for``). ``definitions`` and ``engines`` are those of the
    installation's default set (``WORKFLOW_SET``), the set of a province whose data names
    none; what walks stages or states (the escalation scan, queues, counts, checks) walks
    ``every_definition`` instead, since a database may hold cases of either set.
    """

    def __init__(self, workflows_dir: str, set_name: str):
        self.set_name = set_name
        self.sets = {set_name: load_workflows(workflows_dir, set_name)}
        for other in WORKFLOW_SETS:
            if other != set_name and (Path(workflows_dir) / other).is_dir():
                self.sets[other] = load_workflows(workflows_dir, other)
        self.engines_by_set = {
            name: {title: WorkflowEngine(d) for title, d in definitions.items()}
            for name, definitions in self.sets.items()
        }
        self.definitions = self.sets[set_name]
        self.engines = self.engines_by_set[set_name]
        self.criteria_sets = load_criteria_sets(f"{workflows_dir}/criteria")

    def definition(self, title: str, set_name: str | None = None) -> WorkflowDefinition:
        return self.sets[set_name or self.set_name][title]

    def engine(self, title: str, set_name: str | None = None) -> WorkflowEngine:
        return self.engines_by_set[set_name or self.set_name][title]

    def definition_of(self, case) -> WorkflowDefinition:
        """The definition a case (or a row with ``title`` and ``workflow``) runs under: the set
        it records, never the default one (a three-tier case stays three-tier under a two-tier
        default until it is carried)."""
        return self.definition(case.title, set_of(case.workflow))

    def engine_of(self, case) -> WorkflowEngine:
        return self.engine(case.title, set_of(case.workflow))

    def every_definition(self) -> list[WorkflowDefinition]:
        """Every loaded definition of every set, the default set's first."""
        return [d for definitions in self.sets.values() for d in definitions.values()]

    def states_in_force(self) -> list[StateDef]:
        """Every state of every set, once per name, in the files' order (the default set's
        first): the stages a list or a count may meet."""
        seen: dict[str, StateDef] = {}
        for definition in self.every_definition():
            for state in definition.states.values():
                seen.setdefault(state.name, state)
        return list(seen.values())

    def transition_label(
        self,
        trigger: str,
        state: str | None = None,
        title: str | None = None,
        workflow: str | None = None,
    ):
        """The workflow file's label of a trigger: the case's definition first (its title in
        the set ``workflow`` names, else in the default set), then any."""
        ordered = self.every_definition()
        if title in self.definitions:
            set_name = set_of(workflow) if workflow else self.set_name
            ordered.insert(0, self.sets.get(set_name, self.definitions)[title])
        for definition in ordered:
            label = definition.transition_label(trigger, state)
            if label is not None:
                return label
        return None

    @property
    def return_triggers(self) -> tuple[str, ...]:
        """Every trigger that sends a case back, in any definition of any set."""
        found = (t for d in self.every_definition() for t in d.return_triggers)
        return tuple(dict.fromkeys(found))

    def criteria_for(
        self, title: str, year: int, managed_by: str = "commune", today: date | None = None
    ) -> CriteriaSet:
        """The set a case for ``year`` starting ``today`` (by default: that year's last day)
        takes, for a subject managed by ``managed_by``."""
        on = reference_date(year, today) if today is not None else year
        return criteria_set_for(self.criteria_sets, title, on, managed_by)

    def criteria_set(self, set_id: str) -> CriteriaSet:
        return self.criteria_sets[set_id]


def get_registry() -> WorkflowRegistry:
    return current_app.extensions["htsd_registry"]
