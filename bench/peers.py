"""The other engines: the same four-step chain with SpiffWorkflow and python-statemachine.

The chain is submit → approve → approve → sign, one action per transaction with a history row
each, on the bench's PostgreSQL, one connection per engine. Each peer is persisted the way its
documentation shows for long-running workflows:

* SpiffWorkflow (BPMN): the workflow instance serialized whole with ``BpmnWorkflowSerializer``
  (``serialize_json`` / ``deserialize_json``) into one row per instance. An action locks the
  row, deserializes the instance, runs the ready user task, lets the engine step on, serializes
  it back and writes the history row.
* python-statemachine: a ``StateMachine`` bound to a domain model (``StateMachine(model,
  state_field="state")``): an action locks the model's row, builds the machine on the model,
  sends the event, and a transition callback writes the new state and the history row.

The tables (``peer_*``) are the bench's own: created at the start, dropped at the end. The
dependencies are in ``bench/requirements.txt``.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

#: the chain, as (trigger, actor) per step; the peers' actors are names, checked by nobody
CHAIN = (
    ("submit", "applicant"),
    ("approve", "commune"),
    ("approve", "district"),
    ("sign", "education"),
)

TABLES = """
CREATE TABLE IF NOT EXISTS peer_spiff_workflows (
    id bigserial PRIMARY KEY,
    serialization jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS peer_spiff_history (
    id bigserial PRIMARY KEY,
    workflow_id bigint NOT NULL REFERENCES peer_spiff_workflows (id),
    task text NOT NULL,
    actor text NOT NULL,
    at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS ix_peer_spiff_history_workflow ON peer_spiff_history (workflow_id);
CREATE TABLE IF NOT EXISTS peer_psm_cases (
    id bigserial PRIMARY KEY,
    state text NOT NULL,
    version integer NOT NULL DEFAULT 1,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS peer_psm_history (
    id bigserial PRIMARY KEY,
    case_id bigint NOT NULL REFERENCES peer_psm_cases (id),
    trigger text NOT NULL,
    from_state text NOT NULL,
    to_state text NOT NULL,
    actor text NOT NULL,
    at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS ix_peer_psm_history_case ON peer_psm_history (case_id);
"""
DROP = (
    "DROP TABLE IF EXISTS peer_spiff_history, peer_spiff_workflows, "
    "peer_psm_history, peer_psm_cases"
)


def create_tables(connection: psycopg.Connection) -> None:
    connection.execute(TABLES)
    connection.commit()


def drop_tables(connection: psycopg.Connection) -> None:
    connection.execute(DROP)
    connection.commit()


# --- SpiffWorkflow -------------------------------------------------------------------------

#: the chain as a BPMN process: four user tasks in a row, one lane per actor
BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    id="chain_definitions" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="chain" isExecutable="true">
    <bpmn:laneSet id="lanes">
      <bpmn:lane id="applicant" name="applicant">
        <bpmn:flowNodeRef>submit</bpmn:flowNodeRef>
      </bpmn:lane>
      <bpmn:lane id="commune" name="commune">
        <bpmn:flowNodeRef>approve_commune</bpmn:flowNodeRef>
      </bpmn:lane>
      <bpmn:lane id="district" name="district">
        <bpmn:flowNodeRef>approve_district</bpmn:flowNodeRef>
      </bpmn:lane>
      <bpmn:lane id="education" name="education">
        <bpmn:flowNodeRef>sign</bpmn:flowNodeRef>
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="start"><bpmn:outgoing>f0</bpmn:outgoing></bpmn:startEvent>
    <bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="submit"/>
    <bpmn:userTask id="submit" name="submit">
      <bpmn:incoming>f0</bpmn:incoming>
      <bpmn:outgoing>f1</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f1" sourceRef="submit" targetRef="approve_commune"/>
    <bpmn:userTask id="approve_commune" name="approve">
      <bpmn:incoming>f1</bpmn:incoming>
      <bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f2" sourceRef="approve_commune" targetRef="approve_district"/>
    <bpmn:userTask id="approve_district" name="approve">
      <bpmn:incoming>f2</bpmn:incoming>
      <bpmn:outgoing>f3</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f3" sourceRef="approve_district" targetRef="sign"/>
    <bpmn:userTask id="sign" name="sign">
      <bpmn:incoming>f3</bpmn:incoming>
      <bpmn:outgoing>f4</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f4" sourceRef="sign" targetRef="end"/>
    <bpmn:endEvent id="end">
      <bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>
  </bpmn:process>
</bpmn:definitions>
"""


class SpiffChain:
    """The chain on SpiffWorkflow, one serialized instance per row."""

    name = "SpiffWorkflow"

    def __init__(self) -> None:
        from SpiffWorkflow.bpmn.parser import BpmnParser
        from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
        from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
        from SpiffWorkflow.util.task import TaskState

        parser = BpmnParser()
        parser.add_bpmn_str(BPMN.encode())
        self.spec = parser.get_spec("chain")
        self.serializer = BpmnWorkflowSerializer()
        self.workflow_class = BpmnWorkflow
        self.ready = TaskState.READY

    def create(self, connection: psycopg.Connection, count: int) -> list[int]:
        """``count`` new instances waiting for ``submit`` (not timed)."""
        rows = []
        for _ in range(count):
            workflow = self.workflow_class(self.spec)
            workflow.do_engine_steps()
            rows.append((self.serializer.serialize_json(workflow),))
        with connection.cursor() as cur:
            ids = []
            for row in rows:
                cur.execute(
                    "INSERT INTO peer_spiff_workflows (serialization) VALUES (%s) RETURNING id",
                    row,
                )
                ids.append(cur.fetchone()[0])
        connection.commit()
        return ids

    def act(self, cur, workflow_id: int, trigger: str, actor: str) -> None:
        cur.execute(
            "SELECT serialization::text FROM peer_spiff_workflows WHERE id = %s FOR UPDATE",
            (workflow_id,),
        )
        workflow = self.serializer.deserialize_json(cur.fetchone()[0])
        task = workflow.get_next_task(state=self.ready, manual=True)
        if task is None or task.task_spec.bpmn_name != trigger or task.task_spec.lane != actor:
            raise RuntimeError(f"{trigger} by {actor} is not the ready task of {workflow_id}")
        task.data["actor"] = actor
        task.run()
        workflow.do_engine_steps()
        cur.execute(
            "UPDATE peer_spiff_workflows SET serialization = %s, updated_at = now() "
            "WHERE id = %s",
            (self.serializer.serialize_json(workflow), workflow_id),
        )
        cur.execute(
            "INSERT INTO peer_spiff_history (workflow_id, task, actor) VALUES (%s, %s, %s)",
            (workflow_id, task.task_spec.bpmn_id, actor),
        )

    def finished(self, connection: psycopg.Connection, ids: list[int]) -> int:
        """How many of ``ids`` ran to the end, each with four history rows."""
        done = 0
        for (text,) in connection.execute(
            "SELECT serialization::text FROM peer_spiff_workflows WHERE id = ANY(%s)", (ids,)
        ):
            done += self.serializer.deserialize_json(text).is_completed()
        connection.commit()
        return min(done, _history_complete(connection, "peer_spiff_history", "workflow_id", ids))


# --- python-statemachine --------------------------------------------------------------------


@dataclass
class PeerCase:
    """The domain model the machine is bound to (its ``state`` field holds the state)."""

    id: int
    state: str
    cursor: object = None
    actor: str = ""


def _machine_class():
    from statemachine import State, StateMachine

    class ChainMachine(StateMachine):
        draft = State(initial=True)
        commune_review = State()
        district_verification = State()
        provincial_confirmation = State()
        recognized = State(final=True)

        submit = draft.to(commune_review)
        approve = commune_review.to(district_verification) | district_verification.to(
            provincial_confirmation
        )
        sign = provincial_confirmation.to(recognized)

        def after_transition(self, event, source, target):
            model = self.model
            model.cursor.execute(
                "UPDATE peer_psm_cases SET state = %s, version = version + 1, "
                "updated_at = now() WHERE id = %s",
                (target.id, model.id),
            )
            model.cursor.execute(
                "INSERT INTO peer_psm_history (case_id, trigger, from_state, to_state, actor) "
                "VALUES (%s, %s, %s, %s, %s)",
                (model.id, event, source.id, target.id, model.actor),
            )

    return ChainMachine


class StatemachineChain:
    """The chain on python-statemachine, the machine bound to a model loaded per action."""

    name = "python-statemachine"

    def __init__(self) -> None:
        self.machine_class = _machine_class()

    def create(self, connection: psycopg.Connection, count: int) -> list[int]:
        with connection.cursor() as cur:
            cur.execute(
                "INSERT INTO peer_psm_cases (state) SELECT 'draft' FROM generate_series(1, %s) "
                "RETURNING id",
                (count,),
            )
            ids = sorted(row[0] for row in cur.fetchall())
        connection.commit()
        return ids

    def act(self, cur, case_id: int, trigger: str, actor: str) -> None:
        cur.execute("SELECT id, state FROM peer_psm_cases WHERE id = %s FOR UPDATE", (case_id,))
        model = PeerCase(*cur.fetchone(), cursor=cur, actor=actor)
        machine = self.machine_class(model, state_field="state")
        machine.send(trigger)

    def finished(self, connection: psycopg.Connection, ids: list[int]) -> int:
        done = connection.execute(
            "SELECT count(*) FROM peer_psm_cases WHERE id = ANY(%s) AND state = 'recognized'",
            (ids,),
        ).fetchone()[0]
        connection.commit()
        return min(done, _history_complete(connection, "peer_psm_history", "case_id", ids))


def _history_complete(connection, table: str, column: str, ids: list[int]) -> int:
    rows = connection.execute(
        f"SELECT count(*) FROM (SELECT {column} FROM {table} WHERE {column} = ANY(%s) "
        f"GROUP BY {column} HAVING count(*) = %s) AS done",
        (ids, len(CHAIN)),
    ).fetchone()[0]
    connection.commit()
    return rows


def run_chain(engine, connection: psycopg.Connection, ids: list[int]) -> None:
    """Every step of the chain on every instance: one action per transaction, step by step
    across the instances (as reviewers work through a queue)."""
    with connection.cursor() as cur:
        for trigger, actor in CHAIN:
            for instance in ids:
                engine.act(cur, instance, trigger, actor)
                connection.commit()


def peer_engines():
    return [SpiffChain(), StatemachineChain()]
