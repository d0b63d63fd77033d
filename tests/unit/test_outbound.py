"""Outbound webhooks without I/O: which URLs are endpoints, and the retry schedule."""

from __future__ import annotations

import pytest

from adapters.outbound import DispatchSettings
from application.outbound import check_endpoint_url
from domain.errors import InvalidInputError


@pytest.mark.parametrize(
    "url",
    [
        "https://cliente.example.com/hooks",
        "http://cliente.example.com:8080/a?b=c",
        "https://8.8.8.8/h",
    ],
)
def test_public_http_and_https_urls_are_endpoints(url: str) -> None:
    assert check_endpoint_url(url, allow_local=False) == url


@pytest.mark.parametrize(
    "url",
    [
        "ftp://cliente.example.com/",
        "cliente.example.com/hooks",
        "https:///no-host",
        "https://user:pass@cliente.example.com/",
        "https://cliente.example.com/a b",
        "https://cliente.example.com/\u0007",
        "https://cliente.example.com:99999/",
        "https://[::1/",
        "https://cliente.example.com/" + "a" * 2048,
    ],
)
def test_malformed_urls_are_refused(url: str) -> None:
    with pytest.raises(InvalidInputError) as refused:
        check_endpoint_url(url, allow_local=True)
    assert refused.value.field == "url"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9000/h",
        "http://localhost/h",
        "http://api.localhost/h",
        "http://10.0.0.5/h",
        "http://192.168.1.10/h",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]:8000/h",
        "http://0.0.0.0/h",
    ],
)
def test_local_and_private_addresses_only_in_development(url: str) -> None:
    with pytest.raises(InvalidInputError):
        check_endpoint_url(url, allow_local=False)
    assert check_endpoint_url(url, allow_local=True) == url


def test_backoff_doubles_up_to_its_cap() -> None:
    settings = DispatchSettings(base_backoff_seconds=10, max_backoff_seconds=3600)
    waits = [settings.backoff(attempt) for attempt in range(1, 12)]
    assert waits[:4] == [10, 20, 40, 80]
    assert waits[-1] == 3600
    assert waits == sorted(waits)
    # Retried for a day, it is tried a few dozen times, not thousands.
    elapsed, attempts = 0.0, 0
    while elapsed < DispatchSettings().give_up_seconds:
        attempts += 1
        elapsed += DispatchSettings().backoff(attempts)
    assert 20 < attempts < 40
    assert settings.lease_seconds > settings.timeout_seconds
