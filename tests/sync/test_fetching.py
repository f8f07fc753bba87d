"""`SpecFetcher` and `HostPolicy` against the loopback spec server and its scripted faults."""

from __future__ import annotations

import asyncio
import uuid
from urllib.parse import quote, urlsplit

import pytest

from appsync.sync.fetching import FetchError, HostPolicy, SpecFetcher
from harness.fetch_probe import probe
from harness.paths import SPECS_DIR
from harness.spec_server import SpecServer

PETSTORE = "oai_petstore_swagger2.json"
LIMIT = 64 * 1024


def run_fetch(
    url: str,
    policy: HostPolicy,
    *,
    max_bytes: int = LIMIT,
    timeout: float = 5.0,
    max_redirects: int = 3,
) -> bytes:
    """Fetch `url` with a fresh fetcher (closed afterwards) on a fresh event loop."""

    async def fetch() -> bytes:
        fetcher = SpecFetcher(max_bytes=max_bytes, timeout=timeout, max_redirects=max_redirects)
        try:
            return await fetcher.fetch(url, policy)
        finally:
            await fetcher.aclose()

    return asyncio.run(fetch())


def fetch_error(
    url: str,
    policy: HostPolicy,
    *,
    max_bytes: int = LIMIT,
    timeout: float = 5.0,
    max_redirects: int = 3,
) -> FetchError:
    """The `FetchError` that fetching `url` raises."""
    with pytest.raises(FetchError) as info:
        run_fetch(url, policy, max_bytes=max_bytes, timeout=timeout, max_redirects=max_redirects)
    return info.value


def server_policy(server: SpecServer) -> HostPolicy:
    """Only the spec server's `127.0.0.1:<port>` is allowed."""
    return HostPolicy.for_urls([server.url("specs/openapi.json")])


def unique(prefix: str) -> str:
    """A name no other test (the server is shared by the session) uses."""
    return f"{prefix}-{uuid.uuid4().hex}.json"


def port_of(server: SpecServer) -> int:
    """The spec server's port."""
    port = urlsplit(server.base_url).port
    assert port is not None
    return port


def redirect_url(server: SpecServer, target: str) -> str:
    """A URL on the spec server that answers 302 to `target`."""
    return server.url(f"redirect?to={quote(target, safe='')}")


def redirect_chain(server: SpecServer, target: str, hops: int) -> str:
    """A URL that reaches `target` after exactly `hops` redirects."""
    url = target
    for _ in range(hops):
        url = redirect_url(server, url)
    return url


# Allowed hosts, schemes and redirects.


def test_spec_from_allowed_host_is_fetched(spec_server: SpecServer) -> None:
    """A spec on an allowed host:port comes back byte for byte."""
    expected = (SPECS_DIR / PETSTORE).read_bytes()

    actual = run_fetch(spec_server.url(f"specs/{PETSTORE}"), server_policy(spec_server))

    assert expected == actual


def test_disallowed_host_is_refused_before_any_connection(spec_server: SpecServer) -> None:
    """`localhost:<port>` is refused when only `127.0.0.1:<port>` is allowed; nothing is sent."""
    name = unique("refused")
    spec_server.put(name, b"{}")
    url = f"http://localhost:{port_of(spec_server)}/doc/{name}"

    error = fetch_error(url, server_policy(spec_server))

    assert 0 == spec_server.hits[f"/doc/{name}"]
    assert url == error.url
    assert error.transient is False
    assert f"host localhost:{port_of(spec_server)} is not allowed" in error.reason
    assert f"127.0.0.1:{port_of(spec_server)}" in error.reason
    assert "APPSYNC_ALLOWED_SPEC_HOSTS" in error.reason
    assert str(error).startswith(f"{url}: ")


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://127.0.0.1/specs/openapi.json",
        "/specs/openapi.json",
        "http:///specs/openapi.json",
    ],
)
def test_non_http_url_is_refused(url: str) -> None:
    """Only absolute http(s) URLs with a host are fetched, even when the host is allowed."""
    policy = HostPolicy.for_urls([], extra_hosts=["127.0.0.1"])

    error = fetch_error(url, policy)

    assert url == error.url
    assert error.transient is False
    assert "only absolute http(s) URLs can be fetched" == error.reason


def test_redirect_within_allowed_hosts_is_followed(spec_server: SpecServer) -> None:
    """A 302 to another allowed URL is followed and the target's body returned."""
    name = unique("redirected")
    target = spec_server.put(name, b'{"openapi": "3.0.0"}')

    body = run_fetch(redirect_url(spec_server, target), server_policy(spec_server))

    assert b'{"openapi": "3.0.0"}' == body
    assert 1 == spec_server.hits[f"/doc/{name}"]


