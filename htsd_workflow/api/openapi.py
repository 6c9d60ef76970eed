"""The OpenAPI 3 description, built from the registered operations and their schemas."""

from __future__ import annotations

import re

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import jsonify

from htsd_workflow.api.framework import OPERATIONS, bp, endpoint
from htsd_workflow.core.text import MAX_ID

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {"type": "object"},
            },
        }
    },
}
ERROR_STATUSES = {
    "400": "Malformed request",
    "401": "Missing, expired or revoked token",
    "403": "Role or territory does not allow it",
    "404": "Not found in the caller's scope",
    "409": "Conflict: someone acted first, or it exists already",
    "422": "Invalid input; details name the fields",
    "429": "Too many attempts",
}


def _path(rule: str) -> tuple[str, list[dict]]:
    parameters = []

    def replace(match):
        converter, name = match.group(1), match.group(2)
        parameters.append(
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID}
                if converter == "int"
                else {"type": "string", "minLength": 1, "maxLength": 40},
            }
        )
        return "{" + name + "}"

    return re.sub(r"<(?:(\w+):)?(\w+)>", replace, rule), parameters


def build_spec() -> dict:
    spec = APISpec(
        title="HTSĐ Workflow API",
        version="1.0.0",
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin()],
        info={"description": "Recognition of learning families, clans, communities and units."},
        servers=[{"url": "/api/v1"}],
    )
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    spec.components.schema("Error", ERROR_SCHEMA)
    paths: dict[str, dict] = {}
    for op in OPERATIONS:
        path, parameters = _path(op.rule)
        operation: dict = {
            "summary": op.summary,
            "operationId": f"{op.method}_{op.view.__name__}",
            "tags": list(op.tags),
            "parameters": list(parameters),
            "responses": {},
        }
        if op.query is not None:
            operation["parameters"].append({"in": "query", "schema": op.query})
        if op.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": op.body}},
            }
        if op.media_type == "application/json":
            answer = {"schema": op.response or {"type": "object"}}
        else:  # a file: its bytes
            answer = {"schema": {"type": "string", "format": "binary"}}
        operation["responses"][str(op.status)] = {
            "description": "OK",
            "content": {op.media_type: answer},
        }
        for status, description in ERROR_STATUSES.items():
            operation["responses"][status] = {
                "description": description,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            }
        if op.public:
            operation["security"] = []
        else:
            operation["security"] = [{"bearer": []}]
            operation["description"] = "Roles: " + ", ".join(op.roles)
        paths.setdefault(path, {})[op.method] = operation
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


@endpoint("/openapi.json", "GET", summary="This description", public=True, tags=("meta",))
def openapi():
    return jsonify(build_spec())


__all__ = ["bp", "build_spec"]
