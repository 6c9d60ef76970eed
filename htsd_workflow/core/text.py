"""Vietnamese text helpers: NFC normalisation and diacritic-free search keys."""

from __future__ import annotations

import unicodedata

from unidecode import unidecode


def nfc(text: str | None) -> str | None:
    """Return ``text`` in Unicode NFC with surrounding spaces removed."""
    if text is None:
        return None
    return unicodedata.normalize("NFC", text).strip()


def search_key(text: str | None) -> str:
    """Return a lower-case ASCII key so that "dak ha" finds "Đắk Hà"."""
    if not text:
        return ""
    return " ".join(unidecode(unicodedata.normalize("NFC", text)).lower().split())
