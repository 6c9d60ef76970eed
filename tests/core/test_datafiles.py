"""Workflow definitions, criteria sets and plans are read and refused one way
(``core/datafiles``): a fault of the file itself gives the same words whichever kind it is."""

from __future__ import annotations

from pathlib import Path

import pytest

from htsd_workflow.cases.definitions import load_workflows
from htsd_workflow.core.datafiles import Place
from htsd_workflow.core.errors import ConfigurationError
from htsd_workflow.criteria.loader import load_criteria_sets
from htsd_workflow.reports.plans import load_plans


def _workflow(folder: Path) -> tuple[Path, object]:
    return folder / "three_tier", lambda: load_workflows(folder, "three_tier")


def _criteria(folder: Path) -> tuple[Path, object]:
    return folder / "criteria", lambda: load_criteria_sets(folder / "criteria")


def _plan(folder: Path) -> tuple[Path, object]:
    return folder / "plans", lambda: load_plans(folder / "plans")


KINDS = {"workflow": _workflow, "criteria": _criteria, "plan": _plan}
FAULTS = [
    ("empty", "", "{path}: the file is empty"),
    ("list", "- a\n- b\n", "{path}: the file must hold a mapping of settings, got a list"),
    ("unknown key", "colour: blue\n", "{path}: unknown setting(s) ['colour']; allowed: "),
    ("syntax", "title: [unclosed\n", "{path}: not valid YAML: "),
    ("duplicate", "title: a\ntitle: b\n", "found duplicate key 'title'"),
    ("not utf-8", b"title: \xff\n", "{path}: not UTF-8 text"),
    ("python object", "title: !!python/object/apply:os.system [ls]\n", "{path}: not valid YAML"),
]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("content, message", [f[1:] for f in FAULTS], ids=[f[0] for f in FAULTS])
def test_a_faulty_file_is_refused_in_the_same_words_for_every_kind(
    tmp_path, kind, content, message
):
    folder, load = KINDS[kind](tmp_path)
    folder.mkdir()
    path = folder / "broken.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigurationError) as refused:
        load()
    assert str(refused.value).startswith(f"{path}: ")
    assert message.format(path=path) in str(refused.value)


@pytest.mark.parametrize("kind", KINDS)
def test_a_yml_file_is_refused_for_every_kind(tmp_path, kind):
    folder, load = KINDS[kind](tmp_path)
    folder.mkdir()
    (folder / "stray.yml").write_text("title: x\n", encoding="utf-8")
    with pytest.raises(ConfigurationError) as refused:
        load()
    assert str(refused.value) == f"{folder / 'stray.yml'}: {kind} files must end in .yaml"


def test_a_place_is_written_as_the_path_of_keys_with_entries_counted_from_1():
    top = Place("workflows/three_tier/family.yaml")
    assert str(top) == "workflows/three_tier/family.yaml"
    at = top / "states" / "commune_review" / "sla_days"
    assert str(at) == "workflows/three_tier/family.yaml: states.commune_review.sla_days"
    assert str(top / "transitions" / 3 / "dest") == (
        "workflows/three_tier/family.yaml: transitions[3].dest"
    )
    with pytest.raises(ConfigurationError) as refused:
        at.fail("must be a positive number")
    assert str(refused.value) == (
        "workflows/three_tier/family.yaml: states.commune_review.sla_days: "
        "must be a positive number"
    )
