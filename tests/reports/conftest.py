"""Signed-in pages for the report tests."""

from tests.web.conftest import as_user  # noqa: F401 (signed-in pages)
