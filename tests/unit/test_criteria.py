"""Criteria sets as data: the shipped ones load, bad ones are refused, scoring is computed."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from htsd_workflow.core.errors import ConfigurationError, InvalidInput
from htsd_workflow.criteria.loader import criteria_set_for, load_criteria_sets
from htsd_workflow.criteria.scoring import compute_result, validate_scores

CRITERIA = Path(__file__).resolve().parents[2] / "workflows" / "criteria"
SETS = load_criteria_sets(CRITERIA)


def test_every_title_has_a_set_and_the_period_picks_the_version():
    assert {s.title for s in SETS.values()} == {"family", "clan", "community", "unit"}
    assert criteria_set_for(SETS, "family", 2018).id == "family-2016"
    assert criteria_set_for(SETS, "family", 2026).id == "family-2021"
    assert criteria_set_for(SETS, "family", 2010).id == "family-2016"  # before the first
    unit = criteria_set_for(SETS, "unit", 2024)
    assert unit.max_total == 100 and [b.label for b in unit.bands] == ["Tốt", "Khá", "Trung bình"]


def test_unverified_numbers_are_marked_in_the_data():
    family = SETS["family-2016"]
    assert family.item("1.1").verified and not family.item("2").verified
    assert "tạm" in family.notes


def write(tmp_path, data, name="x.yaml"):
    (tmp_path / name).write_text(yaml.safe_dump(data, allow_unicode=True))
    return tmp_path / name


def good():
    return {
        "id": "t-1",
        "title": "family",
        "period": {"from": 2016, "to": 2020},
        "pass_mark": 8,
        "pass_mark_dbkk": 6,
        "items": [
            {"code": "1", "label": "A", "max_points": 5},
            {"code": "2", "label": "B", "max_points": 5},
        ],
    }


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d.update(title="farm"), "title 'farm'"),
        (
            lambda d: d["items"].append({"code": "1", "label": "C", "max_points": 1}),
            "duplicate item code '1'",
        ),
        (lambda d: d["items"][0].update(max_points=0), "max_points must be a positive"),
        (lambda d: d["items"][0].update(max_points="ten"), "max_points must be a positive"),
        (lambda d: d.pop("pass_mark"), "pass_mark must be a number"),
        (lambda d: d.update(pass_mark=11), "maximum total 10"),
        (lambda d: d.update(pass_mark_dbkk=9), "pass_mark_dbkk"),
        (
            lambda d: d.update(bands=[{"code": "a", "min": 3}, {"code": "b", "min": 5}]),
            "highest min down",
        ),
        (lambda d: d.update(colour="red"), "unknown setting(s) ['colour']"),
        (lambda d: d["items"][0].pop("code"), "code is missing"),
    ],
)
def test_bad_set_is_refused_naming_file_and_problem(tmp_path, change, message):
    data = good()
    change(data)
    path = write(tmp_path, data)
    with pytest.raises(ConfigurationError) as refused:
        load_criteria_sets(tmp_path)
    assert str(path) in str(refused.value) and message in str(refused.value)


def test_overlapping_periods_and_duplicate_ids_are_refused(tmp_path):
    write(tmp_path, good(), "a.yaml")
    other = good()
    other["id"] = "t-2"
    other["period"] = {"from": 2019, "to": None}
    write(tmp_path, other, "b.yaml")
    with pytest.raises(ConfigurationError, match="overlaps t-1"):
        load_criteria_sets(tmp_path)
    other["id"] = "t-1"
    other["period"] = {"from": 2021, "to": None}
    write(tmp_path, other, "b.yaml")
    with pytest.raises(ConfigurationError, match="also used"):
        load_criteria_sets(tmp_path)
    (tmp_path / "b.yaml").write_text("id: [")
    with pytest.raises(ConfigurationError, match="not valid YAML"):
        load_criteria_sets(tmp_path)


def test_pass_mark_boundary_dbkk_and_incomplete():
    family = SETS["family-2016"]
    codes = [i.code for i in family.items]
    full = {i.code: i.max_points for i in family.items}
    just = dict(full, **{"2": full["2"] - 20})  # 80 of 100
    assert compute_result(family, just, False).passed
    below = dict(full, **{"2": full["2"] - 21})  # 79
    assert not compute_result(family, below, False).passed
    assert compute_result(family, below, True).passed  # ĐBKK pass mark 70
    incomplete = dict(full, **{codes[0]: None})
    result = compute_result(family, incomplete, True)
    assert not result.passed and result.missing == (codes[0],)


def test_bands_at_their_boundaries():
    unit = SETS["unit-2016"]
    scores = {i.code: 0.0 for i in unit.items}
    for total, band in [(85, "good"), (84.5, "fair"), (70, "fair"), (50, "average"), (49, None)]:
        scores["1"], scores["2"], scores["3.1"] = (
            min(total, 30),
            min(max(total - 30, 0), 30),
            (max(total - 60, 0)),
        )
        result = compute_result(unit, scores, False)
        assert result.total == total
        assert (result.band.code if result.band else None) == band


def test_validation_names_each_wrong_field():
    family = SETS["family-2016"]
    with pytest.raises(InvalidInput) as refused:
        validate_scores(
            family,
            [
                {"code": "1.1", "score": 12},
                {"code": "9", "score": 1},
                {"code": "2", "score": -1},
                {"code": "3", "score": "abc"},
                {"code": "4", "score": float("nan")},
                {"code": "1.2", "score": True},
            ],
        )
    assert set(refused.value.details) == {
        "items[1.1].score",
        "items[1].code",
        "items[2].score",
        "items[3].score",
        "items[4].score",
        "items[1.2].score",
    }
    assert "vượt quá điểm tối đa 10" in refused.value.details["items[1.1].score"]


@given(data=st.data())
def test_total_is_the_sum_and_pass_follows_the_mark(data):
    cset = data.draw(st.sampled_from(sorted(SETS.values(), key=lambda s: s.id)))
    scores = {
        item.code: data.draw(st.one_of(st.none(), st.floats(0, item.max_points, allow_nan=False)))
        for item in cset.items
    }
    is_dbkk = data.draw(st.booleans())
    entries = [{"code": c, "score": s} for c, s in scores.items()]
    cleaned = validate_scores(cset, entries)
    assert [e["score"] for e in cleaned] == list(scores.values())
    result = compute_result(cset, scores, is_dbkk)
    assert math.isclose(result.total, sum(v for v in scores.values() if v is not None))
    complete = all(v is not None for v in scores.values())
    mark = cset.pass_mark_dbkk if is_dbkk and cset.pass_mark_dbkk is not None else cset.pass_mark
    assert result.passed == (complete and result.total >= mark)


@given(data=st.data())
def test_any_score_above_the_maximum_is_refused(data):
    cset = data.draw(st.sampled_from(sorted(SETS.values(), key=lambda s: s.id)))
    item = data.draw(st.sampled_from(cset.items))
    over = data.draw(st.floats(item.max_points, 1e9, exclude_min=True, allow_nan=False))
    with pytest.raises(InvalidInput):
        validate_scores(cset, [{"code": item.code, "score": over}])
