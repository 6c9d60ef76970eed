"""Scoring a self-assessment: validation of entered scores and the computed result."""

from __future__ import annotations

import math
from dataclasses import dataclass

from htsd_workflow.core.errors import InvalidInput
from htsd_workflow.core.text import nfc
from htsd_workflow.criteria.loader import Band, CriteriaSet

MAX_EVIDENCE_LENGTH = 4000


@dataclass(frozen=True)
class ScoreResult:
    total: float
    max_total: float
    passed: bool
    is_complete: bool
    missing: tuple[str, ...]
    pass_mark: float
    band: Band | None


def _fmt(value: float) -> str:
    return f"{value:g}"


def validate_scores(cset: CriteriaSet, entries) -> list[dict]:
    """Check entered item scores against the set; return cleaned entries.

    Raises InvalidInput whose details name each wrong field and what to fix.
    """
    if not isinstance(entries, list):
        raise InvalidInput(
            "Danh sách tiêu chí không hợp lệ.", details={"items": "Cần một danh sách"}
        )
    errors: dict[str, str] = {}
    cleaned = []
    seen = set()
    codes = {item.code: item for item in cset.items}
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            errors[f"items[{index}]"] = "Mỗi tiêu chí phải có mã và điểm"
            continue
        code = str(entry.get("code", ""))
        if code not in codes:
            errors[f"items[{index}].code"] = f"Không có tiêu chí mã “{code}” trong bộ tiêu chí"
            continue
        if code in seen:
            errors[f"items[{code}].code"] = f"Tiêu chí {code} được nhập hai lần"
            continue
        seen.add(code)
        item = codes[code]
        score = entry.get("score")
        if isinstance(score, str) and score.strip() == "":
            score = None
        if score is not None:
            if isinstance(score, str):
                try:
                    score = float(score.replace(",", "."))
                except ValueError:
                    errors[f"items[{code}].score"] = f"Điểm tiêu chí {code} phải là một số"
                    continue
            if (
                isinstance(score, bool)
                or not isinstance(score, int | float)
                or not math.isfinite(score)
            ):
                errors[f"items[{code}].score"] = f"Điểm tiêu chí {code} phải là một số"
                continue
            if score < 0:
                errors[f"items[{code}].score"] = f"Điểm tiêu chí {code} không được âm"
                continue
            if score > item.max_points:
                errors[f"items[{code}].score"] = (
                    f"Điểm {_fmt(score)} vượt quá điểm tối đa {_fmt(item.max_points)} "
                    f"của tiêu chí {code}"
                )
                continue
            score = float(score)
        clean = {"code": code, "score": score}
        if "evidence" in entry:
            evidence = entry.get("evidence")
            if evidence is not None and not isinstance(evidence, str):
                errors[f"items[{code}].evidence"] = "Minh chứng phải là văn bản"
                continue
            evidence = nfc(evidence) or None
            if evidence and len(evidence) > MAX_EVIDENCE_LENGTH:
                errors[f"items[{code}].evidence"] = f"Minh chứng tối đa {MAX_EVIDENCE_LENGTH} ký tự"
                continue
            clean["evidence"] = evidence
        if "note" in entry:
            clean["note"] = nfc(entry.get("note")) if isinstance(entry.get("note"), str) else None
        cleaned.append(clean)
    if errors:
        raise InvalidInput(
            "Điểm tự đánh giá chưa hợp lệ: " + "; ".join(errors.values()) + ".", details=errors
        )
    return cleaned


def compute_result(cset: CriteriaSet, scores: dict, is_dbkk: bool) -> ScoreResult:
    """Total, completeness, pass/fail and band; incomplete never passes."""
    missing = tuple(item.code for item in cset.items if scores.get(item.code) is None)
    total = float(
        sum(
            v
            for code, v in scores.items()
            if v is not None and code in {i.code for i in cset.items}
        )
    )
    mark = cset.pass_mark_dbkk if is_dbkk and cset.pass_mark_dbkk is not None else cset.pass_mark
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
