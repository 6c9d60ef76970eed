"""The English catalogue covers every screen word, and the committed .mo matches the .po."""

from __future__ import annotations

import io
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "htsd_workflow" / "translations" / "en" / "LC_MESSAGES"
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "lazy_gettext": None}


def _screen_words() -> set[str]:
    words = set()
    for folder, method in (("htsd_workflow", "python"), ("templates", "jinja2")):
        pattern = "**.py" if method == "python" else "**.html"
        for _file, _line, message, _comments, _context in extract_from_dir(
            ROOT / folder,
            method_map=[(pattern, method)],
            options_map={pattern: {"extensions": "jinja2.ext.do"}},
            keywords=KEYWORDS,
        ):
            words.add(message[0] if isinstance(message, tuple) else message)
    return words


def test_every_screen_word_has_an_english_translation():
    with open(CATALOG / "messages.po", "rb") as handle:
        catalog = read_po(handle)
    translated = {
        (m.id[0] if isinstance(m.id, tuple) else m.id)
        for m in catalog
        if m.id and (all(m.string) if isinstance(m.string, tuple) else m.string)
    }
    missing = sorted(_screen_words() - translated)
    assert not missing, "run `make translations` and translate: " + "; ".join(missing)


def test_the_committed_mo_file_is_compiled_from_the_po_file():
    with open(CATALOG / "messages.po", "rb") as handle:
        catalog = read_po(handle)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    assert (
        CATALOG / "messages.mo"
    ).read_bytes() == compiled.getvalue(), "messages.mo is stale: run `make translations`"
