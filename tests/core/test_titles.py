"""The titles are listed once (core/titles): every list of words for them covers them all, and
no module writes its own list."""

from __future__ import annotations

import re
from pathlib import Path

from htsd_workflow.core.labels import KIND_LABELS, SUBJECT_NOUNS, TITLE_LABELS
from htsd_workflow.core.titles import KINDS, TITLE_OF_KIND, TITLES
from htsd_workflow.decisions.pdf import RECOGNISED_NOUNS

PACKAGE = Path(__file__).resolve().parents[2] / "htsd_workflow"


def test_the_commune_is_a_title_and_a_kind_of_its_own():
    assert "commune" in TITLES and TITLE_OF_KIND["commune"] == "commune"
    assert str(TITLE_LABELS["commune"]) == "Cộng đồng học tập cấp xã"


def test_every_list_of_words_covers_every_title_and_kind():
    for words in (TITLE_LABELS, SUBJECT_NOUNS, RECOGNISED_NOUNS):
        assert set(words) == set(TITLES)
    assert set(KIND_LABELS) == set(KINDS)


def test_no_module_lists_the_titles_itself():
    listing = re.compile(r'"family",\s*"clan",\s*"community"')
    found = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if listing.search(path.read_text(encoding="utf-8"))
    ]
    assert found == []
