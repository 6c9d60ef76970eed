"""The web helpers (signed-in clients) for the security tests."""

from tests.web.conftest import as_user, browser  # noqa: F401 (fixtures)
