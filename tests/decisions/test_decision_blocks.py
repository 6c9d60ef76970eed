"""The workflow files' decision: blocks and the revoke transition: shipped for every title,
validated at start-up naming the file and the problem."""

from __future__ import annotations

import shutil
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
            assert block.level in ("commune", "district", "province", "managing")
            assert block.bases and all("{n}" in t.number for t in block.texts.values())
            # TT 25/2023: the commune title is kept 36 months (the village block says 36 too)
            assert block.valid_months == (36 if title in ("community", "commune") else 12)
            (revoke,) = [t for t in definition.transitions if t.trigger == "revoke"]
            assert revoke.sources == ("recognized",) and revoke.dest == "revoked"
            assert revoke.comment_required and revoke.issuing_level
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
        (
            lambda d: d["decision"].update(level="managing"),  # one signer for three levels
            None,
        ),
        (
            lambda d: d["decision"].update(
                level="managing", signer_title={"commune": "Chủ tịch", "district": "Chủ tịch"}
            ),
            "signer_title gives no text for the level(s) ['province'] it issues at",
        ),
        (
            lambda d: d["decision"].update(signer_title={"commune": "x", "hamlet": "y"}),
            "signer_title names unknown level(s) ['hamlet']",
        ),
        (
            lambda d: d["decision"].update(body={"commune": "Ủy ban"}),
            "body must contain {unit}",
        ),
    ],
)
def test_a_bad_decision_block_stops_start_up_naming_the_file(tmp_path, change, message):
    folder = copy_set(tmp_path)
    path = edit_title(folder, "family", change)
    if message is None:  # a plain text serves every level the block issues at
        load_workflows(folder, "three_tier")
        return
    with pytest.raises(ConfigurationError) as refused:
        load_workflows(folder, "three_tier")
    assert message in str(refused.value) and str(path) in str(refused.value)


def test_the_issuing_level_follows_the_managing_level_where_the_block_says_so():
    three = load_workflows(WORKFLOWS, "three_tier")
    two = load_workflows(WORKFLOWS, "two_tier")
    unit = three["unit"]
    assert [unit.issuing_level(m) for m in ("commune", "district", "province")] == [
        "commune",
        "district",
        "province",
    ]
    assert unit.decision.text("district").signer_title == "Chủ tịch Ủy ban nhân dân huyện"
    assert unit.decision.text("province").signer_title == "Chủ tịch Ủy ban nhân dân tỉnh"
    assert unit.managed_by_issued_at("district") == ("district",)
    # a fixed level: every subject's decision at that level
    assert three["family"].managed_by_issued_at("commune") == ("commune", "district", "province")
    assert three["community"].managed_by_issued_at("commune") == ()
    # no districts since 1 July 2025: a unit a district managed is decided by the province
    assert two["unit"].issuing_level("district") == "province"
    assert two["unit"].managed_by_issued_at("province") == ("district", "province")
    assert two["unit"].managed_by_issued_at("district") == ()
    assert set(two["unit"].decision.texts) == {"commune", "province"}


def test_a_district_level_block_in_a_set_without_districts_issues_at_the_province(tmp_path):
    folder = tmp_path / "workflows"
    shutil.copytree(WORKFLOWS / "two_tier", folder / "two_tier")
    path = folder / "two_tier" / "community.yaml"
    data = yaml.safe_load(path.read_text())
    data["decision"]["level"] = "district"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    community = load_workflows(folder, "two_tier")["community"]
    assert community.issuing_level("commune") == "province"
    assert set(community.decision.texts) == {"province"}


def _revoke_says(value):
    def change(data):
        for transition in data["transitions"]:
            if transition["trigger"] == "revoke":
                transition["issuing_level"] = value

    return change


def test_issuing_level_on_a_transition_must_be_yes_or_no(tmp_path):
    folder = copy_set(tmp_path)
    path = edit_base(folder, _revoke_says("maybe"))
    with pytest.raises(ConfigurationError) as refused:
        load_workflows(folder, "three_tier")
    assert "issuing_level: must be true or false" in str(refused.value)
    assert str(path) in str(refused.value)
