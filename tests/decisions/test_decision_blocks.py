"""The workflow files' decision: blocks and the revoke transition: shipped for every title,
validated at start-up naming the file and the problem."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from htsd_workflow.cases.definitions import load_workflows
from htsd_workflow.core.errors import ConfigurationError
from tests.cases.test_definitions import WORKFLOWS, copy_set, edit_base


def test_every_shipped_definition_has_a_decision_block_and_a_revoke_transition():
    for set_name in ("three_tier", "two_tier"):
        for title, definition in load_workflows(WORKFLOWS, set_name).items():
            block = definition.decision
            assert block is not None, (set_name, title)
            assert block.level in ("commune", "district", "province")
            assert block.bases and "{n}" in block.number
            # TT 25/2023: the commune title is kept 36 months (the village block says 36 too)
            assert block.valid_months == (36 if title in ("community", "commune") else 12)
            (revoke,) = [t for t in definition.transitions if t.trigger == "revoke"]
            assert revoke.sources == ("recognized",) and revoke.dest == "revoked"
            assert revoke.comment_required
            assert definition.states["revoked"].is_final
    text = (WORKFLOWS / "three_tier" / "family.yaml").read_text()
    assert "Unverified" in text  # each block says where it comes from, or that it is unverified


def edit_title(folder: Path, title: str, change) -> Path:
    path = folder / "three_tier" / f"{title}.yaml"
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d["decision"].update(level="hamlet"), "decision: level must be one of"),
        (lambda d: d["decision"].pop("bases"), "missing setting(s) ['bases']"),
        (lambda d: d["decision"].update(bases=[]), "bases must be a non-empty list"),
        (lambda d: d["decision"].update(number="12/QĐ-UBND"), "number must contain {n}"),
        (lambda d: d["decision"].update(body="Ủy ban"), "body must contain {unit}"),
        (lambda d: d["decision"].update(valid_months=0), "valid_months must be a whole number"),
        (lambda d: d["decision"].update(valid_months=True), "valid_months must be a whole"),
        (lambda d: d["decision"].update(signer="x"), "unknown setting(s) ['signer']"),
        (lambda d: d.pop("decision"), "a revoke transition needs a decision: block"),
    ],
)
def test_a_bad_decision_block_stops_start_up_naming_the_file(tmp_path, change, message):
    folder = copy_set(tmp_path)
    path = edit_title(folder, "family", change)
    with pytest.raises(ConfigurationError) as refused:
        load_workflows(folder, "three_tier")
    assert message in str(refused.value) and str(path) in str(refused.value)


def test_a_final_state_may_lead_only_to_another_final_state(tmp_path):
    folder = copy_set(tmp_path)
    edit_base(
        folder,
        lambda d: d["transitions"].append(
            {"trigger": "reopen", "source": "recognized", "dest": "commune_review"}
            | {"roles": ["manager"]}
        ),
    )
    with pytest.raises(ConfigurationError) as refused:
        load_workflows(folder, "three_tier")
    assert "'recognized' is a final state; from it only another final state" in str(refused.value)