def test_relative_redirect_is_resolved_against_the_current_url(spec_server: SpecServer) -> None:
    """A relative `Location` is resolved against the URL that answered it."""
    name = unique("relative")
    spec_server.put(name, b"{}")

    body = run_fetch(redirect_url(spec_server, f"/doc/{name}"), server_policy(spec_server))

    assert b"{}" == body


def test_redirect_to_disallowed_host_is_refused_naming_the_redirect(
    spec_server: SpecServer,
) -> None:
    """A redirect to a host that is not allowed is refused before connecting; the error names it."""
    name = unique("redirect-refused")
    target = f"http://localhost:{port_of(spec_server)}/doc/{name}"
    spec_server.put(name, b"{}")

    error = fetch_error(redirect_url(spec_server, target), server_policy(spec_server))

    assert 0 == spec_server.hits[f"/doc/{name}"]
    assert error.transient is False
    assert target in str(error)
    assert f"host localhost:{port_of(spec_server)} is not allowed" in error.reason


def test_redirect_refusal_reports_the_requested_url_and_the_redirect(
    spec_server: SpecServer,
) -> None:
    """A refused redirect is reported against the requested URL, saying where it redirected.

    The sync function reports `reason` under the URL of the event, as it does for every other
    failure after a redirect ("... (redirected to <url>)").
    """
    name = unique("redirect-reported")
    target = f"http://localhost:{port_of(spec_server)}/doc/{name}"
    url = redirect_url(spec_server, target)

    error = fetch_error(url, server_policy(spec_server))

    assert url == error.url
    assert f"redirected to {target}" in error.reason


def test_redirect_to_non_http_scheme_is_refused(spec_server: SpecServer) -> None:
    """A redirect to `file://` is refused, permanently."""
    error = fetch_error(redirect_url(spec_server, "file:///etc/passwd"), server_policy(spec_server))

    assert error.transient is False
    assert "only absolute http(s) URLs can be fetched" in error.reason


def test_max_redirects_are_followed(spec_server: SpecServer) -> None:
    """Exactly `max_redirects` redirects still reach the spec."""
    name = unique("two-hops")
    target = spec_server.put(name, b"{}")

    body = run_fetch(
        redirect_chain(spec_server, target, 2), server_policy(spec_server), max_redirects=2
    )

    assert b"{}" == body


def test_more_than_max_redirects_are_refused(spec_server: SpecServer) -> None:
    """One redirect over `max_redirects` is refused, permanently, and the target not fetched."""
    name = unique("three-hops")
    target = spec_server.put(name, b"{}")
    url = redirect_chain(spec_server, target, 3)

    error = fetch_error(url, server_policy(spec_server), max_redirects=2)

    assert 0 == spec_server.hits[f"/doc/{name}"]
    assert url == error.url
    assert error.transient is False
    assert "more than 2 redirects" == error.reason


def test_redirect_without_location_is_permanent(spec_server: SpecServer) -> None:
    """A 3xx answer with no `Location` is a permanent failure that names the status."""
    url = spec_server.url("status/302")

    error = fetch_error(url, server_policy(spec_server))

    assert url == error.url
    assert error.transient is False
    assert "HTTP 302 without a usable Location" == error.reason


# Size and time limits.


def test_body_at_the_limit_is_accepted(spec_server: SpecServer) -> None:
    """A body of exactly `max_bytes` is within the limit."""
    body = b" " * 1000
    url = spec_server.put(unique("at-limit"), body)

    assert body == run_fetch(url, server_policy(spec_server), max_bytes=1000)


def test_oversize_body_with_content_length_is_refused(spec_server: SpecServer) -> None:
    """A declared Content-Length over the limit is refused, naming the size and the setting."""
    url = spec_server.put(unique("declared-big"), b" " * 1001)

    error = fetch_error(url, server_policy(spec_server), max_bytes=1000)

    assert url == error.url
    assert error.transient is False
    assert "has 1001 bytes, over the limit of 1000 bytes" in error.reason
    assert "APPSYNC_MAX_SPEC_BYTES" in error.reason


def test_oversize_streamed_body_is_refused(spec_server: SpecServer) -> None:
    """A chunked body with no Content-Length is cut off once it passes the limit."""
    url = spec_server.url(f"big/{10 * LIMIT}")

    error = fetch_error(url, server_policy(spec_server), max_bytes=LIMIT)

    assert url == error.url
    assert error.transient is False
    assert f"is over the limit of {LIMIT} bytes" in error.reason
    assert "APPSYNC_MAX_SPEC_BYTES" in error.reason


