"""Fetching spec URLs that arrive in events: only allowed hosts, bounded in size, time and hops.

Anyone who can send an event (an event key, the dev server UI) can write a URL, so every URL and
every redirect target is checked against the allow-list before a connection is made.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterable
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import urljoin, urlsplit

import httpx

from appsync.sync.decoding import SUPPORTED, BoundedDecoder, DecodingError, content_encodings

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
    """Scheme, host and port of an http(s) URL; None for other URLs; `ValueError` if unparsable."""
    parts = urlsplit(url)
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    port = parts.port or _DEFAULT_PORTS[parts.scheme]
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
            try:
                origin = _origin(url)
            except ValueError:
                continue  # a URL that cannot be fetched allows nothing
            if origin is not None:
                entries.add(_host_port(origin[1], origin[2]))
        return cls(frozenset(entries))

    def check(self, url: str) -> None:
        """Raise `FetchError` unless `url` is http(s) on an allowed host."""
        try:
            origin = _origin(url)
        except ValueError as exc:
            raise FetchError(url, f"not a valid URL: {exc}", transient=False) from None
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
    """Fetches spec bytes over one reused connection pool; every limit is enforced per call.

    It talks to httpx's transport directly rather than through `httpx.AsyncClient`: the client
    parses a redirect's `Location` even when it does not follow redirects, and lets some parse
    errors (IDNA) escape as foreign exceptions; here every `Location` is parsed, checked and
    reported by this class. Bodies are decoded here too (`appsync.sync.decoding`), so that the
    size cap counts decoded bytes as they are produced.
    """

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
        self._transport: httpx.AsyncHTTPTransport | None = None

    def _pool(self) -> httpx.AsyncHTTPTransport:
        if self._transport is None:
            self._transport = httpx.AsyncHTTPTransport(trust_env=False)
        return self._transport

    async def aclose(self) -> None:
        """Close the pooled connections (the next fetch opens a new pool)."""
        if self._transport is not None:
            transport, self._transport = self._transport, None
            await transport.aclose()

    async def fetch(self, url: str, policy: HostPolicy) -> bytes:
        """GET `url` under `policy`, following at most `max_redirects` checked redirects."""
        try:
            async with asyncio.timeout(self.timeout):
                return await self._follow(url, policy)
        except TimeoutError:
            raise FetchError(url, f"timed out after {self.timeout:g} s", transient=True) from None

    def _request(self, target: httpx.URL) -> httpx.Request:
        return httpx.Request(
            "GET",
            target,
            headers={
                "Accept": "application/json, application/yaml, text/yaml, */*;q=0.5",
                "Accept-Encoding": ", ".join(SUPPORTED),
            },
            extensions={"timeout": httpx.Timeout(self.timeout).as_dict()},
        )

    async def _follow(self, url: str, policy: HostPolicy) -> bytes:
        current = url
        for _ in range(self.max_redirects + 1):
            target = _checked(url, current, policy)
            try:
                response = await self._pool().handle_async_request(self._request(target))
                try:
                    location = response.headers.get("location")
                    if response.status_code in _REDIRECTS and location is not None:
                        current = _redirect_target(url, current, location)
                        continue
                    return await self._body(url, current, response)
                finally:
                    await response.aclose()
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
        try:
            decoder = BoundedDecoder(
                content_encodings(response.headers.get_list("content-encoding"))
            )
            return await self._read(url, via, response, decoder)
        except DecodingError as exc:
            raise FetchError(url, f"{exc}{via}", transient=False) from None

    async def _read(
        self, url: str, via: str, response: httpx.Response, decoder: BoundedDecoder
    ) -> bytes:
        # BytesIO rather than a list of chunks joined at the end: `getvalue()` hands over its
        # buffer without a copy (CPython), so a body at the cap costs the cap once, not twice.
        body = io.BytesIO()
        received = decoded = 0
        async for chunk in response.aiter_raw():
            received += len(chunk)
            if received > self.max_bytes:
                raise FetchError(url, self._too_large(None) + via, transient=False)
            for piece in decoder.decode(chunk):
                decoded += len(piece)
                if decoded > self.max_bytes:
                    raise FetchError(url, self._too_large(None) + via, transient=False)
                body.write(piece)
        decoder.finish()
        return body.getvalue()

    def _too_large(self, declared: int | None) -> str:
        size = f"has {declared} bytes," if declared is not None else "is"
        return (
            f"the response {size} over the limit of {self.max_bytes} bytes (APPSYNC_MAX_SPEC_BYTES)"
        )


def _checked(url: str, current: str, policy: HostPolicy) -> httpx.URL:
    """`current` parsed for connecting, once it passed `policy`; else a `FetchError` for `url`."""
    try:
        target = _parse(current)
        policy.check(current)
    except ValueError as exc:
        if current == url:
            raise FetchError(url, f"not a valid URL: {exc}", transient=False) from None
        raise FetchError(
            url,
            f"the redirect's Location is not a valid URL: {exc} (redirected to {current})",
            transient=False,
        ) from None
    except FetchError as exc:
        if current == url:
            raise
        raise FetchError(url, f"{exc.reason} (redirected to {current})", transient=False) from None
    return target


def _parse(text: str) -> httpx.URL:
    """`text` as httpx connects to it; `ValueError` unless urllib (the host check) agrees."""
    try:
        target = httpx.URL(text)
    except httpx.InvalidURL as exc:
        raise ValueError(str(exc)) from None
    origin = _origin(text)  # raises ValueError for what urllib cannot parse
    seen = (target.scheme, target.host, target.port or _DEFAULT_PORTS.get(target.scheme))
    if origin is not None and seen != origin:
        # The allow-list reads the URL with urllib; connect only where it looked.
        raise ValueError(
            f"urllib reads its host as {_host_port(origin[1], origin[2])}, httpx as "
            f"{_host_port(target.host, seen[2] or 0)}"
        )
    return target


def _redirect_target(url: str, current: str, location: str) -> str:
    try:
        return urljoin(current, location)
    except ValueError as exc:
        raise FetchError(
            url,
            f"the redirect's Location is not a valid URL: {exc} (redirected to {location})",
            transient=False,
        ) from None
