"""The JSON API under /api/v1 (see framework.py for how to add an endpoint)."""

from flask import Flask, request

from htsd_workflow.api import openapi, rounds, views  # noqa: F401  (registers the endpoints)
from htsd_workflow.api.framework import (  # noqa: F401 (api_database_unavailable: re-exported)
    api_database_unavailable,
    api_http_error,
    api_unexpected_error,
    bp,
)
from htsd_workflow.extensions import csrf


def is_api_request() -> bool:
    return request.path.startswith(bp.url_prefix + "/") or request.path == bp.url_prefix


def register_api(app: Flask) -> None:
    csrf.exempt(bp)  # bearer tokens, no cookies: CSRF does not apply
    app.register_blueprint(bp)


__all__ = ["api_http_error", "api_unexpected_error", "is_api_request", "register_api"]
