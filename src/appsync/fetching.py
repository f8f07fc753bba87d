"""Fetching spec URLs that arrive in events: only allowed hosts, bounded in size, time and hops.

Anyone who can send an event (an event key, the dev server UI) can write a URL, so every URL and
every redirect target is checked against the allow-list before a connection is made.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import urljoin, urlsplit

import httpx

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_TRANSIENT_CLIENT_ERRORS = frozenset(
    {HTTPStatus.REQUEST_TIMEOUT, HTTPStatus.TOO_EARLY, HTTPStatus.TOO_MANY_REQUESTS}
)


class FetchError(Exception):
    """A spec URL that could not be fetched; `transient` errors are worth retrying."""

    def __init__(self, url: str, reason: str, *, transient: bool) -> None:
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason
        self.transient = transient


def _origin(url: str) -> tuple[str, str, int] | None:
    parts = urlsplit(url)
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    try:
        port = parts.port or _DEFAULT_PORTS[parts.scheme]
    except ValueError:
        return None
    return parts.scheme, parts.hostname.lower(), port


@dataclass(frozen=True, slots=True)
class HostPolicy:
    """Which hosts may be fetched: entries are `host` (any port) or `host:port`."""

    entries: frozenset[str]

    @classmethod
    def for_urls(cls, urls: Iterable[str], extra_hosts: Iterable[str] = ()) -> HostPolicy:
        """Allow the host and port of each configured URL, plus explicitly allowed hosts."""
        entries = {host.lower() for host in extra_hosts}
        for url in urls:
            origin = _origin(url)
            if origin is not None:
                entries.add(_host_port(origin[1], origin[2]))
        return cls(frozenset(entries))

    def check(self, url: str) -> None:
        """Raise `FetchError` unless `url` is http(s) on an allowed host."""
        origin = _origin(url)
        if origin is None:
            raise FetchError(url, "only absolute http(s) URLs can be fetched", transient=False)
        _, host, port = origin
        if host not in self.entries and _host_port(host, port) not in self.entries:
            allowed = ", ".join(sorted(self.entries)) or "none"
            raise FetchError(
                url,
                f"host {_host_port(host, port)} is not allowed (allowed: {allowed}); "
                "add it to APPSYNC_ALLOWED_SPEC_HOSTS or APPSYNC_OPENAPI_URLS",
                transient=False,
            )


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class SpecFetcher:
    """Fetches spec bytes with one reused HTTP client; every limit is enforced per call."""

    def __init__(
        self,
        *,
        max_bytes: int,
        timeout: float,
        max_redirects: int,
    ) -> None:
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.max_redirects = max_redirects
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None or self._client.is_closed:
            self._client = httpx.AsyncClient(
                follow_redirects=False,
                timeout=httpx.Timeout(self.timeout),
                trust_env=False,
                headers={"Accept": "application/json, application/yaml, text/yaml, */*;q=0.5"},
            )
        return self._client

    async def aclose(self) -> None:
        """Close the pooled connections (the next fetch opens a new pool)."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def fetch(self, url: str, policy: HostPolicy) -> bytes:
        """GET `url` under `policy`, following at most `max_redirects` checked redirects."""
        try:
            async with asyncio.timeout(self.timeout):
                return await self._follow(url, policy)
        except TimeoutError:
            raise FetchError(url, f"timed out after {self.timeout:g} s", transient=True) from None

    async def _follow(self, url: str, policy: HostPolicy) -> bytes:
        current = url
        for _ in range(self.max_redirects + 1):
            try:
                policy.check(current)
            except FetchError as exc:
                if current == url:
                    raise
                raise FetchError(
                    url, f"{exc.reason} (redirected to {current})", transient=False
                ) from None
            try:
                async with self._http().stream("GET", current) as response:
                    if response.status_code in _REDIRECTS and "location" in response.headers:
                        current = urljoin(current, response.headers["location"])
                        continue
                    return await self._body(url, current, response)
            except httpx.TimeoutException:
                raise FetchError(
                    url, f"timed out after {self.timeout:g} s", transient=True
                ) from None
            except httpx.TransportError as exc:
                reason = str(exc) or type(exc).__name__
                raise FetchError(url, f"connection failed: {reason}", transient=True) from None
        raise FetchError(url, f"more than {self.max_redirects} redirects", transient=False)

    async def _body(self, url: str, current: str, response: httpx.Response) -> bytes:
        via = "" if current == url else f" (redirected to {current})"
        status = response.status_code
        if HTTPStatus.MULTIPLE_CHOICES <= status < HTTPStatus.BAD_REQUEST:
            raise FetchError(url, f"HTTP {status} without a usable Location{via}", transient=False)
        if response.is_error:
            transient = response.is_server_error or status in _TRANSIENT_CLIENT_ERRORS
            raise FetchError(
                url, f"HTTP {status} {response.reason_phrase}{via}", transient=transient
            )
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise FetchError(url, self._too_large(int(declared)) + via, transient=False)
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > self.max_bytes:
                raise FetchError(url, self._too_large(None) + via, transient=False)
            chunks.append(chunk)
        return b"".join(chunks)

    def _too_large(self, declared: int | None) -> str:
        size = f"has {declared} bytes," if declared is not None else "is"
        return (
            f"the response {size} over the limit of {self.max_bytes} bytes (APPSYNC_MAX_SPEC_BYTES)"
        )
