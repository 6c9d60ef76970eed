"""Declared access rules for every route.

Each view is wrapped by ``access(...)``, which also ends the request's transaction
(``core.transaction.finish``: commit on success, roll back on a refusal); the rule is kept on
the view function (``view.access_rule``) so that a test can walk the URL map and fail for a
route that declares none. Territory is checked inside the view through ``auth.scope``
(objects) and ``scope_clause`` (lists).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from flask import abort, g, make_response
from flask_login import current_user

from htsd_workflow.auth.roles import ROLES, SUPERVISOR_ROLES
from htsd_workflow.core import transaction
from htsd_workflow.extensions import login_manager


@dataclass(frozen=True)
class AccessRule:
    #: roles allowed; empty with ``public`` for pages anyone may open
    roles: tuple[str, ...]
    public: bool = False


def access(*roles: str, public: bool = False):
    """Allow the view to signed-in users of ``roles`` (any role if none given), or everyone."""
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        raise ValueError(f"unknown role(s) {unknown}")
    rule = AccessRule(roles=tuple(roles) or ROLES, public=public)

    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            if not rule.public:
                if not current_user.is_authenticated:
                    return login_manager.unauthorized()
                if current_user.role not in rule.roles:
                    abort(403)
            if g.get("htsd_in_view"):
                return view(*args, **kwargs)  # called by another view, which ends the request
            g.htsd_in_view = True
            try:
                response = make_response(view(*args, **kwargs))
            except BaseException:
                transaction.abandon()
                raise
            finally:
                g.htsd_in_view = False
            transaction.finish(response.status_code, expire=False)
            return response

        wrapper.access_rule = rule
        return wrapper

    return decorator


def may_open(view, role: str) -> bool:
    """Whether a signed-in user of ``role`` may open ``view`` by its declared access rule."""
    rule = getattr(view, "access_rule", None)
    return rule is not None and (rule.public or role in rule.roles)


def start_endpoint(user) -> str:
    """The page a user lands on after signing in."""
    if user.role == "applicant":
        return "subjects.mine"
    if user.role == "village_head":
        return "rounds.villages"
    if user.role == "commune_reviewer":
        return "rounds.commune"
    if user.role == "admin":
        return "admin.users"
    if user.role in SUPERVISOR_ROLES:
        return "dashboard.overview"
    return "queues.queue"
