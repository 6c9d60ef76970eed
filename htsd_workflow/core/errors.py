"""Domain errors that operations raise and the web and API layers turn into 4xx answers.

Messages are marked for translation where they are raised, with a constant msgid and named
placeholders (``raise NotFound(_l("Không có tỉnh mã %(code)s.", code=code))``); they are put
into words when shown, in the language of the request (Vietnamese outside a request: CLI,
worker). ``tests/unit/test_error_messages.py`` checks every raise.
"""

from __future__ import annotations

from flask_babel import LazyString


def rendered(value):
    """``value`` with every lazy text put into words in the current language (dicts and lists
    are walked), ready for a template or JSON."""
    if isinstance(value, dict):
        return {key: rendered(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [rendered(item) for item in value]
    if isinstance(value, LazyString | LazyJoin):
        return str(value)
    return value


class LazyJoin:
    """Texts joined by ``separator`` when shown, for a placeholder that lists messages."""

    def __init__(self, separator: str, parts):
        self.separator, self.parts = separator, list(parts)

    def __str__(self) -> str:
        return self.separator.join(str(part) for part in self.parts)


def later(function, *args, **kwargs) -> LazyString:
    """``function(*args, **kwargs)`` called when shown: a screen word (state or trigger label)
    inside a message follows the reader's language."""
    return LazyString(function, *args, **kwargs)


class DomainError(Exception):
    """Base of the errors an operation raises for a request it refuses."""

    status = 400
    code = "bad_request"

    def __init__(self, message, *, details: dict | None = None):
        super().__init__(message)
        self._message = message
        self._details = details or {}

    @property
    def message(self) -> str:
        """The message in the current language."""
        return str(self._message)

    @property
    def details(self) -> dict:
        """Field → message (or data), the messages in the current language."""
        return rendered(self._details)

    def __str__(self) -> str:
        return self.message


class InvalidInput(DomainError):
    """The input is malformed or breaks a rule; ``details`` names the fields."""

    status = 422
    code = "invalid_input"


class BelowPassMark(InvalidInput):
    """Moving a case forward whose score is under its pass mark, without an override reason."""

    code = "below_pass_mark"


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
