"""Criteria sets as data: the shipped ones load, bad ones are refused, scoring is computed.

No database and no app: these tests import only the loader and the scoring module.
"""

from __future__ import annotations

import math
import re
import unicodedata
from datetime import date
from pathlib import Path

import pytest
import yaml
from flask import Flask
from flask_babel import Babel
from hypothesis import given, settings
from hypothesis import strategies as st

from htsd_workflow.core.errors import ConfigurationError, InvalidInput
from htsd_workflow.criteria.loader import (
    CriteriaSet,
    criteria_set_for,
    load_criteria_sets,
    reference_date,
)
from htsd_workflow.criteria.scoring import compute_result, validate_scores

CRITERIA = Path(__file__).resolve().parents[2] / "workflows" / "criteria"
SETS = load_criteria_sets(CRITERIA)
SHIPPED_FILES = sorted(CRITERIA.glob("*.yaml"))


# --- the shipped sets -----------------------------------------------------------------------


@pytest.mark.parametrize("path", SHIPPED_FILES, ids=lambda p: p.name)
def test_every_shipped_file_loads_on_its_own(tmp_path, path):
    (tmp_path / path.name).write_bytes(path.read_bytes())
    (cset,) = load_criteria_sets(tmp_path).values()
    # one file per version, named after the set it holds
    assert path.stem == cset.id
    # a points set totals 100; a levels set counts its indicators
    assert cset.max_total == (100 if cset.kind == "points" else len(cset.items))
    assert all(item.label and item.label_en for item in cset.items)


def test_every_title_but_unit_has_a_2016_2020_set_and_an_open_ended_2021_set():
    for title in ("family", "clan", "community"):
        old = criteria_set_for(SETS, title, 2018)
        new = criteria_set_for(SETS, title, 2021)
        assert (old.period_from, old.period_to) == (2016, 2020)
        assert (new.period_from, new.period_to) == (2021, None)
        assert criteria_set_for(SETS, title, 2020) is old
        assert criteria_set_for(SETS, title, 2040) is new


def test_family_criteria_1_and_2_are_split_as_the_source_has_them():
    for set_id in ("family-2016", "family-2021"):
        family = SETS[set_id]
        assert [(i.code, i.max_points) for i in family.items[:5]] == [
            ("1.1", 10),
            ("1.2", 10),
            ("1.3", 10),
            ("2.1", 10),
            ("2.2", 20),
        ]
        assert family.item("1.3").label == (
            "Thật thà, lễ phép với mọi người trong gia đình và ngoài xã hội; "
            "tích cực tham gia các hoạt động chung ở địa phương"
        )
        assert "19 đến 60" in family.item("2.1").label
        assert all(family.item(c).verified for c in ("1.1", "1.2", "1.3", "2.1", "2.2"))
        # no source confirms criteria 3 and 4 nor the pass marks: still marked editable
        assert not any(family.item(code).verified for code in ("3", "4"))
        assert (family.pass_mark, family.pass_mark_dbkk) == (80, 70)
        assert "tạm" in family.notes and "ĐBKK" in family.notes
        assert "khuyenhocyenbai.vn" in family.source


def test_tt_22_2020_splits_its_criteria_as_the_circular_does():
    unit = SETS["unit-tt22-2020"]
    assert [(i.code, i.max_points) for i in unit.items] == [
        ("1.1", 10),
        ("1.2", 10),
        ("1.3", 10),
        ("2.1", 10),
        ("2.2", 5),
        ("2.3", 10),
        ("2.4", 5),
        ("3.1", 25),
        ("3.2", 10),
        ("3.3", 5),
    ]
    assert all(i.verified for i in unit.items)
    assert [(b.code, b.label, b.min) for b in unit.bands] == [
        ("good", "Tốt", 85),
        ("fair", "Khá", 70),
        ("average", "Trung bình", 50),
    ]
    # the pass mark is our inference from the lowest band: the notes must say so
    assert "điểm đạt" in unit.notes.lower() and "tạm" in unit.notes
    assert unit.managed_by == ("district", "province")
    assert unit.starts == date(2020, 9, 21)


def test_tt_24_2023_is_a_levels_set_for_district_and_provincial_units():
    unit = SETS["unit-tt24-2023"]
    assert unit.kind == "levels" and unit.managed_by == ("district", "province")
    assert [lv.label for lv in unit.levels] == ["Mức độ 1 – Khá", "Mức độ 2 – Tốt"]
    assert "QĐ 324/QĐ-KHVN" in unit.item("2.1").label
    assert not any(i.verified for i in unit.items) and "tạm" in unit.notes
    assert SETS["unit-tt22-2020"].ends == date(2024, 1, 25)


