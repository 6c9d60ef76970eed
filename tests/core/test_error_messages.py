"""Every refusal the core raises can be translated: a DomainError's message (and each field
message of its ``details``) is a ``_l("constant msgid", name=value)`` call, never an f-string
or a string glued together at run time, so `make translations` extracts it and the English
catalogue covers it. A new untranslatable refusal fails here, naming its file and line."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from babel.messages.pofile import read_po
from flask import has_app_context
from flask_babel import lazy_gettext as _l

from htsd_workflow.core.errors import Conflict, InvalidInput, LazyJoin, NotFound

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "htsd_workflow"
BASE = "DomainError"
#: subclasses whose messages are deliberately not translated, with the reason
UNTRANSLATED: set[str] = set()
TRANSLATE = {"_l", "lazy_gettext"}
PLACEHOLDER = re.compile(r"%\((\w+)\)")


def _name(node) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _trees(root: Path = PACKAGE) -> dict[Path, ast.Module]:
    return {path: ast.parse(path.read_text(), str(path)) for path in sorted(root.rglob("*.py"))}


def domain_error_classes(trees) -> set[str]:
    """DomainError and every class that derives from it, however deep, across the package."""
    classes = {BASE, "InvalidInput", "NotAllowed", "NotFound", "Conflict"}
    grew = True
    while grew:
        grew = False
        for tree in trees.values():
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.ClassDef)
                    and node.name not in classes
                    and any(_name(base) in classes for base in node.bases)
                ):
                    classes.add(node.name)
                    grew = True
    return classes


def _translated_constants(tree: ast.Module) -> set[str]:
    """Module-level names bound to ``_l("…")``: a message kept in a constant."""
    names = set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and _is_translation(node.value):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def _is_translation(node) -> bool:
    return (
        isinstance(node, ast.Call)
        and _name(node.func) in TRANSLATE
        and len(node.args) == 1
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    )


def _message_problem(node, constants: set[str]) -> str | None:
    """Why ``node`` is not a translatable message, or None when it is."""
    if isinstance(node, ast.Name) and node.id in constants:
        return None
    if not _is_translation(node):
        if isinstance(node, ast.JoinedStr):
            return "an f-string (use _l with %(name)s placeholders)"
        if isinstance(node, ast.Constant):
            return "a bare string (wrap it in _l)"
        return f"not an _l(...) call ({ast.unparse(node)[:60]})"
    wanted = set(PLACEHOLDER.findall(node.args[0].value))
    given = {k.arg for k in node.keywords}
    if wanted != given:
        return f"placeholders {sorted(wanted)} but arguments {sorted(given)}"
    return None


def _detail_problems(node, constants: set[str]):
    """Field messages of a ``details=`` value: literal texts must be translated."""
    if isinstance(node, ast.Dict):
        for value in node.values:
            yield from _detail_problems(value, constants)
    elif isinstance(node, ast.DictComp):
        yield from _detail_problems(node.value, constants)
    elif isinstance(node, ast.List | ast.Tuple):
        for value in node.elts:
            yield from _detail_problems(value, constants)
    elif (
        isinstance(node, ast.JoinedStr | ast.BinOp)
        or (isinstance(node, ast.Constant) and isinstance(node.value, str))
        or (isinstance(node, ast.Call) and _name(node.func) in TRANSLATE)
    ):
        yield _message_problem(node, constants)


def untranslatable_refusals(trees) -> list[str]:
    classes = domain_error_classes(trees) - UNTRANSLATED
    problems = []
    for path, tree in trees.items():
        constants = _translated_constants(tree)
        where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and _name(node.func) in classes):
                continue
            if isinstance(node.func, ast.Name) and node.func.id == BASE and not node.args:
                continue
            message = node.args[0] if node.args else None
            for keyword in node.keywords:
                if keyword.arg == "message":
                    message = keyword.value
            if message is None:
                problems.append(f"{where}:{node.lineno}: {_name(node.func)} without a message")
            elif problem := _message_problem(message, constants):
                problems.append(f"{where}:{node.lineno}: message is {problem}")
            for keyword in node.keywords:
                if keyword.arg == "details":
                    for problem in _detail_problems(keyword.value, constants):
                        if problem:
                            problems.append(f"{where}:{node.lineno}: a detail is {problem}")
    return problems


def test_every_refusal_raised_in_the_code_base_is_translatable():
    trees = _trees()
    classes = domain_error_classes(trees)
    assert {"InvalidInput", "NotAllowed", "NotFound", "Conflict"} <= classes
    calls = sum(
        1
        for tree in trees.values()
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and _name(node.func) in classes - UNTRANSLATED
    )
    assert calls > 90  # the walk does find the raises
    problems = untranslatable_refusals(trees)
    assert not problems, "untranslatable refusal messages:\n" + "\n".join(problems)


def test_the_check_catches_untranslatable_messages(tmp_path):
    (tmp_path / "bad.py").write_text(
        "from htsd_workflow.core.errors import InvalidInput, NotFound\n"
        "class MyError(NotFound):\n    pass\n"
        "GOOD = _l('Hằng số')\n"
        "def f(code, x):\n"
        "    raise NotFound(f'Không có mã {code}')\n"
        "    raise MyError('Không có')\n"
        "    raise InvalidInput('Thiếu ' + x)\n"
        "    raise InvalidInput(_l('Thiếu %(what)s'))\n"
        "    raise InvalidInput(_l('Tên'), details={'name': f'Bắt buộc {x}'})\n"
        "    raise InvalidInput(GOOD, details={'a': {'b': 'Chưa chấm'}})\n"
        "    raise NotFound(_l('Không có mã %(code)s', code=code), details={'code': code})\n"
    )
    problems = untranslatable_refusals(_trees(tmp_path))
    assert [p.split(": ", 1)[1] for p in problems] == [
        "message is an f-string (use _l with %(name)s placeholders)",
        "message is a bare string (wrap it in _l)",
        "message is not an _l(...) call ('Thiếu ' + x)",
        "message is placeholders ['what'] but arguments []",
        "a detail is an f-string (use _l with %(name)s placeholders)",
        "a detail is a bare string (wrap it in _l)",
    ]


def test_messages_are_vietnamese_outside_an_app_context():
    assert not has_app_context()  # as in the worker or a CLI command before the app starts
    refusal = NotFound(_l("Không có tiêu chí mã “%(code)s”.", code="9.9"))
    assert refusal.message == str(refusal) == "Không có tiêu chí mã “9.9”."
    problems = LazyJoin("; ", [_l("Bắt buộc"), _l("Dòng %(line)s: thiếu mã tiêu chí", line=2)])
    invalid = InvalidInput(
        _l("Điểm tự đánh giá chưa hợp lệ: %(problems)s.", problems=problems),
        details={"items": {"1.1": _l("Chưa chấm điểm")}, "ids": [3, 4]},
    )
    assert invalid.message == "Điểm tự đánh giá chưa hợp lệ: Bắt buộc; Dòng 2: thiếu mã tiêu chí."
    assert invalid.details == {"items": {"1.1": "Chưa chấm điểm"}, "ids": [3, 4]}
    assert Conflict("văn bản").details == {}


def test_english_translations_keep_the_placeholders_of_their_msgid():
    """A msgstr that drops or renames a %(name)s would raise KeyError (a 500) in English."""
    po = PACKAGE / "translations" / "en" / "LC_MESSAGES" / "messages.po"
    with open(po, "rb") as handle:
        catalog = read_po(handle)
    wrong = []
    for message in catalog:
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        wanted = set(PLACEHOLDER.findall(ids[0]))
        for string in strings:
            if string and set(PLACEHOLDER.findall(string)) != wanted:
                wrong.append(f"{ids[0]!r} → {string!r}")
    assert not wrong, "placeholders differ: " + "; ".join(wrong)
