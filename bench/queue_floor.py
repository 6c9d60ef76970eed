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

The plan (``BENCH_FLOOR_PLAN``, JSON) is a list, one entry per slot: ``statements`` (``[sql,
params]``), ``page`` (the index of the queue query among them), ``head`` and ``tail`` (the
app's page around its ``<tbody>`` rows), ``base`` (the case link's pattern, ``{id}`` for
the case), ``titles`` (the titles' names) and ``size`` (rows per page).
"""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime, timedelta

import psycopg
from flask import Flask, abort, session

from htsd_workflow.web import SessionInterface

#: the rows' markup of templates/queues/queue.html, with a reviewer who may act in bulk
ROWS = """\
{%- for r in rows %}
    <tr{% if r[7] %} class="overdue"{% endif %}>
      <td><label class="check"><input type="checkbox" name="case_id" value="{{ r[0] }}" \
aria-label="Chọn HS-{{ r[0] }}"> <span class="muted">HS-{{ r[0] }}</span></label></td>
      <td data-label="Đối tượng"><a href="{{ r[1] }}">{{ r[2] }}</a>\
{% if r[12] %} <span class="badge">Đã báo cáo cấp trên</span>{% endif %}</td>
      <td data-label="Danh hiệu">{{ r[3] }} {{ r[4] }}</td>
      <td data-label="Xã/phường">{{ r[5] or "–" }}</td>
      <td data-label="Ngày gửi">{{ r[6] }}</td>
      <td data-label="Hạn">{{ r[8] }}<br>{% if r[9] %}<span class="{{ r[9] }}">{{ r[10] }}</span>\
{% endif %}</td>
      <td class="num" data-label="Tự chấm">{{ r[11] }}</td>
      <td data-label="Người xử lý">
        {% if r[13] %}{{ r[14] }}
        {% else %}<button type="submit" class="button small secondary" \
formaction="{{ r[15] }}">Nhận xử lý</button>
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


def prepare(rows, names: list[str], base: str, titles: dict, now: datetime) -> list[tuple]:
    """The page query's rows as the template prints them (the least the app must do too)."""
    pick = [names.index(c) for c in COLUMNS]
    out = []
    for row in rows:
        (case_id, title, year, submitted, due, score, claimed, escalated, name, commune,
         claimer) = (row[i] for i in pick)  # fmt: skip
        if due is None:
            badge, text, overdue = "", "", False
        else:
            days = (due - now).days
            overdue = days < 0
            badge = "due overdue" if overdue else ("due soon" if days <= 3 else "due")
            text = f"Quá hạn {-days} ngày" if overdue else f"Còn {days} ngày làm việc"
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
                "–" if score is None else f"{score:g}",
                escalated,
                claimed,
                claimer,
                f"/cases/{case_id}/claim",
            )
        )
    return out


def create_floor_app(plan: list[dict], database_uri: str) -> Flask:
    app = Flask(__name__)
    app.secret_key = os.environ.get("SECRET_KEY", "bench-secret-key-not-for-production")
    app.session_interface = SessionInterface()
    rows_template = app.jinja_env.from_string(ROWS)
    pages = [
        (
            [(sql, params) for sql, params in entry["statements"]],
            entry["page"],
            entry["head"],
            entry["tail"],
            entry["base"],
            entry["titles"],
            entry["size"],
        )
        for entry in plan
    ]
    local = threading.local()

    def connection() -> psycopg.Connection:
        conn = getattr(local, "conn", None)
        if conn is None or conn.closed:
            conn = local.conn = psycopg.connect(database_uri)
        return conn

    @app.get("/healthz")
    def healthz():
        return "ok"

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
        statements, page_index, head, tail, base, titles, size = pages[slot]
        conn = connection()
        cursor = conn.cursor()
        rows = names = None
        for i, (sql, params) in enumerate(statements):
            cursor.execute(sql, params)
            if i == page_index:
                names = [c.name for c in cursor.description]
                rows = cursor.fetchall()[:size]  # one more was read: is there a next page
            elif cursor.description is not None:
                cursor.fetchall()
        conn.rollback()
        prepared = prepare(rows, names, base, titles, datetime.now(UTC).replace(tzinfo=None))
        return head + rows_template.render(rows=prepared) + tail

    return app


app = create_floor_app(
    _plan(),
    os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/htsd_bench").replace(
        "postgresql+psycopg://", "postgresql://"
    ),
)