def test_community_2021_has_five_criteria_under_qd_448():
    community = SETS["community-2021"]
    assert len(community.items) == 5
    assert "QĐ 448" in community.source and "TT 25/2023" not in community.source


def test_every_shipped_set_names_its_source_or_says_it_is_unverified():
    for cset in SETS.values():
        assert cset.source.strip(), cset.id
        assert all(i.verified for i in cset.items) or "tạm" in cset.notes, cset.id


# --- which set applies: title, day and who manages the subject ------------------------------


@pytest.mark.parametrize(
    "managed_by, day, set_id",
    [
        # a unit managed by a commune stays under QĐ 448 throughout
        ("commune", date(2016, 1, 1), "unit-qd448"),
        ("commune", date(2020, 9, 21), "unit-qd448"),
        ("commune", date(2024, 6, 1), "unit-qd448"),
        # a district's or the province's unit: QĐ 448 up to the day before TT 22/2020
        ("district", date(2020, 9, 20), "unit-qd448"),
        ("district", date(2020, 9, 21), "unit-tt22-2020"),
        ("province", date(2020, 9, 20), "unit-qd448"),
        ("province", date(2020, 9, 21), "unit-tt22-2020"),
        ("district", date(2024, 1, 25), "unit-tt22-2020"),
        # ... and TT 24/2023's indicators at levels from the day it came into force
        ("district", date(2024, 1, 26), "unit-tt24-2023"),
        ("province", date(2024, 1, 26), "unit-tt24-2023"),
        ("district", date(2024, 6, 1), "unit-tt24-2023"),
        ("commune", date(2024, 1, 26), "unit-qd448"),
        # the 2015 pilot, before any set: the earliest
        ("district", date(2015, 6, 1), "unit-qd448"),
    ],
)
def test_a_unit_set_is_chosen_by_day_and_managing_level(managed_by, day, set_id):
    assert criteria_set_for(SETS, "unit", day, managed_by).id == set_id


@pytest.mark.parametrize(
    "day, set_id",
    [
        (date(2020, 12, 31), "family-2016"),
        (date(2021, 1, 1), "family-2021"),
    ],
)
def test_a_family_set_changes_on_new_years_day_whoever_manages(day, set_id):
    for level in ("commune", "district", "province"):
        assert criteria_set_for(SETS, "family", day, level).id == set_id


@pytest.mark.parametrize(
    "day, set_id",
    [
        (date(2015, 1, 26), "commune-tt44-2014"),
        (date(2024, 2, 11), "commune-tt44-2014"),
        # TT 25/2023/TT-BGDĐT in force: indicators at levels
        (date(2024, 2, 12), "commune-tt25-2023"),
        (date(2030, 1, 1), "commune-tt25-2023"),
    ],
)
def test_the_commune_title_follows_tt_44_2014_then_tt_25_2023_from_12_february_2024(day, set_id):
    assert criteria_set_for(SETS, "commune", day, "commune").id == set_id


def test_the_commune_title_has_sets_for_the_commune_itself_only():
    with pytest.raises(InvalidInput) as refused:
        criteria_set_for(SETS, "commune", date(2024, 6, 1), "district")
    assert refused.value.details["managed_by"] == "district"


def test_tt_25_2023_has_five_criteria_and_fifteen_indicators_at_two_levels():
    commune = SETS["commune-tt25-2023"]
    assert commune.kind == "levels" and commune.managed_by == ("commune",)
    assert len(commune.items) == 15
    assert len({i.code.split(".")[0] for i in commune.items}) == 5
    assert [lv.label for lv in commune.levels] == ["Mức độ 1 – Khá", "Mức độ 2 – Tốt"]
    assert commune.pass_mark_dbkk is None
    assert "TT 25/2023" in commune.source and "tạm" in commune.notes
    old = SETS["commune-tt44-2014"]
    assert old.kind == "points" and "TT 44/2014" in old.source and "tạm" in old.notes


def test_the_reference_day_is_the_start_kept_inside_the_year_of_recognition():
    assert reference_date(2020, date(2020, 10, 1)) == date(2020, 10, 1)
    # a late case for 2020 started in 2021 follows 2020's last rules
    assert reference_date(2020, date(2021, 1, 10)) == date(2020, 12, 31)
    # a case for next year started in December follows next year's first rules
    assert reference_date(2021, date(2020, 12, 7)) == date(2021, 1, 1)


def test_a_level_no_set_is_written_for_is_refused_naming_title_day_and_level(tmp_path):
    write(tmp_path, good(managed_by=["commune"]))
    sets = load_criteria_sets(tmp_path)
    bare = Flask(__name__)
    Babel(bare)
    with bare.test_request_context(), pytest.raises(InvalidInput) as refused:
        criteria_set_for(sets, "family", date(2024, 3, 5), "district")
    message = refused.value.message
    assert "Gia đình học tập" in message and "05/03/2024" in message and "cấp huyện" in message
    assert refused.value.status == 422


