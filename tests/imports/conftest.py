"""The web helpers (signed-in clients) for the import pages."""

from tests.web.conftest import as_user, browser  # noqa: F401 (fixtures)
