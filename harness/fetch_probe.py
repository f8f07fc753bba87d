"""Fetch one URL with `SpecFetcher` in a child process and report the outcome and peak RSS growth.

`python -m harness.fetch_probe URL MAX_BYTES WARMUP_URL` prints one JSON object:
`{"size": int | null, "error": str | null, "error_type": str | null, "peak_growth": int}`, the
growth of the process's peak RSS (bytes) during the fetch of URL, measured after a warm-up fetch of
WARMUP_URL has loaded every import and the connection pool. The address space is capped at the
current size plus 1 GiB, so that a fetcher without a bound fails with `MemoryError` instead of
taking the machine's memory.
"""

from __future__ import annotations

import asyncio
import json
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

from appsync.sync.fetching import HostPolicy, SpecFetcher

_HEADROOM = 1024 * 1024 * 1024


def _address_space() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmSize in /proc/self/status")


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


async def _probe(url: str, max_bytes: int, warmup_url: str) -> dict[str, Any]:
    policy = HostPolicy.for_urls([url, warmup_url])
    fetcher = SpecFetcher(max_bytes=max_bytes, timeout=60.0, max_redirects=0)
    try:
        await fetcher.fetch(warmup_url, policy)
        before = _peak_rss()
        resource.setrlimit(
            resource.RLIMIT_AS, (_address_space() + _HEADROOM, resource.RLIM_INFINITY)
        )
        result: dict[str, Any] = {"size": None, "error": None, "error_type": None}
        try:
            result["size"] = len(await fetcher.fetch(url, policy))
        except Exception as exc:  # noqa: BLE001 - the probe reports whatever the fetch raised
            result |= {"error": str(exc), "error_type": type(exc).__name__}
        result["peak_growth"] = _peak_rss() - before
        return result
    finally:
        await fetcher.aclose()


def probe(url: str, max_bytes: int, warmup_url: str) -> dict[str, Any]:
    """Run the probe in a fresh interpreter; returns its report."""
    root = Path(__file__).resolve().parents[2]
    completed = subprocess.run(  # noqa: S603 - this interpreter, this module
        [sys.executable, "-m", "harness.fetch_probe", url, str(max_bytes), warmup_url],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if completed.returncode != 0:
        raise AssertionError(f"the probe failed ({completed.returncode}):\n{completed.stderr}")
    report: dict[str, Any] = json.loads(completed.stdout)
    return report


if __name__ == "__main__":
    target, limit, warmup = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    print(json.dumps(asyncio.run(_probe(target, limit, warmup))))  # noqa: T201 - the report