def test_oversize_body_after_redirect_names_the_redirect(spec_server: SpecServer) -> None:
    """An oversize body reached through a redirect is reported with the URL it came from."""
    target = spec_server.url(f"big/{10 * LIMIT}")
    url = redirect_url(spec_server, target)

    error = fetch_error(url, server_policy(spec_server), max_bytes=LIMIT)

    assert url == error.url
    assert f"(redirected to {target})" in error.reason


def test_streamed_body_within_the_limit_is_returned(spec_server: SpecServer) -> None:
    """A chunked body under the limit is read whole."""
    body = run_fetch(spec_server.url("big/100000"), server_policy(spec_server), max_bytes=100000)

    assert 100000 == len(body)


def test_slow_answer_is_cut_at_the_timeout_as_a_transient_error(spec_server: SpecServer) -> None:
    """A server slower than the timeout gives a transient error naming the timeout."""
    spec_server.put(name := unique("slow"), b"{}")
    url = spec_server.url(f"slow/30/doc/{name}")

    error = fetch_error(url, server_policy(spec_server), timeout=0.5)

    # An error at all means it was cut: had it waited the 30 s, the fetch would have succeeded.
    assert url == error.url
    assert error.transient is True
    assert "timed out after 0.5 s" == error.reason


# HTTP statuses and broken connections.


@pytest.mark.parametrize(
    ("status", "transient"),
    [
        (500, True),
        (502, True),
        (503, True),
        (429, True),
        (408, True),
        (404, False),
        (403, False),
        (400, False),
        (410, False),
    ],
)
def test_http_error_status_says_whether_to_retry(
    spec_server: SpecServer, status: int, transient: bool
) -> None:
    """Server errors, 408 and 429 are transient; other client errors are permanent."""
    url = spec_server.url(f"status/{status}")

    error = fetch_error(url, server_policy(spec_server))

    assert url == error.url
    assert transient is error.transient
    assert error.reason.startswith(f"HTTP {status} ")


def test_http_error_message_names_url_status_and_phrase(spec_server: SpecServer) -> None:
    """A 404 message reads `<url>: HTTP 404 Not Found`."""
    url = spec_server.url(f"doc/{unique('missing')}")

    error = fetch_error(url, server_policy(spec_server))

    assert f"{url}: HTTP 404 Not Found" == str(error)
    assert error.transient is False


def test_flaky_server_succeeds_on_the_next_attempt(spec_server: SpecServer) -> None:
    """A 500 is transient, and the same URL succeeds once the server recovers."""
    key = uuid.uuid4().hex
    url = spec_server.url(f"flaky/{key}/1/specs/{PETSTORE}")
    policy = server_policy(spec_server)

    error = fetch_error(url, policy)
    body = run_fetch(url, policy)

    assert error.transient is True
    assert "HTTP 500 Internal Server Error" == error.reason
    assert (SPECS_DIR / PETSTORE).read_bytes() == body


def test_dropped_connection_is_transient(spec_server: SpecServer) -> None:
    """A connection closed without an answer is a transient connection failure."""
    url = spec_server.url(f"drop/specs/{PETSTORE}")

    error = fetch_error(url, server_policy(spec_server))

    assert url == error.url
    assert error.transient is True
    assert error.reason.startswith("connection failed: ")


def test_truncated_body_is_transient(spec_server: SpecServer) -> None:
    """A body shorter than its Content-Length is a transient connection failure."""
    url = spec_server.url(f"truncated/specs/{PETSTORE}")

    error = fetch_error(url, server_policy(spec_server))

    assert url == error.url
    assert error.transient is True
    assert error.reason.startswith("connection failed: ")


def test_fetcher_is_reusable_after_errors(spec_server: SpecServer) -> None:
    """One fetcher serves a good URL after a refused, a failed and a dropped one."""
    policy = server_policy(spec_server)
    good = spec_server.put(unique("after-errors"), b"{}")

    async def scenario() -> tuple[list[bool], bytes]:
        fetcher = SpecFetcher(max_bytes=LIMIT, timeout=5.0, max_redirects=3)
        transient: list[bool] = []
        try:
            for bad in (
                f"http://localhost:{port_of(spec_server)}/doc/x",
                spec_server.url("status/500"),
                spec_server.url(f"drop/specs/{PETSTORE}"),
            ):
                try:
                    await fetcher.fetch(bad, policy)
                except FetchError as exc:
                    transient.append(exc.transient)
            return transient, await fetcher.fetch(good, policy)
        finally:
            await fetcher.aclose()

    transient, body = asyncio.run(scenario())

    assert [False, True, True] == transient
    assert b"{}" == body


