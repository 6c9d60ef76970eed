"""Scoring a self-assessment: validation of entered scores and the computed result."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal

from flask_babel import lazy_gettext as _l

from htsd_workflow.core.errors import InvalidInput, LazyJoin
from htsd_workflow.core.text import nfc
from htsd_workflow.criteria.loader import Band, CriteriaSet, Level, exact_sum

MAX_EVIDENCE_LENGTH = 4000
MAX_NOTE_LENGTH = 2000
_ENTRY_KEYS = frozenset({"code", "score", "evidence", "note"})
# forms send text: "8", "8.5" and the Vietnamese "8,5"; float() alone would also take
# "1_0", "nan", "1e400" and other scripts' digits ("٩" is 9.0; ``\d`` matches it too)
_NUMBER_RE = re.compile(r"[+-]?([0-9]+([.,][0-9]*)?|[.,][0-9]+)")
# an unknown code typed by a client is echoed back, but not at any length
_SHOWN_CODE_LENGTH = 40


@dataclass(frozen=True)
class ScoreResult:
    """The computed outcome of a self-assessment against one criteria set."""

    total: float
    max_total: float
    passed: bool
    is_complete: bool
    #: item codes without a score, in the set's order
    missing: tuple[str, ...]
    #: the mark applied: the ĐBKK one for an especially disadvantaged commune, if the set has one
    pass_mark: float
    band: Band | None
    #: a levels set: the highest level whose indicators are all met (None: not reached)
    level: Level | None = None
    #: the set's kind: points or levels
    kind: str = "points"
    #: a levels set: the level the applicant applies for (None: not chosen)
    applied: Level | None = None


def _vn(value: float) -> str:
    """A number as Vietnamese write it: 12, 8,5."""
    return f"{value:g}".replace(".", ",")


def _text(value, *, limit: int, what, code: str, errors: dict, key: str):
    """Clean an optional free text; record an error and return None when it is refused."""
    if value is None:
        return None
    if not isinstance(value, str):
        errors[key] = _l("%(what)s của tiêu chí %(code)s phải là văn bản", what=what, code=code)
        return None
    if "\x00" in value:
        errors[key] = _l(
            "%(what)s của tiêu chí %(code)s chứa ký tự không hợp lệ", what=what, code=code
        )
        return None
    value = nfc(value)
    if len(value) > limit:
        errors[key] = _l(
            "%(what)s của tiêu chí %(code)s dài tối đa %(limit)s ký tự (hiện có %(length)s)",
            what=what,
            code=code,
            limit=limit,
            length=len(value),
        )
        return None
    return value or None


def _score(value, item, errors: dict, key: str, levels: bool = False) -> float | None:
    """Check one entered score; record an error and return None when it is refused."""
    code = item.code
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        if not _NUMBER_RE.fullmatch(value.strip()):
            shown = value.strip()[:_SHOWN_CODE_LENGTH]
            errors[key] = _l(
                "Điểm của tiêu chí %(code)s phải là một số (đã nhập “%(shown)s”)",
                code=code,
                shown=shown,
            )
            return None
        value = float(value.strip().replace(",", "."))
    elif isinstance(value, Decimal):
        value = float(value)
    # bool is an int in Python, but True is not "1 point"
    if isinstance(value, bool) or not isinstance(value, int | float):
        errors[key] = _l("Điểm của tiêu chí %(code)s phải là một số", code=code)
        return None
    if not math.isfinite(value):
        errors[key] = _l("Điểm của tiêu chí %(code)s phải là một số hữu hạn", code=code)
        return None
    if value < 0:
        errors[key] = _l(
            "Điểm %(score)s của tiêu chí %(code)s không được âm", score=_vn(value), code=code
        )
        return None
    if levels and value not in (0, 1):
        errors[key] = _l(
            "Chỉ số %(code)s chỉ ghi 1 (đạt) hoặc 0 (chưa đạt), không ghi %(score)s",
            code=code,
            score=_vn(value),
        )
        return None
    if value > item.max_points:
        errors[key] = _l(
            "Điểm %(score)s vượt quá điểm tối đa %(max)s của tiêu chí %(code)s",
            score=_vn(value),
            max=_vn(item.max_points),
            code=code,
        )
        return None
    return float(value)


def validate_scores(cset: CriteriaSet, entries: list[dict]) -> list[dict]:
    """Check entered item scores against the set; return the cleaned entries.

    Each entry is ``{"code", "score", "evidence"}`` (a reviewer's entry may carry a ``note``).
    ``evidence`` and ``note`` appear in the result only when given, so that saving scores
    alone leaves stored evidence alone. Every problem is reported at once (the applicant is
    told everything in one go): ``InvalidInput.details`` maps ``items[<code>].<field>`` to
    what to fix, or ``items.<position>`` for an entry without a usable code.
    """
    if not isinstance(entries, list):
        raise InvalidInput(
            _l("Danh sách điểm tiêu chí không hợp lệ."),
            details={"items": _l("Cần một danh sách các tiêu chí (mã, điểm, minh chứng)")},
        )
    items = {item.code: item for item in cset.items}
    errors: dict = {}
    cleaned: list[dict] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        line = index + 1
        if not isinstance(entry, dict):
            errors[f"items.{index}"] = _l(
                "Dòng %(line)s: mỗi tiêu chí cần có mã (code) và điểm", line=line
            )
            continue
        code = entry.get("code")
        if isinstance(code, int) and not isinstance(code, bool):
            code = str(code)
        if not isinstance(code, str) or not code.strip():
            errors[f"items.{index}.code"] = _l("Dòng %(line)s: thiếu mã tiêu chí", line=line)
            continue
        code = code.strip()[:_SHOWN_CODE_LENGTH]
        item = items.get(code)
        if item is None:
            errors[f"items[{code}].code"] = _l(
                "Không có tiêu chí mã “%(code)s” trong bộ tiêu chí %(set)s",
                code=code,
                set=cset.label,
            )
            continue
        if code in seen:
            errors[f"items[{code}].code"] = _l(
                "Tiêu chí %(code)s được nhập hai lần; chỉ giữ một dòng", code=code
            )
            continue
        seen.add(code)
        unknown = sorted(str(k) for k in set(entry) - _ENTRY_KEYS)
        if unknown:
            errors[f"items[{code}]"] = _l(
                "Tiêu chí %(code)s có trường không hợp lệ: %(fields)s",
                code=code,
                fields=", ".join(unknown),
            )
        before = len(errors)
        clean: dict = {
            "code": code,
            "score": _score(
                entry.get("score"), item, errors, f"items[{code}].score", cset.kind == "levels"
            ),
        }
        if "evidence" in entry:
            clean["evidence"] = _text(
                entry["evidence"],
                limit=MAX_EVIDENCE_LENGTH,
                what=_l("Minh chứng"),
                code=code,
                errors=errors,
                key=f"items[{code}].evidence",
            )
        if "note" in entry:
            clean["note"] = _text(
                entry["note"],
                limit=MAX_NOTE_LENGTH,
                what=_l("Ghi chú"),
                code=code,
                errors=errors,
                key=f"items[{code}].note",
            )
        if len(errors) == before:
            cleaned.append(clean)
    if errors:
        raise InvalidInput(
            _l(
                "Điểm tự đánh giá chưa hợp lệ: %(problems)s.",
                problems=LazyJoin("; ", errors.values()),
            ),
            details=errors,
        )
    return cleaned


def pass_mark_of(cset: CriteriaSet, is_dbkk: bool) -> float:
    """The mark a case must reach: the set's ĐBKK mark in an ĐBKK commune, if it has one."""
    return cset.pass_mark_dbkk if is_dbkk and cset.pass_mark_dbkk is not None else cset.pass_mark


def level_of(cset: CriteriaSet, code: str | None) -> Level | None:
    """The level of a levels set with ``code`` (None for None or a code it does not have)."""
    return next((lv for lv in cset.levels if lv.code == code), None)


def compute_result(
    cset: CriteriaSet,
    scores: dict[str, float | None],
    is_dbkk: bool,
    level_applied: str | None = None,
) -> ScoreResult:
    """Total, completeness, pass/fail and band of ``scores`` (item code → score or None).

    Codes the set does not have are ignored. An incomplete assessment never passes; the
    ĐBKK pass mark applies when ``is_dbkk`` and the set has one. A levels set passes when a
    level is reached and, with ``level_applied`` (a level's code), when that level is reached.
    """
    given = {item.code: scores.get(item.code) for item in cset.items}
    missing = tuple(code for code, score in given.items() if score is None)
    total = exact_sum(score for score in given.values() if score is not None)
    mark = pass_mark_of(cset, is_dbkk)
    if cset.kind == "levels":
        # an indicator counts as met with a score of 1; the level reached is the highest
        # whose indicators are all met (levels are listed lowest first, each holding the last)
        met = {code for code, score in given.items() if score is not None and score >= 1}
        reached = [lv for lv in cset.levels if set(lv.requires) <= met]
        level = reached[-1] if reached else None
        applied = level_of(cset, level_applied)
        return ScoreResult(
            total=total,
            max_total=cset.max_total,
            passed=not missing and level is not None and (applied is None or applied in reached),
            is_complete=not missing,
            missing=missing,
            pass_mark=mark,
            band=None,
            level=level,
            kind="levels",
            applied=applied,
        )
    # bands are validated highest-first, so the first one reached is the highest
    band = next((b for b in cset.bands if total >= b.min), None)
    return ScoreResult(
        total=total,
        max_total=cset.max_total,
        passed=not missing and total >= mark,
        is_complete=not missing,
        missing=missing,
        pass_mark=mark,
        band=band,
    )
