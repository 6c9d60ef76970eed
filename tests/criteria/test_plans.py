"""Plan files: the shipped ones load; a bad one is refused naming the file and the place."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from htsd_workflow.core.errors import ConfigurationError
from htsd_workflow.reports.plans import load_plans

WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"


def test_the_shipped_plans_load():
    plans = load_plans(WORKFLOWS / "plans")
    assert set(plans) == {
        "kon-tum-2016-2020",
        "kon-tum-2021-2025",
        "kon-tum-pilot-2015",
        "qd-281-2014-2020",
        "qd-387-2021-2025",
    }
    pilot = plans["kon-tum-pilot-2015"]
    assert (pilot.kind, pilot.period_from, pilot.period_to, pilot.districts) == (
        "count",
        2015,
        2015,
        ("608", "611"),
    )


def test_no_plans_folder_means_no_plans(tmp_path):
    assert load_plans(tmp_path / "plans") == {}


def good(**changes) -> dict:
    data = {
        "id": "p-1",
        "label": "Kế hoạch thử",
        "province": "62",
        "period": {"from": 2016, "to": 2020},
        "kind": "percent",
        "targets": {"family": 70, "clan": 60},
        "dbkk": {"family": 50},
    }
    data.update(changes)
    return data


def write(folder: Path, data, name: str = "plan.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def test_the_good_fixture_loads(tmp_path):
    write(tmp_path, good())
    plan = load_plans(tmp_path)["p-1"]
    assert plan.target("family", True) == 50 and plan.target("clan", True) == 60


BAD = [
    ("unknown key", good(colour="red"), "plan.yaml: unknown setting(s) ['colour']"),
    ("no period", good(period=None), "period: must be a mapping {from: <year>, to: <year"),
    ("period text", good(period={"from": "2016"}), "period.from: must be a year such as 2016"),
    ("period typo", good(period={"from": 2016, "to": 2200}), "period.to: 2200 is not a plausible"),
    (
        "period reversed",
        good(period={"from": 2020, "to": 2016}),
        "period.to: 2016 is before 'from' 2020",
    ),
    ("unknown period key", good(period={"from": 2016, "until": 2020}), "period: unknown setting"),
    ("kind", good(kind="share"), "kind: must be percent or count, got 'share'"),
    ("targets a list", good(targets=[70]), "targets: must be a mapping of titles to numbers"),
    ("unknown title", good(targets={"farm": 5}), "targets: unknown setting(s) ['farm']"),
    ("negative", good(targets={"family": -1}), "targets.family: must be a number ≥ 0, got -1"),
    ("text", good(dbkk={"clan": "many"}), "dbkk.clan: must be a number ≥ 0, got 'many'"),
    ("above 100", good(targets={"unit": 120}), "targets.unit: a percentage above 100: 120"),
    ("districts", good(districts={"608": 1}), "districts: expected a name or a list of names"),
]


@pytest.mark.parametrize("data, message", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_a_bad_plan_is_refused_naming_file_and_place(tmp_path, data, message):
    path = write(tmp_path, data)
    with pytest.raises(ConfigurationError) as refused:
        load_plans(tmp_path)
    assert str(refused.value).startswith(f"{path}: ")
    assert message in str(refused.value)


@pytest.mark.parametrize(
    "text, message",
    [
        ("id: [\n", "not valid YAML"),
        ("", "the file is empty"),
        ("- a list\n", "the file must hold a mapping of settings, got a list"),
        ("id: a\nkind: count\nkind: percent\n", "found duplicate key 'kind'"),
    ],
    ids=["syntax error", "empty", "not a mapping", "duplicate key"],
)
def test_an_unreadable_plan_is_refused_naming_it(tmp_path, text, message):
    path = tmp_path / "broken.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigurationError) as refused:
        load_plans(tmp_path)
    assert str(refused.value).startswith(f"{path}: ") and message in str(refused.value)


def test_a_second_plan_with_one_id_and_a_yml_file_are_refused(tmp_path):
    write(tmp_path, good(), "a.yaml")
    second = write(tmp_path, good(), "b.yaml")
    with pytest.raises(ConfigurationError) as refused:
        load_plans(tmp_path)
    assert str(refused.value) == f"{second}: id: a second plan with id 'p-1'"
    second.unlink()
    stray = write(tmp_path, good(id="p-2"), "c.yml")
    with pytest.raises(ConfigurationError) as refused:
        load_plans(tmp_path)
    assert str(refused.value) == f"{stray}: plan files must end in .yaml"


def test_the_app_does_not_start_with_a_bad_plan(tmp_path):
    from htsd_workflow import create_app

    folder = tmp_path / "workflows"
    for part in ("three_tier", "criteria", "plans"):
        shutil.copytree(WORKFLOWS / part, folder / part)
    write(folder / "plans", good(targets={"family": 170}), "zz-bad.yaml")
    with pytest.raises(ConfigurationError, match=r"zz-bad.yaml: targets.family: a percentage"):
        create_app(
            {
                "WORKFLOWS_DIR": str(folder),
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.sqlite'}",
                "INSTANCE_PATH": str(tmp_path),
            }
        )


def test_kon_tum_2021_2025_is_kh_1514_with_end_of_period_targets():
    plans = load_plans(WORKFLOWS / "plans")
    plan = plans["kon-tum-2021-2025"]
    assert "KH 1514/KH-UBND" in plan.label and "19/5/2022" in plan.label
    assert plan.targets == {"family": 80, "clan": 65, "community": 70, "unit": 80}
    assert (plan.period_from, plan.period_to, plan.province) == (2021, 2025, "62")
    assert "KH 189/KH-UBND ngày 03/02/2015" in plans["kon-tum-2016-2020"].label


def test_the_path_runs_straight_from_the_baseline_to_the_end_target(tmp_path):
    write(tmp_path, good(period={"from": 2021, "to": 2025}, targets={"family": 80}))
    plan = load_plans(tmp_path)["p-1"]
    # 30 % when the period starts, 80 % by 2025: ten points a year
    assert [plan.path_value(80, 30, y) for y in range(2021, 2026)] == [40, 50, 60, 70, 80]
    # past its end the plan is carried: the end target
    assert plan.path_value(80, 30, 2027) == 80 and plan.carried_past_end(2027)
    assert not plan.carried_past_end(2025)
    # without a baseline no mid-period path is known
    assert plan.path_value(80, None, 2023) is None and plan.path_value(80, None, 2025) == 80


def test_a_stated_baseline_path_and_other_figures_are_kept(tmp_path):
    other = {"Công dân học tập": "ghi theo kế hoạch", "so-xa": 12}
    write(tmp_path, good(baseline={"family": 40}, path="linear", other=other))
    plan = load_plans(tmp_path)["p-1"]
    assert plan.baseline == {"family": 40} and plan.path == "linear" and plan.other == other


@pytest.mark.parametrize(
    "change, message",
    [
        ({"path": "curve"}, "path: must be one of ['linear'], got 'curve'"),
        ({"baseline": {"family": 140}}, "baseline.family: a percentage above 100: 140"),
        ({"other": ["x"]}, "other: must be a mapping of names to figures"),
        ({"other": {"x": [1]}}, "other.x: must be a number or a text"),
    ],
)
def test_bad_path_baseline_or_other_figures_are_refused(tmp_path, change, message):
    write(tmp_path, good(**change))
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        load_plans(tmp_path)