# HostPolicy.


def test_host_only_entry_allows_any_port() -> None:
    """An entry without a port allows that host on every port and scheme."""
    policy = HostPolicy.for_urls([], extra_hosts=["specs.example.com"])

    for url in (
        "http://specs.example.com/a.json",
        "https://specs.example.com/a.json",
        "http://specs.example.com:8080/a.json",
        "https://specs.example.com:9443/a.json",
    ):
        policy.check(url)


def test_host_port_entry_allows_only_that_port() -> None:
    """An entry `host:port` allows that port and refuses the others, default ports included."""
    policy = HostPolicy.for_urls([], extra_hosts=["specs.example.com:8080"])

    policy.check("http://specs.example.com:8080/a.json")
    for url in (
        "http://specs.example.com:8081/a.json",
        "http://specs.example.com/a.json",
        "https://specs.example.com/a.json",
    ):
        with pytest.raises(FetchError) as info:
            policy.check(url)
        assert url == info.value.url
        assert info.value.transient is False


def test_configured_url_allows_its_default_port() -> None:
    """A configured URL without a port allows its scheme's default port, written or not."""
    http = HostPolicy.for_urls(["http://specs.example.com/openapi.json"])
    https = HostPolicy.for_urls(["https://specs.example.com/openapi.json"])

    assert frozenset({"specs.example.com:80"}) == http.entries
    assert frozenset({"specs.example.com:443"}) == https.entries
    http.check("http://specs.example.com/other.json")
    http.check("http://specs.example.com:80/other.json")
    https.check("https://specs.example.com/other.json")
    https.check("https://specs.example.com:443/other.json")


def test_configured_url_refuses_other_ports_of_its_host() -> None:
    """A configured URL's host on another port (or the other scheme's default) is refused."""
    policy = HostPolicy.for_urls(["https://specs.example.com/openapi.json"])

    for url, shown in (
        ("http://specs.example.com/a.json", "specs.example.com:80"),
        ("https://specs.example.com:8443/a.json", "specs.example.com:8443"),
    ):
        with pytest.raises(FetchError) as info:
            policy.check(url)
        assert f"host {shown} is not allowed (allowed: specs.example.com:443)" in info.value.reason


def test_explicit_default_port_entry_matches_url_without_port() -> None:
    """An entry `host:443` allows an https URL that leaves the port out."""
    policy = HostPolicy.for_urls([], extra_hosts=["specs.example.com:443"])

    policy.check("https://specs.example.com/a.json")


def test_host_matching_ignores_case() -> None:
    """Hosts are compared case-insensitively, in entries and in URLs."""
    policy = HostPolicy.for_urls(["https://Specs.Example.COM/openapi.json"], ["Other.Example.com"])

    policy.check("https://SPECS.example.com/a.json")
    policy.check("http://other.EXAMPLE.com:8080/a.json")


def test_ipv6_host_port_entry_from_url() -> None:
    """A configured IPv6 URL allows that address and port, written in brackets."""
    policy = HostPolicy.for_urls(["http://[::1]:8080/openapi.json"])

    assert frozenset({"[::1]:8080"}) == policy.entries
    policy.check("http://[::1]:8080/a.json")
    with pytest.raises(FetchError):
        policy.check("http://[::1]:8081/a.json")


def test_empty_policy_refuses_everything_and_says_so() -> None:
    """With nothing allowed, the message says `allowed: none`."""
    with pytest.raises(FetchError) as info:
        HostPolicy.for_urls([]).check("https://specs.example.com/a.json")

    assert "(allowed: none)" in info.value.reason


def test_userinfo_does_not_pass_for_the_host() -> None:
    """`http://allowed@other/` is checked against `other`, the host actually connected to."""
    policy = HostPolicy.for_urls([], extra_hosts=["specs.example.com"])

    with pytest.raises(FetchError) as info:
        policy.check("http://specs.example.com@evil.example.net/a.json")

    assert "host evil.example.net:80 is not allowed" in info.value.reason


# URLs that cannot be parsed (issue 13, item 3).


@pytest.mark.parametrize(
    ("location", "reason"),
    [
        ("http://[::1", "Invalid IPv6 URL"),
        ("http://xn--/", "Malformed A-label"),
        ("http://127.0.0.1:99999/", "Port out of range"),
        ("http://256.256.256.256/", "Invalid IPv4 address"),
    ],
    ids=["unclosed-ipv6", "bad-idna", "port-out-of-range", "bad-ipv4"],
)
def test_redirect_to_an_unparsable_location_is_a_permanent_error(
    spec_server: SpecServer, location: str, reason: str
) -> None:
    """A Location httpx or urllib cannot parse is a permanent FetchError naming the redirect."""
    url = redirect_url(spec_server, location)
    policy = HostPolicy.for_urls([url], extra_hosts=["xn--", "256.256.256.256"])

    error = fetch_error(url, policy)

    assert url == error.url
    assert error.transient is False
    assert error.reason.startswith("the redirect's Location is not a valid URL")
    assert reason in error.reason
    assert f"(redirected to {location})" in error.reason


