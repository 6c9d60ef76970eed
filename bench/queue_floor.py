"""Benchmark 3's stack floor: the reviewer's queue page from bare Flask + Jinja + psycopg.

``gunicorn bench.queue_floor:app`` (the same workers and threads as the app) serves, for each
reviewer of the run, the page the app served them, built with nothing of the app but its
session cookie:

* ``GET /floor/sign-in/<slot>`` puts the reviewer's slot in Flask's signed cookie session (the
  app's own ``SessionInterface``, as the app signs its sessions);
* ``GET /floor/queue`` reads the slot from that cookie, sends that reviewer's page statements —
  the very statements the app sent while rendering the page, captured at the driver (user,
  queue page, units, count) — on the worker thread's own psycopg connection in one
  transaction, and prints the queue query's rows with the markup of
  ``templates/queues/queue.html``'s rows between the head and the tail of the page the app
  rendered (given as they were: they hold no per-row work).

What it leaves out, so that it is a floor: the ORM (statements built, rows loaded), Flask-Login,
Flask-Babel, Flask-WTF and the CSRF token, the request log, access checks, the layout's and the
filter form's templates (printed as one ready string), the translated due-date text (a day
count), the workflow's labels. Whatever the app does on top of this costs more; if this page
cannot reach a rate on the machine, no page of the app built on the same stack can.

``BENCH_FLOOR_LIBRARIES=1`` serves the **library floor**: the same page with the libraries the
project may not do without doing their least for it, and nothing else of the app:

* Flask-Login signs the reviewer in from the cookie and loads them through Flask-SQLAlchemy
  with the app's own ``load_user`` and ``db`` (the app's pool settings, with its pre-ping) —
  Flask, Flask-SQLAlchemy and Flask-Login are fixed by the user;
* the page's other statements go through that session's connection (a Core read, as the
  app's queue reads);
* Flask-WTF's CSRF protection is on and the page carries a fresh token (the page is a form);
* Flask-Babel picks the language and translates the rows' labels once per page (the screens
  are in Vietnamese and English).

The libraries' own statements (the pool's ping, the user's load) are theirs to send, so the
captured ones are left out of the replay (``own`` in the plan).

The plan (``BENCH_FLOOR_PLAN``, JSON) is a list, one entry per slot: ``statements`` (``[sql,
params]``), ``page`` (the index of the queue query among them), ``head`` and ``tail`` (the
app's page around its ``<tbody>`` rows), ``base`` (the case link's pattern, ``{id}`` for
the case), ``titles`` (the titles' names), ``size`` (rows per page), ``user`` (the
reviewer's Flask-Login id) and ``own`` (the indexes of the statements the libraries send).
"""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime, timedelta

import psycopg
from flask import Flask, abort, session

from bench.httpload import CSRF
from htsd_workflow.web import SessionInterface

#: the rows' labels, as the app's template translates them (once per page)
LABELS = {
    "pick": "Chọn",
    "subject": "Đối tượng",
    "escalated": "Đã báo cáo cấp trên",
    "title": "Danh hiệu",
    "commune": "Xã/phường",
    "sent": "Ngày gửi",
    "due": "Hạn",
    "score": "Điểm",
    "self": "tự chấm",
    "pass": "Đạt",
    "fail": "Chưa đạt",
    "handler": "Người xử lý",
    "claim": "Nhận xử lý",
    "release": "Trả về hàng chờ",
}

#: the rows' markup of templates/queues/queue.html, with a reviewer who may act in bulk
ROWS = """\
{%- for r in rows %}
    <tr{% if r[7] %} class="overdue"{% endif %}>
      <td><label class="check"><input type="checkbox" name="case_id" value="{{ r[0] }}" \
aria-label="{{ l.pick }} HS-{{ r[0] }}"> <span class="muted">HS-{{ r[0] }}</span></label></td>
      <td data-label="{{ l.subject }}"><a href="{{ r[1] }}">{{ r[2] }}</a>\
{% if r[12] %} <span class="badge">{{ l.escalated }}</span>{% endif %}</td>
      <td data-label="{{ l.title }}">{{ r[3] }} {{ r[4] }}</td>
      <td data-label="{{ l.commune }}">{{ r[5] or "–" }}</td>
      <td data-label="{{ l.sent }}">{{ r[6] }}</td>
      <td data-label="{{ l.due }}">{{ r[8] }}<br>{% if r[9] %}<span class="{{ r[9] }}">\
{{ r[10] }}</span>{% endif %}</td>
      <td class="num" data-label="{{ l.score }}">{{ r[11] }}\
{% if r[16] %}<br><span class="muted">{{ l.self }} {{ r[16] }}</span>{% endif %}\
{% if r[17] is not none %}<br>{% if r[17] %}<span class="pass">{{ l.pass }}</span>\
{% else %}<span class="fail">{{ l.fail }}</span>{% endif %}{% endif %}</td>
      <td data-label="{{ l.handler }}">
        {% if r[13] %}{{ r[14] }}{% if r[13] == uid %} <button type="submit" class="link" \
formaction="/cases/{{ r[0] }}/release">{{ l.release }}</button>{% endif %}
        {% else %}<button type="submit" class="button small secondary" \
formaction="{{ r[15] }}">{{ l.claim }}</button>
        {% endif %}
      </td>
    </tr>
{%- endfor %}"""

