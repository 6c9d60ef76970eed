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


def test_shipped_sets_load_for_every_title():
    for set_name in ("three_tier", "two_tier"):
        definitions = load_workflows(WORKFLOWS, set_name)
        assert set(definitions) == {"family", "clan", "community", "commune", "unit"}


def test_the_commune_sends_its_own_dossier_up_and_the_decision_is_kept_36_months():
    three = load_workflows(WORKFLOWS, "three_tier")["commune"]
    two = load_workflows(WORKFLOWS, "two_tier")["commune"]
    # no commune review of the commune's own dossier: a commune officer submits it upwards
    assert "commune_review" not in three.states and "commune_review" not in two.states
    (submit,) = [t for t in three.transitions if t.trigger == "submit"]
    assert (submit.dest, submit.roles) == ("district_verification", ("commune_reviewer",))
    (submit,) = [t for t in two.transitions if t.trigger == "submit"]
    assert (submit.dest, submit.roles) == ("provincial_confirmation", ("commune_reviewer",))
    assert three.decision.level == "district" and three.decision.valid_months == 36
    assert "25/2023/TT-BGDĐT" in three.decision.bases[0]
    assert two.decision.level == "province" and two.decision.valid_months == 36


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
            "].source: 'nowhere' is not a defined state",
        ),
        (
            lambda d: d["transitions"].append(
                {"trigger": "x", "source": "draft", "dest": "limbo", "roles": ["applicant"]}
            ),
            "].dest: leads to 'limbo', which is not a defined state",
        ),
        (
            lambda d: d["transitions"].append({"trigger": "x", "source": "draft", "dest": "draft"}),
            "].roles: missing: who may fire 'x'?",
        ),
        (
            lambda d: d["states"]["commune_review"].update(sla_days=-3),
            "states.commune_review.sla_days: must be at least 1, got -3",
        ),
        (
            lambda d: d["states"]["commune_review"].update(roles=["mayor"]),
            "states.commune_review.roles: unknown role 'mayor'",
        ),
        (
            lambda d: d["states"].update(limbo={"kind": "final"}),
            "states: state(s) ['limbo'] cannot be reached from 'draft'",
        ),
        (lambda d: d["states"]["draft"].update(kind="weird"), "states.draft.kind: must be one of"),
        (
            lambda d: d["transitions"][0].update(guards=["full_moon"]),
            "transitions[1].guards: unknown guard 'full_moon'",
        ),
        (lambda d: d.update(colour="blue"), "_base.yaml: unknown setting(s) ['colour']"),
        (
            lambda d: d["escalation"][0].update(overdue_days=2),
            "escalation[1]: give exactly one of at_sla_fraction, overdue_days",
        ),
        (
            lambda d: d["escalation"][1].update(rung=5),
            "escalation[2].rung: rungs must be numbered 1, 2, 3 … in order; expected 2",
        ),
        (
            lambda d: d["transitions"][0].update(comment="yes"),
            "transitions[1].comment: must be true or false, got 'yes'",
        ),
        (
            lambda d: d["states"]["commune_review"].update(level="hamlet"),
            "states.commune_review.level: must be one of",
        ),
        (
            lambda d: d["states"]["commune_review"].update(flavour="x"),
            "states.commune_review: unknown setting(s) ['flavour']",
        ),
    ],
)
def test_invalid_file_is_refused_with_file_and_problem(tmp_path, change, message):
    folder = copy_set(tmp_path)
    path = edit_base(folder, change)
    with pytest.raises(ConfigurationError) as refused:
        load_workflows(folder, "three_tier")
    assert str(path) in str(refused.value)
    assert message in str(refused.value)


def test_a_problem_is_named_by_file_and_place(tmp_path):
    folder = copy_set(tmp_path)
    family = folder / "three_tier" / "family.yaml"
    data = yaml.safe_load(family.read_text())
    data.setdefault("states", {})["commune_review"] = {"sla_days": -3}
    family.write_text(yaml.safe_dump(data, allow_unicode=True))
    with pytest.raises(ConfigurationError) as refused:
        load_workflows(folder, "three_tier")
    base = folder / "three_tier" / "_base.yaml"
    assert str(refused.value) == (
        f"{family} (extends {base}): states.commune_review.sla_days: must be at least 1, got -3"
    )


def test_a_wrong_extends_names_the_file_that_says_it(tmp_path):
    folder = copy_set(tmp_path)
    clan = folder / "three_tier" / "clan.yaml"
    clan.write_text(clan.read_text().replace("extends: _base", "extends: _nowhere"))
    with pytest.raises(ConfigurationError) as refused:
        load_workflows(folder, "three_tier")
    assert str(refused.value).startswith(f"{clan}: extends: '_nowhere' is not a file of ")


def test_a_key_given_twice_and_a_yml_file_are_refused(tmp_path):
    folder = copy_set(tmp_path)
    clan = folder / "three_tier" / "clan.yaml"
    clan.write_text(clan.read_text() + "\ntitle: clan\n")
    with pytest.raises(
        ConfigurationError, match="(?s)clan.yaml: not valid YAML.*duplicate key 'title'"
    ):
        load_workflows(folder, "three_tier")
    clan.rename(clan.with_suffix(".yml"))
    with pytest.raises(ConfigurationError, match="clan.yml: workflow files must end in .yaml"):
        load_workflows(folder, "three_tier")


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


def test_every_button_word_of_the_shipped_files_is_a_screen_word_to_translate():
    """The files' transition labels reach the English catalogue through core/labels.py."""
    from htsd_workflow.core.labels import FILE_TRIGGER_WORDS, TRIGGER_LABELS

    known = {str(w) for w in (*TRIGGER_LABELS.values(), *FILE_TRIGGER_WORDS)}
    for set_name in ("three_tier", "two_tier"):
        for definition in load_workflows(WORKFLOWS, set_name).values():
            missing = {t.label for t in definition.transitions} - known
            assert not missing, (definition.source_file, missing)
