"""The 500 hunt: every route in the URL map gets the inputs that broke programs before — ids
too large for the database, numbers in other scripts, dates at the calendar's edges, lone
surrogates, JSON nested thousands of levels, CR/LF and invisible characters — in its path, its
query string, its form or its JSON body. Every answer is a page, a redirect or a clear 4xx;
never a 500.

The routes and the field names are read from the app itself (the URL map, the views' sources,
the forms and the API schemas), so a new route or field is hunted without editing this file.
"""

from __future__ import annotations

import inspect
import re
import sys

import pytest
from flask import g
from flask_wtf import FlaskForm
from marshmallow import fields as mm_fields

from htsd_workflow.api.framework import OPERATIONS
from htsd_workflow.extensions import db, limiter
from tests.factories import COMMUNE

#: values typed into a form field or a query parameter
ODD_TEXTS = [
    "²",
    "١٢",
    "2026²",
    str(2**31),
    str(2**63 - 1),
    str(2**63),
    "9" * 30,
    "-1",
    "0001-01-01",
    "9999-12-31",
    "x\r\nLocation: //evil.example",
    "a\u202eexe.gpj\u200b",
    "2026-12-07T10:00:00+07:00_" + str(2**31),
]
#: values put into every field of a JSON body
ODD_JSON = [
    2**31,
    2**63 - 1,
    2**63,
    10**30,
    -1,
    "\ud800",
    "a\ud894b",
    "²",
    "١٢",
    [2**63],
    ["\ud800"],
    {"a": "\ud800"},
    "0001-01-01",
    "9999-12-31",
]
#: values in the path for ``<int:…>`` and ``<…>`` parts
ODD_IDS = [2**31, 2**32 - 1, 2**63 - 1]
ODD_CODES = ["²", "١٢", "\u202e62", "9" * 30]
DEEP = 2000

#: the choices a person makes on a page (a list's value) and the fields with a format of their
#: own, set as a person would: they decide whether the page reads the rest
PLAUSIBLE = {
    "role": "applicant",
    "trigger": "approve",
    "kind": "family",
    "title": "family",
    "selection": "selected",
    "action": "save",
    "unit_code": COMMUNE,
    "unit": COMMUNE,
    "commune": COMMUNE,
    "lang": "vi",
    "state": "commune_review",
    "claim": "me",
    "take_over": "1",
    "year": "2026",
    "email": "can.bo@kontum.gov.vn",
    "password": "mat-khau-2026",
}
#: which role opens a route, when several may: the first of these the route allows
ROLE_PREFERENCE = (
    "commune_reviewer",
    "applicant",
    "admin",
    "province_officer",
    "district_reviewer",
    "education_reviewer",
    "culture_reviewer",
    "manager",
)
#: a variable part of a route: ``<int:case_id>``, ``<code>``
_PATH_PART = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")  # converter, its arguments, name
_READ = re.compile(r'\.get(?:list)?\(\s*"([a-z_]+)"')


def _names_read(view) -> set[str]:
    """The query and form names the view's module reads (``.get("name")``), and its forms'."""
    module = sys.modules[inspect.unwrap(view).__module__]
    source = inspect.getsource(module)
    names = set(_READ.findall(source))
    for value in vars(module).values():
        if inspect.isclass(value) and issubclass(value, FlaskForm) and value is not FlaskForm:
            names |= {n for n, f in vars(value).items() if hasattr(f, "field_class")}
    return names


def _schema_fields(schema_cls) -> dict:
    return {f.data_key or name: f for name, f in schema_cls._declared_fields.items()}


def _odd_bodies(schema_cls) -> list:
    """JSON bodies with every field of the schema set to one odd value (lists get a list)."""
    declared = _schema_fields(schema_cls)
    bodies = []
    for value in ODD_JSON:
        body = {}
        for name, field in declared.items():
            is_list = isinstance(field, mm_fields.List)
            body[name] = [value] if is_list and not isinstance(value, list) else value
        bodies.append(body)
    return bodies


@pytest.fixture
def world(make):
    """A case in commune review, its subject and applicant, and one user per role."""
    case, applicant = make.case_in("commune_review")
    users = {role: make.user(role) for role in ROLE_PREFERENCE if role != "applicant"}
    users["applicant"] = applicant
    for user in users.values():
        user.must_change_password = False
    db.session.commit()
    return {"case_id": case.id, "subject_id": case.subject_id, "users": users}


def _path_values(rule, world, user) -> list[dict]:
    """The real ids (so the request reaches its input), then the odd ones."""
    converters = {name: kind for kind, name in _PATH_PART.findall(rule.rule)}
    if not converters:
        return [{}]
    real = {
        name: {"case_id": world["case_id"], "subject_id": world["subject_id"]}.get(
            name, user.id if name == "user_id" else 1
        )
        for name in converters
    }
    if "kind" in converters:
        real["kind"] = "subjects"
    if "code" in converters:
        real["code"] = COMMUNE
    if "set_id" in converters:
        real["set_id"] = "family-2021"
    odd = []
    for name, converter in converters.items():
        values = ODD_IDS if converter == "int" else ODD_CODES
        odd += [dict(real, **{name: v}) for v in values]
    return [real, *odd]


