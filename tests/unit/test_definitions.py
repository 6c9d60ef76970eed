"""Workflow files: the shipped ones load; bad ones stop start-up naming the file and problem."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from htsd_workflow.cases.definitions import load_workflows
from htsd_workflow.cases.engine import TransitionContext, WorkflowEngine
from htsd_workflow.core.errors import ConfigurationError

WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"


def test_shipped_sets_load_for_all_four_titles():
    for set_name in ("three_tier", "two_tier"):
        definitions = load_workflows(WORKFLOWS, set_name)
        assert set(definitions) == {"family", "clan", "community", "unit"}


def test_supervising_level_is_the_next_stage_in_the_definition():
    three = load_workflows(WORKFLOWS, "three_tier")["family"]
    two = load_workflows(WORKFLOWS, "two_tier")["family"]
    assert three.supervising_level("commune_review") == "district"
    assert three.supervising_level("district_verification") == "province"
    assert two.supervising_level("commune_review") == "province"
    assert three.supervising_level("provincial_confirmation") == "province_officer"


def copy_set(tmp_path: Path) -> Path:
    target = tmp_path / "workflows"
    shutil.copytree(WORKFLOWS / "three_tier", target / "three_tier")
    return target


def edit_base(folder: Path, change) -> Path:
    path = folder / "three_tier" / "_base.yaml"
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


@pytest.mark.parametrize(
    "change, message",
    [
        (
            lambda d: d["transitions"].append(
                {"trigger": "x", "source": "nowhere", "dest": "draft", "roles": ["applicant"]}
            ),
            "source 'nowhere' is not a defined state",
        ),
        (
            lambda d: d["transitions"].append(
                {"trigger": "x", "source": "draft", "dest": "limbo", "roles": ["applicant"]}
            ),
            "leads to 'limbo'",
        ),
        (
            lambda d: d["transitions"].append({"trigger": "x", "source": "draft", "dest": "draft"}),
            "roles are missing",
        ),
        (lambda d: d["states"]["commune_review"].update(sla_days=-3), "sla_days must be at least"),
        (lambda d: d["states"]["commune_review"].update(roles=["mayor"]), "unknown role 'mayor'"),
        (lambda d: d["states"].update(limbo={"kind": "final"}), "cannot be reached"),
        (lambda d: d["states"]["draft"].update(kind="weird"), "kind must be one of"),
        (lambda d: d["transitions"][0].update(guards=["full_moon"]), "unknown guard 'full_moon'"),
        (lambda d: d.update(colour="blue"), "unknown setting(s) ['colour']"),
        (lambda d: d["escalation"][0].update(overdue_days=2), "exactly one of"),
    ],
)
def test_invalid_file_is_refused_with_file_and_problem(tmp_path, change, message):
    folder = copy_set(tmp_path)
    path = edit_base(folder, change)
    with pytest.raises(ConfigurationError) as refused:
        load_workflows(folder, "three_tier")
    assert str(path) in str(refused.value)
    assert message in str(refused.value)


def test_broken_yaml_and_missing_title_are_refused(tmp_path):
    folder = copy_set(tmp_path)
    (folder / "three_tier" / "clan.yaml").write_text("extends: _base\ntitle: [unclosed")
    with pytest.raises(ConfigurationError, match="clan.yaml: not valid YAML"):
        load_workflows(folder, "three_tier")
    (folder / "three_tier" / "clan.yaml").unlink()
    with pytest.raises(ConfigurationError, match="no workflow definition for \\['clan'\\]"):
        load_workflows(folder, "three_tier")


def test_app_does_not_start_with_an_invalid_definition(tmp_path):
    from htsd_workflow import create_app

    folder = copy_set(tmp_path)
    shutil.copytree(WORKFLOWS / "criteria", folder / "criteria")
    edit_base(folder, lambda d: d["states"]["commune_review"].update(sla_days=-1))
    with pytest.raises(ConfigurationError, match="_base.yaml"):
        create_app(
            {
                "WORKFLOWS_DIR": str(folder),
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.sqlite'}",
                "INSTANCE_PATH": str(tmp_path),
            }
        )


def test_one_shared_machine_serves_every_case():
    definition = load_workflows(WORKFLOWS, "three_tier")["family"]
    engine = WorkflowEngine(definition)
    contexts = [TransitionContext(state="draft", entry_level="commune") for _ in range(3)]
    for ctx in contexts:
        ctx.missing_items = ()
        taken = engine.run(ctx, "submit")
        assert taken.dest == "commune_review" and ctx.state == "commune_review"
    assert engine.machine.models == []  # nothing is attached to the shared machine


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["initial", "title", "states", "transitions", "escalation", "extends"]),
        st.one_of(
            st.none(), st.integers(), st.text(max_size=5), st.lists(st.integers(), max_size=2)
        ),
        max_size=4,
    )
)
def test_any_malformed_file_gives_a_configuration_error_never_a_crash(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("wf") / "three_tier"
    folder.mkdir()
    (folder / "family.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigurationError):
        load_workflows(folder.parent, "three_tier")


JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.text(max_size=4),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
)


@settings(max_examples=120, deadline=None)
@given(data=st.data())
def test_a_real_file_with_one_value_spoiled_loads_or_names_the_problem(tmp_path_factory, data):
    base = yaml.safe_load((WORKFLOWS / "three_tier" / "_base.yaml").read_text())
    # walk to a random mapping or list inside the file and replace one value with junk
    node = base
    for _ in range(data.draw(st.integers(1, 4))):
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            break
        key = data.draw(st.sampled_from(keys))
        if isinstance(node[key], dict | list) and data.draw(st.booleans()):
            node = node[key]
            continue
        node[key] = data.draw(JUNK)
        break
    folder = tmp_path_factory.mktemp("wf")
    shutil.copytree(WORKFLOWS / "three_tier", folder / "three_tier")
    (folder / "three_tier" / "_base.yaml").write_text(yaml.safe_dump(base))
    try:
        load_workflows(folder, "three_tier")
    except ConfigurationError as exc:
        assert "three_tier" in str(exc)
