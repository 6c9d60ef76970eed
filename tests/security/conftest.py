"""The web helpers (signed-in clients) and the API client for the security tests."""

from tests.api.conftest import api  # noqa: F401 (fixture)
from tests.web.conftest import as_user, browser  # noqa: F401 (fixtures)