def _client_for(ctx, user):
    client = ctx.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = user.get_id()
        session["_fresh"] = True
    return client


def _fresh(send):
    """``send`` with ``g`` emptied before each request, as a real server's is (the test's
    app context, and so its ``g``, is reused by the client)."""

    def fresh(*args, **kwargs):
        g.__dict__.clear()
        return send(*args, **kwargs)

    return fresh


def _token_for(user):
    from htsd_workflow.api.framework import issue_token

    user.must_change_password = False
    token, _row = issue_token(user)
    db.session.commit()
    return token


#: the walk in three parts the suite's workers share: the API, the pages that write files
#: (PDFs), the other pages (by blueprint; every route is in exactly one part)
PARTS = {"api": {"api"}, "files": {"decisions", "reports"}, "pages": None}


def _in_part(endpoint: str, part: str) -> bool:
    blueprint = endpoint.split(".")[0]
    named = set().union(*(b for b in PARTS.values() if b))
    return blueprint in PARTS[part] if PARTS[part] else blueprint not in named


def _routes(ctx, part: str):
    skip = {"static", "readyz"}
    for rule in ctx.url_map.iter_rules():
        if rule.endpoint in skip or not _in_part(rule.endpoint, part):
            continue
        view = ctx.view_functions[rule.endpoint]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method, view


def _role_for(view) -> str | None:
    rule = getattr(view, "access_rule", None)
    if rule is None or rule.public:
        return None
    return next((r for r in ROLE_PREFERENCE if r in rule.roles), None)


def test_every_route_is_in_one_part_of_the_walk(ctx):
    endpoints = [rule.endpoint for rule in ctx.url_map.iter_rules()]
    for endpoint in endpoints:
        assert sum(_in_part(endpoint, part) for part in PARTS) == 1, endpoint


@pytest.mark.parametrize("part", list(PARTS))
def test_no_route_answers_an_odd_input_with_a_500(ctx, world, monkeypatch, part):
    monkeypatch.setitem(ctx.config, "WTF_CSRF_ENABLED", False)
    monkeypatch.setattr(limiter, "enabled", False)
    api_bodies = {(op.rule, op.method.upper()): op.body for op in OPERATIONS}
    api_queries = {(op.rule, op.method.upper()): op.query for op in OPERATIONS}
    failures = []

    def check(response, method, url, sent):
        if response.status_code >= 500:
            failures.append((response.status_code, method, url, repr(sent)[:120]))

    for rule, method, view in _routes(ctx, part):
        role = _role_for(view)
        user = world["users"][role] if role else world["users"]["commune_reviewer"]
        is_api = rule.rule.startswith("/api/")
        token = _token_for(user) if is_api else None
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        names = sorted(_names_read(view)) or ["q"]
        if is_api:
            query = api_queries.get((rule.rule.removeprefix("/api/v1"), method))
            names = sorted(_schema_fields(query)) if query else ["q"]
        for number, values in enumerate(_path_values(rule, world, user)):
            url = ctx.url_map.bind("localhost").build(rule.endpoint, values, method=method)
            client = ctx.test_client() if is_api else _client_for(ctx, user)
            send = _fresh(getattr(client, method.lower()))
            # a plain request for the odd paths; every odd value for the real one
            odd_texts = ODD_TEXTS if number == 0 else ODD_TEXTS[:1]
            for text in odd_texts:
                odd = dict.fromkeys(names, text)
                # and with the choices that open the other fields (role=applicant asks for a
                # subject id) set to what a person picks, when the page has them
                chosen = {**odd, **{n: v for n, v in PLAUSIBLE.items() if n in odd}}
                for params in (odd, chosen) if not is_api and chosen != odd else (odd,):
                    if method == "GET" or is_api:
                        check(send(url, query_string=params, headers=headers), method, url, params)
                    else:
                        check(send(url, data=params, headers=headers), method, url, params)
            if number == 0 and not is_api:
                # bytes that are no UTF-8 (a lone surrogate's encoding), as a browser could send
                raw = "&".join(f"{name}=%ED%A0%80" for name in names)
                if method == "GET":
                    check(send(f"{url}?{raw}"), method, url, raw)
                else:
                    form = "application/x-www-form-urlencoded"
                    check(send(url, data=raw.encode(), content_type=form), method, url, raw)
            if number == 0 and method == "GET":
                for edges in (
                    {"from": "0001-01-01", "to": "9999-12-31"},
                    {"from": "9999-12-31"},
                    {"to": "0001-01-01"},
                ):
                    check(send(url, query_string=edges, headers=headers), method, url, edges)
            if is_api and method != "GET":
                schema = api_bodies.get((rule.rule.removeprefix("/api/v1"), method))
                bodies = _odd_bodies(schema) if schema and number == 0 else [{}]
                for body in bodies:
                    check(send(url, json=body, headers=headers), method, url, body)
                deep = "[" * DEEP + "]" * DEEP
                check(
                    send(url, data=deep, content_type="application/json", headers=headers),
                    method,
                    url,
                    "deep",
                )
                deep_object = '{"a":' * DEEP + "1" + "}" * DEEP
                check(
                    send(url, data=deep_object, content_type="application/json", headers=headers),
                    method,
                    url,
                    "deep object",
                )
    assert not failures, "\n".join(map(str, failures))
