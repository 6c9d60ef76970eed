"""At start-up: every running case must be in a state its definition still has.

Workflow files change; a state removed from a file while cases are in it would leave those
cases unreadable (a 500 on their page, every action refused). Start-up stops instead, naming
the file, the state and how many cases, unless a mapping for that state is given
(``WORKFLOW_STATE_MAP``), which says where ``flask workflows migrate`` will carry them.
"""

from __future__ import annotations

import logging

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from htsd_workflow.cases.engine import WorkflowRegistry, set_of
from htsd_workflow.cases.models import Case
from htsd_workflow.core.errors import ConfigurationError
from htsd_workflow.extensions import db

log = logging.getLogger(__name__)


def parse_state_map(raw: str | dict | None) -> dict[str, str]:
    """``"a=b,c=d"`` (or several ``--map a=b``) → {"a": "b", "c": "d"}."""
    if not raw:
        return {}
    if isinstance(raw, dict):
        return dict(raw)
    items = raw if isinstance(raw, list | tuple) else raw.split(",")
    mapping = {}
    for item in items:
        old, sep, new = item.strip().partition("=")
        if not sep or not old.strip() or not new.strip():
            raise ConfigurationError(f"state mapping {item!r}: write it as old_state=new_state")
        mapping[old.strip()] = new.strip()
    return mapping


def stranded_cases(registry: WorkflowRegistry) -> list[tuple[str, str, str, int]]:
    """(file or folder, set, state, number of running cases) for every state of running cases
    that its definition no longer has."""
    rows = db.session.execute(
        select(Case.workflow, Case.title, Case.state, func.count())
        .where(Case.is_open.is_(True))
        .group_by(Case.workflow, Case.title, Case.state)
    ).all()
    found = []
    for workflow, title, state, count in rows:
        set_name = set_of(workflow)
        definitions = registry.sets.get(set_name)
        if definitions is None or title not in definitions:
            found.append((f"workflows/{set_name}", set_name, state, count))
        elif state not in definitions[title].states:
            found.append((definitions[title].source_file, set_name, state, count))
    return found


def refuse_stranded_cases(app, registry: WorkflowRegistry) -> None:
    """Stop start-up when running cases are in states their files no longer have, unless
    ``WORKFLOW_STATE_MAP`` maps those states (then warn: ``flask workflows migrate``)."""
    mapping = parse_state_map(app.config.get("WORKFLOW_STATE_MAP"))
    with app.app_context():
        try:
            stranded = stranded_cases(registry)
        except SQLAlchemyError:  # no schema yet, or the database is not up: nothing to check
            return  # (``remove`` below rolls the failed read back)
        finally:
            db.session.remove()
    unmapped = [s for s in stranded if s[2] not in mapping]
    if unmapped:
        raise ConfigurationError(
            "; ".join(
                f"{where}: no state {state!r}, but {count} running case(s) of {set_name} are "
                f"in it (give WORKFLOW_STATE_MAP={state}=<state> and run "
                f"`flask workflows migrate --from {set_name} --to <set> --map {state}=<state>`)"
                for where, set_name, state, count in unmapped
            )
        )
    for where, _set_name, state, count in stranded:
        log.warning(
            "%s: no state %r; %d running case(s) wait for `flask workflows migrate` (→ %s)",
            where,
            state,
            count,
            mapping[state],
        )
