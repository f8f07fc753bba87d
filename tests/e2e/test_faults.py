"""Faults at the spec host, end to end on the real dev server.

Every spec ends synced or with a clear error of its own, and no batch is ever sent twice.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from urllib.parse import quote

import pytest

from harness.app_server import Harness
from harness.syncs import batch_events, trigger

pytestmark = pytest.mark.e2e


def test_slow_dropping_truncating_and_flaky_hosts_end_in_a_clear_outcome(
    harness: Harness,
) -> None:
    """Slower than the timeout, dropped, truncated, 500 then 200: one sync reports each."""
    key = f"faults-{time.monotonic_ns()}"
    target = "specs/oai_petstore_swagger2.json"
    paths = [
        f"slow/{harness.settings.fetch_timeout + 2:g}/{target}",
        f"drop/doc/{key}",  # its own path: the session's spec server counts hits per path
        "truncated/specs/redocly_museum.yaml",
        f"flaky/{key}/1/specs/redocly_museum.yaml",
    ]

    _, run = trigger(harness, [harness.specs.url(path) for path in paths])

    assert "Completed" == run["status"], run
    slow, dropped, truncated, flaky = run["output"]["specs"]
    attempts = harness.settings.retries + 1
    assert (
        f"timed out after {harness.settings.fetch_timeout:g} s (after {attempts} attempts)"
        in (slow["error"])
    )
    assert "connection failed" in dropped["error"]
    assert f"(after {attempts} attempts)" in dropped["error"]
    assert "connection failed" in truncated["error"]
    assert (True, 8) == (flaky["ok"], flaky["operations"])
    assert attempts == harness.specs.hits[f"/drop/doc/{key}"]

    batches = batch_events(harness.api, run)
    assert 1 == len(batches)
    assert [1] == list(Counter(event["id"] for event in batches).values())


def test_unparsable_urls_and_a_double_gzip_bomb_fail_only_their_own_spec(
    harness: Harness,
) -> None:
    """Unparsable redirects, a control character, 1 GiB of `gzip, gzip`: four errors, one synced."""
    redirect = harness.specs.url("redirect?to={}")
    urls = [
        harness.specs.url("specs/oai_petstore_swagger2.json"),
        redirect.format(quote("http://xn--/", safe="")),
        redirect.format(quote("http://[::1", safe="")),
        harness.specs.url("specs/a\x01b.json"),
        harness.specs.url("bomb/2/1024"),
    ]

    _, run = trigger(harness, urls)

    assert "Completed" == run["status"], run
    good, idna, ipv6, control, bomb = run["output"]["specs"]
    assert (True, 3) == (good["ok"], good["operations"])
    assert idna["error"].startswith("the redirect's Location is not a valid URL: ")
    assert ipv6["error"].startswith("the redirect's Location is not a valid URL: Invalid IPv6 URL")
    assert control["error"].startswith(
        "not a valid URL: Invalid non-printable ASCII character in URL, '\\x01'"
    )
    limit = harness.settings.max_spec_bytes
    assert f"over the limit of {limit} bytes (APPSYNC_MAX_SPEC_BYTES)" in bomb["error"]
    assert "Traceback" not in json.dumps(run["output"])
    assert 1 == len(batch_events(harness.api, run))
