"""The reliability suite reuses the HTTP tests' server (``api_url``, tests/conftest.py)."""