@pytest.mark.parametrize("character", ["\x00", "\x01", "\x7f"], ids=["nul", "soh", "del"])
def test_url_with_a_control_character_is_a_permanent_error(
    spec_server: SpecServer, character: str
) -> None:
    """A URL with a control character is refused before any connection, naming the character."""
    url = spec_server.url(f"specs/a{character}b.json")

    error = fetch_error(url, server_policy(spec_server))

    assert url == error.url
    assert error.transient is False
    assert f"not a valid URL: Invalid non-printable ASCII character in URL, {character!r}" in (
        error.reason
    )


# Content encodings (issue 13, item 4).


def test_gzip_spec_is_decoded(spec_server: SpecServer) -> None:
    """A spec sent with `Content-Encoding: gzip` comes back decoded, byte for byte."""
    expected = (SPECS_DIR / PETSTORE).read_bytes()

    actual = run_fetch(spec_server.url(f"gzip/1/specs/{PETSTORE}"), server_policy(spec_server))

    assert expected == actual


def test_double_gzip_spec_is_decoded(spec_server: SpecServer) -> None:
    """Two content-encodings (a pre-compressed file compressed again) are both decoded."""
    expected = (SPECS_DIR / PETSTORE).read_bytes()

    actual = run_fetch(spec_server.url(f"gzip/2/specs/{PETSTORE}"), server_policy(spec_server))

    assert expected == actual


def test_three_content_encodings_are_refused(spec_server: SpecServer) -> None:
    """More than two content-encodings is a permanent error saying how many are accepted."""
    url = spec_server.url(f"gzip/3/specs/{PETSTORE}")

    error = fetch_error(url, server_policy(spec_server))

    assert error.transient is False
    assert "3 content-encodings (gzip, gzip, gzip); at most 2 are accepted" in error.reason


@pytest.mark.parametrize("encoding", ["br", "compress", "gzip, zstd", "x-custom"])
def test_unknown_content_encoding_is_refused_naming_it(
    spec_server: SpecServer, encoding: str
) -> None:
    """An encoding the fetcher cannot decode is a permanent error naming it and the supported."""
    url = spec_server.url(f"encoded/{quote(encoding, safe='')}/specs/{PETSTORE}")

    error = fetch_error(url, server_policy(spec_server))

    assert error.transient is False
    unknown = encoding.rsplit(", ", 1)[-1]
    assert f"unsupported Content-Encoding {unknown!r} (supported: gzip, deflate)" in error.reason


def test_invalid_gzip_body_is_a_permanent_error(spec_server: SpecServer) -> None:
    """A body that says gzip but is not is refused with the decoder's reason."""
    url = spec_server.url(f"encoded/gzip/specs/{PETSTORE}")

    error = fetch_error(url, server_policy(spec_server))

    assert error.transient is False
    assert error.reason.startswith("the gzip body cannot be decoded: ")


def test_gzip_bomb_is_refused_at_the_decoded_size_cap(spec_server: SpecServer) -> None:
    """64 MiB inside 65 KB of gzip is refused once the decoded bytes pass a 1 MiB cap."""
    cap = 1024 * 1024
    url = spec_server.url("bomb/1/64")

    error = fetch_error(url, server_policy(spec_server), max_bytes=cap)

    assert error.transient is False
    assert f"is over the limit of {cap} bytes (APPSYNC_MAX_SPEC_BYTES)" in error.reason


def test_double_gzip_bomb_is_refused_with_memory_bounded_by_the_cap(
    spec_server: SpecServer,
) -> None:
    """1 GiB inside 2.5 KB of `gzip, gzip`: refused at the 32 MiB cap, peak RSS +cap +4 MiB."""
    cap = 32 * 1024 * 1024
    url = spec_server.url("bomb/2/1024")

    report = probe(url, cap, spec_server.url(f"specs/{PETSTORE}"))

    assert "FetchError" == report["error_type"], report
    assert f"is over the limit of {cap} bytes (APPSYNC_MAX_SPEC_BYTES)" in report["error"]
    assert report["peak_growth"] <= cap + 4 * 1024 * 1024, report
