"""With English chosen, no page of any role shows Vietnamese words outside user data.

Every role signs in, chooses English and walks every page it can reach: the menu and the
links of each page it opens, plus every parameterless GET route of the URL map. On each HTML
page the visible text (and the words in placeholders, titles and labels of controls) is taken,
the user data (names of people, households, villages, units, comments) is removed, and what is
left must hold no letter that only Vietnamese writes (ă, â, đ, ê, ô, ơ, ư, or a tone mark).
"""

from __future__ import annotations

import html
import re
from collections import deque
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from htsd_workflow.auth.models import User
from htsd_workflow.auth.roles import ROLES
from htsd_workflow.cases.models import AssessmentItem, CaseEvent
from htsd_workflow.extensions import db
from htsd_workflow.geography.models import Unit
from htsd_workflow.subjects.models import Subject
from tests.factories import COMMUNE, DISTRICT
from tests.security.test_authorization_matrix import login

#: letters only Vietnamese writes among the languages of these pages (lower case; the text is
#: lower-cased before the search)
VIETNAMESE = re.compile(
    "[^\\W\\d_]*[àáảãạăằắẳẵặâầấẩẫậđèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵ][^\\W\\d_]*"
)
ROLE_UNIT = {"commune_reviewer": COMMUNE, "district_reviewer": DISTRICT, "manager": DISTRICT}
#: routes never walked: they end the session, download files, or change the language back
NOT_WALKED_PATHS = ("/logout", "/language", "/static/", "/api/", "/readyz", "/healthz", "/metrics")
#: the most pages one role's walk opens (the walk is breadth first: menus before details)
MOST_PAGES = 160
_HIDDEN = re.compile(r"<(script|style|template)\b.*?</\1>", re.S | re.I)
_ATTRIBUTES = re.compile(r'\b(?:placeholder|title|aria-label|alt)="([^"]*)"')
_BUTTON_VALUES = re.compile(r'<input[^>]*type="(?:submit|button)"[^>]*value="([^"]*)"')
_LINKS = re.compile(r'href="(/[^"#]*)"')


#: words that stay Vietnamese in English on purpose: the language switch names Vietnamese in
#: Vietnamese, and HTSĐ is the product's name
MEANT_TO_STAY = ("Tiếng Việt", "HTSĐ")


def _visible_text(page: str) -> str:
    """The page's text, one piece (a tag's text, an attribute) a line."""
    page = _HIDDEN.sub(" ", page)
    extra = _ATTRIBUTES.findall(page) + _BUTTON_VALUES.findall(page)
    text = re.sub(r"<[^>]+>", "\n", page)
    return html.unescape("\n".join([text, *extra]))


def _user_data() -> list[str]:
    """Names and free text that people typed or the geography carries, longest first."""
    strings = set()
    for column in (
        Unit.name,
        Subject.name,
        User.full_name,
        User.username,
        CaseEvent.comment,
        AssessmentItem.evidence,
    ):
        strings |= {s for s in db.session.scalars(select(column).distinct()) if s}
    # a unit's name is also shown without its kind ("Quang Trung" for "Phường Quang Trung"),
    # and in capitals in the heading of a printed report
    for name in list(strings):
        strings |= {name.split(" ", 1)[-1], name.upper()}
    return sorted(strings, key=len, reverse=True)


def vietnamese_words(page: str, user_data: list[str]) -> set[str]:
    return {word for _line, word in _findings(page, user_data)}


def vietnamese_lines(page: str, user_data: list[str]) -> set[str]:
    """The pieces of text that hold Vietnamese words (for the failure message)."""
    return {line for line, _word in _findings(page, user_data)}


def _findings(page: str, user_data: list[str]):
    text = _visible_text(page)
    for value in (*user_data, *MEANT_TO_STAY):
        text = text.replace(value, " ")
    for line in text.split("\n"):
        for word in VIETNAMESE.findall(line.lower()):
            yield " ".join(line.split())[:160], word


@pytest.fixture
def world(ctx, make):
    """Cases at each stage in one commune, users of every role, messages to read."""
    own = {}
    for state in ("draft", "commune_review", "district_verification", "provincial_confirmation"):
        own[state] = make.case_in(state, unit=COMMUNE)
    make.case_in("commune_review", kind="clan", unit=COMMUNE)
    make.case_in("district_verification", kind="community", unit=COMMUNE)
    users = {}
    for role in ROLES:
        if role == "applicant":  # the household still filling in its form
            users[role] = own["draft"][1]
        elif role == "village_head":
            village = make.subject("community", COMMUNE, name="Thôn Kon Rờ Bàng")
            users[role] = make.user(role, subject_id=village.id)
        else:
            users[role] = make.user(role, ROLE_UNIT.get(role, "62"))
    for user in users.values():
        user.must_change_password = False
        user.locale = "en"
    db.session.commit()
    return users


def _walk(app, client, start: list[str]) -> dict[str, set[str]]:
    user_data = _user_data()
    seen, found = set(), {}
    queue = deque(start)
    while queue and len(seen) < MOST_PAGES:
        url = queue.popleft()
        # one page per path and query-key set: ?page=2 and ?state=… lists look the same
        parts = urlsplit(url)
        key = (parts.path, tuple(sorted(k.split("=")[0] for k in parts.query.split("&") if k)))
        if key in seen or parts.path.startswith(NOT_WALKED_PATHS):
            continue
        seen.add(key)
        response = client.get(url)
        assert response.status_code < 500, (url, response.status_code)
        if response.mimetype != "text/html" or response.status_code >= 400:
            continue
        page = response.get_data(as_text=True)
        lines = vietnamese_lines(page, user_data)
        if lines:
            found[url] = lines
        for link in _LINKS.findall(html.unescape(page)):
            if not link.startswith(NOT_WALKED_PATHS) and "/download" not in link:
                queue.append(link)
    return found


def _parameterless_get_routes(app) -> list[str]:
    return sorted(
        rule.rule
        for rule in app.url_map.iter_rules()
        if "GET" in rule.methods
        and not rule.arguments
        and not rule.rule.startswith(NOT_WALKED_PATHS)
        and rule.endpoint not in {"static", "auth.logout", "imports.template"}
    )


@pytest.mark.parametrize("role", ROLES)
def test_no_vietnamese_words_in_english_outside_user_data(app, world, client, role):
    if app.config["BACKEND"] != "sqlite":
        pytest.skip("the words are the same on every database: walked once, on SQLite")
    login(client, world[role])
    with client.session_transaction() as session:
        session["lang"] = "en"
    found = _walk(app, client, ["/", *_parameterless_get_routes(app)])
    report = "\n".join(f"{url}: {' | '.join(sorted(lines))}" for url, lines in found.items())
    assert not found, f"{role} sees Vietnamese in English:\n{report}"


def test_the_detector_finds_vietnamese_and_spares_user_data():
    page = '<p>Hồ sơ của <b>Hộ Nguyễn Văn A</b></p><input placeholder="Tìm kiếm">'
    assert vietnamese_words(page, ["Hộ Nguyễn Văn A"]) == {"hồ", "sơ", "của", "tìm", "kiếm"}
    assert vietnamese_words("<p>Case of Hộ Nguyễn Văn A</p>", ["Hộ Nguyễn Văn A"]) == set()
