"""Domain errors that operations raise and the web and API layers turn into 4xx answers."""

from __future__ import annotations


class DomainError(Exception):
    """Base of the errors an operation raises for a request it refuses."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, details: dict | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or {}


class InvalidInput(DomainError):
    """The input is malformed or breaks a rule; ``details`` names the fields."""

    status = 422
    code = "invalid_input"


class NotAllowed(DomainError):
    """The actor may not do this (role, level, territory or claim)."""

    status = 403
    code = "forbidden"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    """Someone else changed the object first, or it already exists."""

    status = 409
    code = "conflict"


class ConfigurationError(Exception):
    """A workflow or criteria file is invalid; start-up stops with this message."""
