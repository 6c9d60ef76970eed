"""Fixtures of the pages and the API for the integration stories."""

from tests.api.conftest import api  # noqa: F401 (the API client fixture)
from tests.web.conftest import as_user  # noqa: F401 (signed-in pages)