def test_dated_periods_chain_per_managing_level(tmp_path):
    write(tmp_path, good(period={"from": 2016, "to": None}, managed_by=["commune"]), "a.yaml")
    write(
        tmp_path,
        good(id="t-2", period={"from": 2016, "to": date(2020, 9, 20)}, managed_by=["district"]),
        "b.yaml",
    )
    write(tmp_path, good(id="t-3", period={"from": date(2020, 9, 21)}, managed_by="district"))
    sets = load_criteria_sets(tmp_path)
    assert criteria_set_for(sets, "family", date(2020, 9, 21), "district").id == "t-3"
    assert criteria_set_for(sets, "family", date(2020, 9, 21), "commune").id == "t-1"


def test_a_day_without_a_set_for_a_level_is_refused(tmp_path):
    write(tmp_path, good(period={"from": 2016, "to": date(2020, 9, 19)}), "a.yaml")
    later = write(tmp_path, good(id="t-2", period={"from": date(2020, 9, 21)}), "b.yaml")
    with pytest.raises(ConfigurationError) as refused:
        load_criteria_sets(tmp_path)
    assert str(later) in str(refused.value)
    assert "leaves 20/09/2020–20/09/2020 without a set" in str(refused.value)


def test_a_level_period_outside_the_sets_period_is_refused(tmp_path):
    write(tmp_path, good(managed_by={"district": {"from": 2015, "to": 2018}}))
    with pytest.raises(ConfigurationError, match=r"managed_by\.district: 2015–2018 is outside"):
        load_criteria_sets(tmp_path)


def test_every_set_with_unverified_items_says_so_in_its_notes():
    for cset in SETS.values():
        if any(not item.verified for item in cset.items):
            assert "tạm" in cset.notes, cset.id


# --- bad files ------------------------------------------------------------------------------


