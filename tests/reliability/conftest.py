"""The reliability suite reuses the HTTP tests' server."""

from tests.e2e.conftest import api_database, api_url

__all__ = ["api_database", "api_url"]
