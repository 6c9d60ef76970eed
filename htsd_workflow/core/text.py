"""Vietnamese text helpers: NFC normalisation and diacritic-free search keys."""

from __future__ import annotations

import re
import unicodedata

from unidecode import unidecode

#: the invisible format characters (Unicode category Cf) that text may carry: soft hyphen,
#: Arabic letter mark, Mongolian vowel separator, zero-width space/joiners, left-to-right and
#: right-to-left marks, embeddings, overrides and isolates, word joiner and invisible operators,
#: the byte-order mark, interlinear annotation marks, tags. They show nothing, and in a name or
#: a file name they let one thing pass for another ("Hộ A\u200b" beside "Hộ A"; "anh\u202egpj.exe"
#: shown as "anhexe.jpg"); Vietnamese needs none of them.
_INVISIBLE = re.compile(
    "[\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff"
    "\ufff9-\ufffb\U000e0001\U000e0020-\U000e007f]"
)


def visible(text: str) -> str:
    """``text`` without its invisible format characters (``_INVISIBLE``)."""
    return _INVISIBLE.sub("", text)


def nfc(text: str | None) -> str | None:
    """Return ``text`` in Unicode NFC without invisible format characters, with surrounding
    spaces removed."""
    if text is None:
        return None
    return visible(unicodedata.normalize("NFC", text)).strip()


def search_key(text: str | None) -> str:
    """Return a lower-case ASCII key so that "dak ha" finds "Đắk Hà"."""
    if not text:
        return ""
    return " ".join(unidecode(unicodedata.normalize("NFC", text)).lower().split())


#: the largest id an INTEGER key holds (every table's key is INTEGER: 32 bits on PostgreSQL);
#: anything larger is no record of ours, and must never reach SQL (PostgreSQL refuses it with
#: NumericValueOutOfRange, SQLite's driver with OverflowError beyond 64 bits)
MAX_ID = 2**31 - 1


def whole_number(value, low: int = 0, high: int = MAX_ID) -> int | None:
    """A whole number typed in a form, a query or a file cell, or None when it is not one in
    ``low``..``high``.

    Only ASCII digits count: ``str.isdigit()`` also accepts "²" (which ``int()`` refuses), and a
    number too large for the database must never reach SQL.
    """
    text = str(value).strip() if value is not None else ""
    if not text or not text.isascii() or not text.isdigit() or len(text) > len(str(high)):
        return None
    number = int(text)
    return number if low <= number <= high else None
