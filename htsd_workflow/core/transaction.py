"""One request, one transaction: where a page or an API request ends its transaction.

Views and operations never commit or roll back. The page views' ``access`` wrapper
(``auth/access.py``) and the API's ``endpoint`` wrapper (``api/framework.py``) call ``finish``
once the view has answered: a success (2xx, 3xx) commits, anything else (4xx, 5xx, or an
exception, which the error pages answer) rolls back, so a refused request changes nothing.

A view that answers a refusal itself — the form shown again with its errors, a flash message
and a redirect — runs the operation inside ``undone_on_refusal()``, a savepoint: when the
operation raises, what it wrote is undone before the view renders, and the error goes on to
the view. What the request wrote before or after it (a draft saved before a refused "send",
files kept though the scores were refused) commits if the answer is a success, or if the view
says so with ``keep_writes()``.

Work that needs the committed rows — a background job started, a task enqueued, a file
deleted — is handed to ``after_commit(callback, *args)``: it runs after the commit, and never
if the request rolls back.

A refusal that keeps what the request wrote says so (``keep_writes()``): a refused sign-in is
recorded though the page answers 401.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from flask import g

from htsd_workflow.core.sqlite import begin_before_savepoint
from htsd_workflow.extensions import db


def succeeded(status: int) -> bool:
    """Whether a response with ``status`` commits its request's writes."""
    return status < 400


def finish(status: int, *, expire: bool = True) -> None:
    """End the request's transaction by the answer's ``status``; after a commit, run what
    waited for it (``after_commit``). ``expire=False`` when the answer is already made (a
    page): the objects loaded stay loaded, so that the ``after_request`` hooks reading the
    signed-in user do not read it again."""
    waiting = g.pop("htsd_after_commit", [])
    keep = g.pop("htsd_keep_writes", False)
    if succeeded(status) or keep:
        session = db.session()
        # a request that never used the session (a health check, the public certificate
        # check) has nothing to commit: SQLAlchemy would begin and commit an empty transaction
        if session.in_transaction():
            session.expire_on_commit = expire
            try:
                session.commit()
            finally:
                session.expire_on_commit = True
            if waiting and not expire:
                session.expire_all()  # the work after the commit reads the rows afresh
        for callback, args, kwargs in waiting:
            callback(*args, **kwargs)
    else:
        db.session.rollback()


def abandon() -> None:
    """Roll the request's transaction back (the view raised; its error, not a failed rollback
    on a dead connection, is what the error page answers)."""
    g.pop("htsd_after_commit", None)
    g.pop("htsd_keep_writes", None)
    with contextlib.suppress(Exception):
        db.session.rollback()


def keep_writes() -> None:
    """Commit what this request wrote even though it answers with a refusal (4xx)."""
    g.htsd_keep_writes = True


def after_commit(callback: Callable, *args, **kwargs) -> None:
    """Call ``callback(*args, **kwargs)`` once the request's transaction has committed (in the
    request, after the commit); dropped if it rolls back."""
    g.setdefault("htsd_after_commit", []).append((callback, args, kwargs))


@contextmanager
def undone_on_refusal() -> Iterator[None]:
    """Run an operation whose refusal the view answers itself, in a savepoint: when it raises
    (a ``DomainError`` the view catches), what it wrote is undone and the rest of the request's
    writes stay."""
    begin_before_savepoint(db.session.connection())
    with db.session.begin_nested():
        yield