#: the queue query's columns that the rows print (captured SQL names them)
COLUMNS = (
    "id",
    "title",
    "year",
    "submitted_at",
    "due_at",
    "self_score",
    "score",
    "criteria_set_id",
    "claimed_by_id",
    "is_escalated",
    "subject_name",
    "commune_name",
    "claimed_by_name",
)
VN = timedelta(hours=7)


def _plan() -> list[dict]:
    path = os.environ.get("BENCH_FLOOR_PLAN")
    if not path:
        return []
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def _moment(value: datetime | None) -> str:
    if value is None:
        return "–"
    local = value + VN
    return f"{local.day:02d}/{local.month:02d}/{local.year}"


def _points(value) -> str:
    return "–" if value is None else f"{value:g}"


def prepare(
    rows, names: list[str], base: str, titles: dict, now: datetime, marks: dict | None = None
) -> list[tuple]:
    """The page query's rows as the template prints them (the least the app must do too):
    the score that counts, the self-score beside it when they differ, and whether it reaches
    the set's pass mark (``marks``: criteria set id -> mark; the ĐBKK lookup is left out)."""
    pick = [names.index(c) for c in COLUMNS]
    marks = marks or {}
    out = []
    for row in rows:
        (case_id, title, year, submitted, due, self_score, score, criteria_set, claimed,
         escalated, name, commune, claimer) = (row[i] for i in pick)  # fmt: skip
        counted = self_score if score is None else score
        mark = marks.get(criteria_set)
        passed = None if counted is None or mark is None else counted >= mark
        if due is None:
            badge, text, overdue = "", "", False
        else:
            days = (due - now).days
            overdue = days < 0
            badge = "due overdue" if overdue else ("due soon" if days <= 3 else "due")
            text = f"Quá hạn {-days} ngày làm việc" if overdue else f"Còn {days} ngày làm việc"
        out.append(
            (
                case_id,
                base.format(id=case_id),
                name,
                titles.get(title, title),
                year,
                commune,
                _moment(submitted),
                overdue,
                _moment(due),
                badge,
                text,
                _points(counted),
                escalated,
                claimed,
                claimer,
                f"/cases/{case_id}/claim",
                _points(self_score) if counted != self_score else "",
                passed,
            )
        )
    return out


def _pages(plan: list[dict]) -> list[tuple]:
    return [
        (
            [(sql, params) for sql, params in entry["statements"]],
            entry["page"],
            entry["head"],
            entry["tail"],
            entry["base"],
            entry["titles"],
            entry["size"],
            entry.get("marks", {}),
            entry.get("user_id"),
        )
        for entry in plan
    ]


def _read(execute, statements, page_index: int, size: int):
    """Send a page's statements; the queue query's rows and column names.

    ``execute(sql, params)`` answers the column names (None for a statement without rows) and
    a function that fetches the rows.
    """
    rows = names = None
    for i, (sql, params) in enumerate(statements):
        columns, fetch = execute(sql, params)
        if i == page_index:
            names = columns
            rows = fetch()[:size]  # one more was read: is there a next page
        elif columns is not None:
            fetch()
    return rows, names


def _not_their_own(entry: dict) -> tuple[list, int]:
    """A page's statements less those the libraries send themselves (``own``), and the index
    of the queue query among the rest."""
    kept = [i for i in range(len(entry["statements"])) if i not in entry["own"]]
    return [tuple(entry["statements"][i]) for i in kept], kept.index(entry["page"])


def _app() -> Flask:
    """A Flask app signing its sessions as the app does, with the health check the bench's
    server waits for."""
    app = Flask(__name__)
    app.secret_key = os.environ.get("SECRET_KEY", "bench-secret-key-not-for-production")
    app.session_interface = SessionInterface()
    app.add_url_rule("/healthz", "healthz", lambda: "ok")
    return app


