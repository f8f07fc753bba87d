"""`local_url`: how this machine reaches a server bound to a host (the one self-URL helper)."""

from __future__ import annotations

import pytest

from appsync.settings.service import local_url


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", "http://127.0.0.1:8000"),
        ("0.0.0.0", "http://127.0.0.1:8000"),  # noqa: S104 - a value to map, nothing binds it
        ("", "http://127.0.0.1:8000"),
        ("::", "http://127.0.0.1:8000"),
        ("::1", "http://[::1]:8000"),
        ("[::1]", "http://[::1]:8000"),
        ("app.internal", "http://app.internal:8000"),
    ],
)
def test_wildcards_go_to_loopback_and_ipv6_is_bracketed(host: str, expected: str) -> None:
    """A wildcard bind is reached on 127.0.0.1; an IPv6 address is written in brackets."""
    assert expected == local_url(host, 8000)