def write(folder: Path, data, name: str = "bad.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def good(**changes) -> dict:
    data = {
        "id": "t-1",
        "title": "family",
        "period": {"from": 2016, "to": 2020},
        "version": "1",
        "label": "Bộ thử",
        "source": "thử nghiệm",
        "pass_mark": 8,
        "pass_mark_dbkk": 6,
        "bands": [{"code": "a", "label": "A", "min": 9}, {"code": "b", "label": "B", "min": 5}],
        "items": [
            {"code": "1", "label": "Một", "label_en": "One", "max_points": 5, "verified": True},
            {"code": "2", "label": "Hai", "label_en": "Two", "max_points": 5, "verified": True},
        ],
    }
    data.update(changes)
    return data


def test_the_good_fixture_loads(tmp_path):
    write(tmp_path, good())
    cset = load_criteria_sets(tmp_path)["t-1"]
    assert isinstance(cset, CriteriaSet)
    assert (cset.max_total, cset.pass_mark, cset.pass_mark_dbkk) == (10, 8, 6)
    assert cset.item("2").label_en == "Two"
    with pytest.raises(KeyError):
        cset.item("9")


def _item(index: int, **changes):
    def change(data):
        data["items"][index].update(changes)

    return change


def _drop(*path):
    def change(data):
        target = data
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return change


BAD = [
    ("unknown title", lambda d: d.update(title="farm"), "title: 'farm' is not one of"),
    (
        "unknown top-level key",
        lambda d: d.update(colour="red"),
        "bad.yaml: unknown setting(s) ['colour']",
    ),
    ("unknown item key", _item(0, points=3), "items[1]: unknown setting(s) ['points']"),
    ("missing item code", _drop("items", 0, "code"), "items[1].code: is missing"),
    (
        "duplicate item code",
        lambda d: d["items"].append(
            {"code": "1", "label": "C", "label_en": "C", "max_points": 1, "verified": True}
        ),
        "items[3].code: duplicate item code '1'",
    ),
    ("unquoted decimal code", _item(0, code=1.1), "items[1].code: 1.1 must be quoted"),
    (
        "zero max_points",
        _item(0, max_points=0),
        "items[1].max_points: must be a positive number, got 0",
    ),
    (
        "negative max_points",
        _item(1, max_points=-2),
        "items[2].max_points: must be a positive number, got -2",
    ),
    ("text max_points", _item(0, max_points="ten"), ".max_points: must be a positive number"),
    ("bool max_points", _item(0, max_points=True), ".max_points: must be a positive number"),
    ("nan max_points", _item(0, max_points=float("nan")), ".max_points: must be a positive"),
    ("missing max_points", _drop("items", 0, "max_points"), ".max_points: must be a positive"),
    ("missing label_en", _drop("items", 1, "label_en"), "items[2].label_en: is missing"),
    ("text verified", _item(0, verified="yes"), "items[1].verified: must be true or false"),
    ("no items", lambda d: d.update(items=[]), "items: must be a non-empty list"),
    ("pass mark missing", _drop("pass_mark"), "pass_mark: is missing"),
    ("pass mark text", lambda d: d.update(pass_mark="80"), "pass_mark: must be a number"),
    (
        "pass mark above max",
        lambda d: d.update(pass_mark=11),
        "pass_mark: 11 is above the maximum total 10",
    ),
    ("pass mark negative", lambda d: d.update(pass_mark=-1), "pass_mark: -1 is negative"),
    (
        "dbkk above pass",
        lambda d: d.update(pass_mark_dbkk=9),
        "pass_mark_dbkk: 9 is above pass_mark 8",
    ),
    (
        "bands ascending",
        lambda d: d.update(
            bands=[{"code": "a", "label": "A", "min": 3}, {"code": "b", "label": "B", "min": 5}]
        ),
        "bands[2].min: 5 is not below 3",
    ),
    (
        "bands equal",
        lambda d: d.update(
            bands=[{"code": "a", "label": "A", "min": 5}, {"code": "b", "label": "B", "min": 5}]
        ),
        "list bands from the highest min down",
    ),
    (
        "band above max",
        lambda d: d.update(bands=[{"code": "a", "label": "A", "min": 11}]),
        "bands[1].min: 11 is outside 0..10",
    ),
    (
        "band negative",
        lambda d: d.update(bands=[{"code": "a", "label": "A", "min": -1}]),
        "bands[1].min: -1 is outside 0..10",
    ),
    (
        "duplicate band code",
        lambda d: d.update(
            bands=[{"code": "a", "label": "A", "min": 9}, {"code": "a", "label": "B", "min": 5}]
        ),
        "bands[2].code: duplicate band code 'a'",
    ),
    (
        "band without min",
        lambda d: d.update(bands=[{"code": "a", "label": "A"}]),
        "bands[1].min: must be a number",
    ),
    (
        "period reversed",
        lambda d: d.update(period={"from": 2020, "to": 2016}),
        "period.to: 2016 is before 'from' 2020",
    ),
    (
        "period text",
        lambda d: d.update(period={"from": "2016"}),
        "period.from: must be a year such as 2016",
    ),
    (
        "period typo",
        lambda d: d.update(period={"from": 2106}),
        "period.from: 2106 is not a plausible year",
    ),
    ("missing source", _drop("source"), "source: is missing"),
    ("bad id", lambda d: d.update(id="Family 2016"), "id: 'Family 2016' must be lower-case"),
    (
        "unverified items without notes",
        _item(0, verified=False),
        "notes: items ['1'] are marked verified: false, so notes must say",
    ),
]


@pytest.mark.parametrize("change, message", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_set_is_refused_naming_file_and_problem(tmp_path, change, message):
    data = good()
    change(data)
    path = write(tmp_path, data)
    with pytest.raises(ConfigurationError) as refused:
        load_criteria_sets(tmp_path)
    assert str(refused.value).startswith(f"{path}: ")
    assert message in str(refused.value)


@pytest.mark.parametrize(
    "text, message",
    [
        ("id: [\n", "not valid YAML"),
        ("", "the file is empty"),
        ("- just\n- a list\n", "must hold a mapping of settings"),
        ("id: a\npass_mark: 80\npass_mark: 60\n", "found duplicate key 'pass_mark'"),
    ],
    ids=["syntax error", "empty", "not a mapping", "duplicate key"],
)
def test_unreadable_file_is_refused_naming_it(tmp_path, text, message):
    path = tmp_path / "broken.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigurationError) as refused:
        load_criteria_sets(tmp_path)
    assert str(path) in str(refused.value) and message in str(refused.value)


def test_duplicate_ids_across_files_name_both_files(tmp_path):
    first = write(tmp_path, good(), "a.yaml")
    second = write(tmp_path, good(period={"from": 2021, "to": None}), "b.yaml")
    with pytest.raises(ConfigurationError) as refused:
        load_criteria_sets(tmp_path)
    message = str(refused.value)
    assert message.startswith(str(second)) and str(first) in message
    assert "set id 't-1' is also used" in message


def test_overlapping_periods_of_one_title_name_both_files(tmp_path):
    first = write(tmp_path, good(), "a.yaml")
    second = write(tmp_path, good(id="t-2", period={"from": 2019, "to": None}), "b.yaml")
    with pytest.raises(ConfigurationError) as refused:
        load_criteria_sets(tmp_path)
    message = str(refused.value)
    assert message.startswith(str(second)) and str(first) in message
    assert "period 2019–… of 'family' overlaps t-1 (2016–2020)" in message


def test_an_open_ended_earlier_set_overlaps_any_later_one(tmp_path):
    write(tmp_path, good(period={"from": 2016, "to": None}), "a.yaml")
    write(tmp_path, good(id="t-2", period={"from": 2030, "to": None}), "b.yaml")
    with pytest.raises(ConfigurationError, match="overlaps t-1"):
        load_criteria_sets(tmp_path)


def test_same_period_for_different_titles_is_fine(tmp_path):
    write(tmp_path, good(), "a.yaml")
    write(tmp_path, good(id="t-2", title="clan"), "b.yaml")
    assert set(load_criteria_sets(tmp_path)) == {"t-1", "t-2"}


def test_a_year_without_a_set_between_two_periods_is_refused(tmp_path):
    write(tmp_path, good(), "a.yaml")
    later = write(tmp_path, good(id="t-2", period={"from": 2022, "to": None}), "b.yaml")
    with pytest.raises(ConfigurationError) as refused:
        load_criteria_sets(tmp_path)
    assert str(later) in str(refused.value) and "leaves 2021–2021 without a set" in str(
        refused.value
    )


def test_a_yml_file_would_be_skipped_so_it_is_refused(tmp_path):
    write(tmp_path, good(), "a.yaml")
    stray = write(tmp_path, good(id="t-2", title="clan"), "b.yml")
    with pytest.raises(ConfigurationError, match="must end in .yaml") as refused:
        load_criteria_sets(tmp_path)
    assert str(stray) in str(refused.value)


def test_missing_or_empty_directory_is_refused(tmp_path):
    with pytest.raises(ConfigurationError, match="no criteria sets"):
        load_criteria_sets(tmp_path)
    with pytest.raises(ConfigurationError, match="criteria directory not found"):
        load_criteria_sets(tmp_path / "nowhere")


def test_labels_are_nfc_normalised(tmp_path):
    decomposed = unicodedata.normalize("NFD", "Học tập")
    data = good()
    data["items"][0]["label"] = f"  {decomposed} "
    write(tmp_path, data)
    assert load_criteria_sets(tmp_path)["t-1"].item("1").label == "Học tập"


# --- choosing the set for a year ------------------------------------------------------------


def test_criteria_set_for_picks_by_period():
    assert criteria_set_for(SETS, "family", 2018).id == "family-2016"
    assert criteria_set_for(SETS, "family", 2021).id == "family-2021"
    assert criteria_set_for(SETS, "unit", 2024).id == "unit-qd448"
    assert criteria_set_for(SETS, "unit", 2024, "district").id == "unit-tt24-2023"
    # the 2015 pilot ran before the first period: the earliest set applies
    assert criteria_set_for(SETS, "clan", 2015).id == "clan-2016"


def test_after_the_last_closed_period_the_latest_set_applies(tmp_path):
    write(tmp_path, good(), "a.yaml")
    write(tmp_path, good(id="t-2", period={"from": 2021, "to": 2025}), "b.yaml")
    sets = load_criteria_sets(tmp_path)
    assert criteria_set_for(sets, "family", 2020).id == "t-1"
    assert criteria_set_for(sets, "family", 2025).id == "t-2"
    assert criteria_set_for(sets, "family", 2031).id == "t-2"


def test_a_title_without_sets_is_a_configuration_error():
    only_family = {k: v for k, v in SETS.items() if v.title == "family"}
    with pytest.raises(ConfigurationError, match="no criteria set for title 'unit'"):
        criteria_set_for(only_family, "unit", 2024)


# --- scoring --------------------------------------------------------------------------------


def full(cset) -> dict[str, float]:
    return {item.code: item.max_points for item in cset.items}


def test_pass_mark_boundary():
    family = SETS["family-2016"]
    at_mark = dict(full(family), **{"2.2": 0})  # 80 of 100
    result = compute_result(family, at_mark, False)
    assert (result.total, result.passed, result.pass_mark) == (80, True, 80)
    below = dict(full(family), **{"2.2": 0, "2.1": 9.5})  # 79.5
    assert not compute_result(family, below, False).passed


def test_a_total_of_80_in_decimals_is_80_not_79_99999999999999():
    family = SETS["family-2016"]
    # as floats, 10 + 10 + 10 + 4.3 + 10 + 19.9 + 15.8 is 79.99999999999999
    scores = {"1.1": 10, "1.2": 10, "1.3": 10, "2.1": 4.3, "2.2": 10, "3": 19.9, "4": 15.8}
    result = compute_result(family, scores, False)
    assert result.total == 80 and result.passed


def test_dbkk_commune_uses_the_lower_pass_mark():
    family = SETS["family-2016"]
    scores = dict(full(family), **{"2.1": 0, "2.2": 0})  # 70
    assert not compute_result(family, scores, False).passed
    result = compute_result(family, scores, True)
    assert result.passed and result.pass_mark == 70
    below = dict(scores, **{"4": 19.5})  # 69.5
    assert not compute_result(family, below, True).passed


def test_without_a_dbkk_mark_the_normal_mark_applies_in_dbkk_communes():
    unit = SETS["unit-tt22-2020"]
    scores = dict.fromkeys((i.code for i in unit.items), 0) | {"1.1": 10, "1.2": 10, "1.3": 10}
    scores |= {"2.1": 10, "2.2": 5, "2.3": 4}  # 49
    result = compute_result(unit, scores, True)
    assert result.pass_mark == 50 and not result.passed


def test_incomplete_never_passes_and_lists_the_missing_codes_in_order():
    family = SETS["family-2016"]
    scores = full(family)
    scores["1.2"] = None
    del scores["4"]
    result = compute_result(family, scores, True)
    assert result.total == 70 and not result.is_complete
    assert not result.passed and result.missing == ("1.2", "4")
    assert compute_result(family, {}, False).missing == tuple(i.code for i in family.items)


def test_codes_outside_the_set_do_not_count():
    family = SETS["family-2016"]
    result = compute_result(family, dict(full(family), stray=50), False)
    assert result.total == 100 and result.max_total == 100


@pytest.mark.parametrize(
    "total, band",
    [
        (100, "good"),
        (85, "good"),
        (84.5, "fair"),
        (70, "fair"),
        (69.9, "average"),
        (50, "average"),
        (49.5, None),
        (0, None),
    ],
)
def test_bands_at_their_boundaries(total, band):
    unit = SETS["unit-tt22-2020"]
    scores, left = {}, total
    for item in unit.items:  # fill items in order up to the total
        scores[item.code] = min(left, item.max_points)
        left = round(left - scores[item.code], 6)
    result = compute_result(unit, scores, False)
    assert result.total == total
    assert (result.band.code if result.band else None) == band
    assert result.passed == (total >= 50)


# --- validating entered scores --------------------------------------------------------------


def test_every_wrong_field_is_named_at_once_with_what_to_fix():
    family = SETS["family-2016"]
    with pytest.raises(InvalidInput) as refused:
        validate_scores(
            family,
            [
                {"code": "1.2", "score": 12},
                {"code": "9", "score": 1},
                {"code": "2.2", "score": -1},
                {"code": "3", "score": "abc"},
                {"code": "4", "score": float("nan")},
                {"code": "1.1", "score": True},
                {"code": "1.1", "score": 1},
                {"code": "1.3", "score": float("inf")},
                "not an entry",
                {"score": 3},
            ],
        )
    details = refused.value.details
    assert details == {
        "items[1.2].score": "Điểm 12 vượt quá điểm tối đa 10 của tiêu chí 1.2",
        "items[9].code": "Không có tiêu chí mã “9” trong bộ tiêu chí " + family.label,
        "items[2.2].score": "Điểm -1 của tiêu chí 2.2 không được âm",
        "items[3].score": "Điểm của tiêu chí 3 phải là một số (đã nhập “abc”)",
        "items[4].score": "Điểm của tiêu chí 4 phải là một số hữu hạn",
        "items[1.1].score": "Điểm của tiêu chí 1.1 phải là một số",
        "items[1.1].code": "Tiêu chí 1.1 được nhập hai lần; chỉ giữ một dòng",
        "items[1.3].score": "Điểm của tiêu chí 1.3 phải là một số hữu hạn",
        "items.8": "Dòng 9: mỗi tiêu chí cần có mã (code) và điểm",
        "items.9.code": "Dòng 10: thiếu mã tiêu chí",
    }
    assert all(text in refused.value.message for text in details.values())


def test_decimal_scores_are_written_the_vietnamese_way_in_messages():
    family = SETS["family-2016"]
    with pytest.raises(InvalidInput) as refused:
        validate_scores(family, [{"code": "1.2", "score": 10.5}])
    assert refused.value.details["items[1.2].score"] == (
        "Điểm 10,5 vượt quá điểm tối đa 10 của tiêu chí 1.2"
    )


def test_text_scores_from_forms_are_read_with_comma_or_point():
    family = SETS["family-2016"]
    cleaned = validate_scores(
        family,
        [
            {"code": "1.1", "score": "8,5"},
            {"code": "1.2", "score": " 7.5 "},
            {"code": "1.3", "score": ""},
            {"code": "2.2", "score": None},
        ],
    )
    assert [e["score"] for e in cleaned] == [8.5, 7.5, None, None]
    for text in ("1_0", "nan", "1e1", "5 points"):
        with pytest.raises(InvalidInput):
            validate_scores(family, [{"code": "1.1", "score": text}])


def test_evidence_is_nfc_normalised_stripped_and_kept_only_when_given():
    family = SETS["family-2016"]
    decomposed = unicodedata.normalize("NFD", "Giấy khen học sinh giỏi")
    cleaned = validate_scores(
        family,
        [
            {"code": "1.1", "score": 10, "evidence": f"  {decomposed}\n"},
            {"code": "1.2", "score": 10, "evidence": "   "},
            {"code": "1.3", "score": 10},
        ],
    )
    assert cleaned[0]["evidence"] == "Giấy khen học sinh giỏi"
    assert unicodedata.is_normalized("NFC", cleaned[0]["evidence"])
    assert cleaned[1]["evidence"] is None
    # no evidence key: saving a score must not wipe stored evidence
    assert "evidence" not in cleaned[2]


def test_bad_evidence_and_unknown_fields_are_refused():
    family = SETS["family-2016"]
    with pytest.raises(InvalidInput) as refused:
        validate_scores(
            family,
            [
                {"code": "1.1", "score": 1, "evidence": 42},
                {"code": "1.2", "score": 1, "evidence": "x" * 4001},
                {"code": "1.3", "score": 1, "evidence": "a\x00b"},
                {"code": "2.2", "score": 1, "scroe": 5},
            ],
        )
    details = refused.value.details
    assert set(details) == {
        "items[1.1].evidence",
        "items[1.2].evidence",
        "items[1.3].evidence",
        "items[2.2]",
    }
    assert "tối đa 4000 ký tự" in details["items[1.2].evidence"]
    assert "scroe" in details["items[2.2]"]


def test_a_reviewers_note_is_kept():
    family = SETS["family-2016"]
    (entry,) = validate_scores(family, [{"code": "2.2", "score": 5, "note": " Thiếu minh chứng "}])
    assert entry == {"code": "2.2", "score": 5.0, "note": "Thiếu minh chứng"}


def test_entries_must_be_a_list():
    with pytest.raises(InvalidInput) as refused:
        validate_scores(SETS["family-2016"], {"code": "1.1"})
    assert "items" in refused.value.details


# --- properties -----------------------------------------------------------------------------

SORTED_SETS = sorted(SETS.values(), key=lambda s: s.id)
POINT_SETS = [s for s in SORTED_SETS if s.kind == "points"]
LEVEL_SETS = [s for s in SORTED_SETS if s.kind == "levels"]


@settings(deadline=None)
@given(data=st.data())
def test_total_is_the_sum_and_pass_follows_completeness_and_the_mark(data):
    cset = data.draw(st.sampled_from(POINT_SETS))
    scores = {
        item.code: data.draw(
            st.one_of(st.none(), st.floats(0, item.max_points, allow_nan=False)), label=item.code
        )
        for item in cset.items
    }
    is_dbkk = data.draw(st.booleans(), label="is_dbkk")
    cleaned = validate_scores(cset, [{"code": c, "score": s} for c, s in scores.items()])
    assert [e["score"] for e in cleaned] == list(scores.values())
    result = compute_result(cset, scores, is_dbkk)
    given_scores = [v for v in scores.values() if v is not None]
    assert math.isclose(result.total, math.fsum(given_scores), rel_tol=1e-12, abs_tol=1e-9)
    complete = len(given_scores) == len(cset.items)
    mark = cset.pass_mark_dbkk if is_dbkk and cset.pass_mark_dbkk is not None else cset.pass_mark
    assert result.is_complete == complete and result.pass_mark == mark
    assert result.passed == (complete and result.total >= mark)
    assert result.missing == tuple(c for c, v in scores.items() if v is None)
    expected_band = next((b for b in cset.bands if result.total >= b.min), None)
    assert result.band == expected_band


@settings(deadline=None)
@given(data=st.data())
def test_a_levels_result_is_the_highest_level_whose_indicators_are_all_met(data):
    cset = data.draw(st.sampled_from(LEVEL_SETS))
    scores = {
        item.code: data.draw(st.sampled_from([None, 0, 1]), label=item.code) for item in cset.items
    }
    cleaned = validate_scores(cset, [{"code": c, "score": s} for c, s in scores.items()])
    assert [e["score"] for e in cleaned] == list(scores.values())
    result = compute_result(cset, scores, data.draw(st.booleans(), label="is_dbkk"))
    met = {c for c, v in scores.items() if v == 1}
    reached = [lv for lv in cset.levels if met >= set(lv.requires)]
    assert result.level == (reached[-1] if reached else None)
    assert result.total == len(met) and result.band is None
    assert result.passed == (None not in scores.values() and bool(reached))


@settings(deadline=None)
@given(data=st.data())
def test_a_score_above_the_maximum_is_always_refused(data):
    cset = data.draw(st.sampled_from(SORTED_SETS))
    item = data.draw(st.sampled_from(cset.items))
    over = data.draw(st.floats(item.max_points, 1e12, exclude_min=True, allow_nan=False))
    as_text = data.draw(st.booleans())
    score = repr(over).replace(".", ",") if as_text else over
    with pytest.raises(InvalidInput) as refused:
        validate_scores(cset, [{"code": item.code, "score": score}])
    assert set(refused.value.details) == {f"items[{item.code}].score"}


# --- sets of indicators met at levels (TT 24/2023, TT 25/2023) -------------------------------


def levels_set(**changes) -> dict:
    data = good(
        kind="levels",
        items=[
            {"code": c, "label": f"Chỉ số {c}", "label_en": f"Indicator {c}", "verified": True}
            for c in ("1.1", "1.2", "2.1", "2.2")
        ],
        levels=[
            {"code": "level1", "label": "Mức độ 1 – Khá", "requires": ["1.1", "2.1"]},
            {"code": "level2", "label": "Mức độ 2 – Tốt", "requires": "all"},
        ],
    )
    for key in ("pass_mark", "pass_mark_dbkk", "bands"):
        del data[key]
    data.update(changes)
    return data


def test_a_levels_set_loads_with_indicators_and_nested_levels(tmp_path):
    write(tmp_path, levels_set())
    cset = load_criteria_sets(tmp_path)["t-1"]
    assert cset.kind == "levels" and cset.bands == () and cset.pass_mark_dbkk is None
    assert [(lv.code, lv.requires) for lv in cset.levels] == [
        ("level1", ("1.1", "2.1")),
        ("level2", ("1.1", "1.2", "2.1", "2.2")),
    ]
    assert all(i.max_points == 1 for i in cset.items)
    assert cset.to_dict()["levels"][0]["label"] == "Mức độ 1 – Khá"


@pytest.mark.parametrize(
    "change, message",
    [
        ({"pass_mark": 3}, "pass_mark: a levels set has no points"),
        ({"levels": None}, "levels: must be a non-empty list"),
        (
            {"levels": [{"code": "a", "label": "A", "requires": ["9"]}]},
            "levels[1].requires: indicators ['9'] are not among the items",
        ),
        (
            {
                "levels": [
                    {"code": "a", "label": "A", "requires": ["1.1", "2.1"]},
                    {"code": "b", "label": "B", "requires": ["1.1"]},
                ]
            },
            "levels[2].requires: must hold every indicator of 'a' and more",
        ),
        ({"kind": "stars"}, "kind: 'stars' is not one of ['points', 'levels']"),
    ],
)
def test_a_bad_levels_set_is_refused(tmp_path, change, message):
    write(tmp_path, levels_set(**change))
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        load_criteria_sets(tmp_path)


def test_an_indicator_has_no_points_and_a_points_set_no_levels(tmp_path):
    data = levels_set()
    data["items"][0]["max_points"] = 10
    write(tmp_path, data)
    with pytest.raises(ConfigurationError, match="items\\[1\\].max_points: an indicator is met"):
        load_criteria_sets(tmp_path)
    write(tmp_path, good(levels=[{"code": "a", "label": "A", "requires": "all"}]))
    with pytest.raises(ConfigurationError, match="levels: only a set of kind: levels"):
        load_criteria_sets(tmp_path)


@pytest.mark.parametrize(
    "met, level, passed",
    [
        ({"1.1", "1.2", "2.1", "2.2"}, "level2", True),
        ({"1.1", "2.1"}, "level1", True),
        ({"1.1", "1.2", "2.2"}, None, False),  # three of four, but not 2.1: no level
        (set(), None, False),
    ],
)
def test_the_result_of_a_levels_set_is_the_level_reached(tmp_path, met, level, passed):
    write(tmp_path, levels_set())
    cset = load_criteria_sets(tmp_path)["t-1"]
    scores = {i.code: (1 if i.code in met else 0) for i in cset.items}
    result = compute_result(cset, scores, is_dbkk=True)
    assert (result.level.code if result.level else None) == level
    assert result.passed is passed and result.band is None and result.total == len(met)
    # an unanswered indicator: incomplete, never passed
    assert not compute_result(cset, dict(scores, **{"1.2": None}), False).passed


def test_an_indicator_is_entered_as_met_or_not(tmp_path):
    write(tmp_path, levels_set())
    cset = load_criteria_sets(tmp_path)["t-1"]
    assert validate_scores(cset, [{"code": "1.1", "score": "1"}, {"code": "1.2", "score": 0}])
    with pytest.raises(InvalidInput) as refused:
        validate_scores(cset, [{"code": "1.1", "score": 0.5}])
    assert refused.value.details == {
        "items[1.1].score": "Chỉ số 1.1 chỉ ghi 1 (đạt) hoặc 0 (chưa đạt), không ghi 0,5"
    }