def create_floor_app(plan: list[dict], database_uri: str) -> Flask:
    app = _app()
    rows_template = app.jinja_env.from_string(ROWS)
    pages = _pages(plan)
    local = threading.local()

    def connection() -> psycopg.Connection:
        conn = getattr(local, "conn", None)
        if conn is None or conn.closed:
            conn = local.conn = psycopg.connect(database_uri)
        return conn

    @app.get("/floor/sign-in/<int:slot>")
    def sign_in(slot: int):
        if not 0 <= slot < len(pages):
            abort(404)
        session["slot"] = slot
        return "ok"

    @app.get("/floor/queue")
    def queue():
        slot = session.get("slot")
        if slot is None:
            abort(403)
        statements, page_index, head, tail, base, titles, size, marks, uid = pages[slot]
        conn = connection()
        cursor = conn.cursor()

        def execute(sql, params):
            cursor.execute(sql, params)
            names = None if cursor.description is None else [c.name for c in cursor.description]
            return names, cursor.fetchall

        rows, names = _read(execute, statements, page_index, size)
        conn.rollback()
        now = datetime.now(UTC).replace(tzinfo=None)
        prepared = prepare(rows, names, base, titles, now, marks)
        return head + rows_template.render(rows=prepared, l=LABELS, uid=uid) + tail

    return app


def create_library_floor_app(plan: list[dict], database_uri: str, engine_options: dict) -> Flask:
    """The library floor (see the module's text): the stack floor's page, with Flask-Login
    loading the reviewer through Flask-SQLAlchemy, Flask-WTF's CSRF token and Flask-Babel's
    labels; ``engine_options`` are the app's (its pool)."""
    from flask_babel import Babel, gettext
    from flask_login import LoginManager, current_user, login_user
    from flask_wtf.csrf import CSRFProtect, generate_csrf

    from htsd_workflow.config import PROJECT_ROOT, normalize_database_url
    from htsd_workflow.extensions import db
    from htsd_workflow.web import load_user  # the app's own user loader

    app = _app()
    app.config.update(
        SQLALCHEMY_DATABASE_URI=normalize_database_url(database_uri),
        SQLALCHEMY_ENGINE_OPTIONS=engine_options,
        BABEL_DEFAULT_LOCALE="vi",
        BABEL_TRANSLATION_DIRECTORIES=str(PROJECT_ROOT / "htsd_workflow" / "translations"),
    )
    db.init_app(app)
    LoginManager(app).user_loader(load_user)
    CSRFProtect(app)
    Babel(app, locale_selector=lambda: session.get("lang") or "vi")

    rows_template = app.jinja_env.from_string(ROWS)
    pages = _pages(plan)
    users = [entry["user"] for entry in plan]
    replayed = [_not_their_own(entry) for entry in plan]
    # the page around its rows, cut where the app's CSRF token stood (a fresh one goes there)
    tokens = [CSRF.search(entry["head"] + entry["tail"]) for entry in plan]
    around = [
        [entry[part].split(token.group(1)) if token else [entry[part]] for part in ("head", "tail")]
        for entry, token in zip(plan, tokens, strict=True)
    ]

    @app.get("/floor/sign-in/<int:slot>")
    def sign_in(slot: int):
        if not 0 <= slot < len(pages):
            abort(404)
        user = load_user(users[slot])
        if user is None:
            abort(403)
        login_user(user)  # as the app's sign-in does (the session's user id and identifier)
        session["slot"] = slot
        return "ok"

    @app.get("/floor/queue")
    def queue():
        slot = session.get("slot")
        if slot is None or not current_user.is_authenticated:
            abort(403)
        _statements, _page, _head, _tail, base, titles, size, marks, uid = pages[slot]
        connection = db.session.connection()

        def execute(sql, params):
            result = connection.exec_driver_sql(sql, params)
            return (list(result.keys()) if result.returns_rows else None), result.all

        rows, names = _read(execute, *replayed[slot], size)
        token = generate_csrf()
        head, tail = (token.join(pieces) for pieces in around[slot])
        labels = {key: gettext(label) for key, label in LABELS.items()}
        now = datetime.now(UTC).replace(tzinfo=None)
        prepared = prepare(rows, names, base, titles, now, marks)
        return head + rows_template.render(rows=prepared, l=labels, uid=uid) + tail

    return app


_URI = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/htsd_bench")
if os.environ.get("BENCH_FLOOR_LIBRARIES") == "1":
    from htsd_workflow import create_app

    # the app's own pool settings (sized as create_app sizes them, with the pre-ping)
    _OPTIONS = create_app({"SQLALCHEMY_DATABASE_URI": _URI}).config["SQLALCHEMY_ENGINE_OPTIONS"]
    app = create_library_floor_app(_plan(), _URI, _OPTIONS)
else:
    app = create_floor_app(_plan(), _URI.replace("postgresql+psycopg://", "postgresql://"))
