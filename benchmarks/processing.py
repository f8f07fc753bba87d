"""`python -m benchmarks.processing SPEC REPS`: spec → documents against parse only, as JSON.

Prints `{"parse_ms", "process_ms", "peak_rss_mb"}`: the best of REPS runs of each (the least
disturbed by a noisy machine), and the process's peak RSS after one spec → documents run.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from appsync.sync.batches import load_documents

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def best_ms(work: Callable[[], object], reps: int) -> float:
    """The fastest of `reps` runs of `work`, in milliseconds."""
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times) * 1000


def main(argv: list[str]) -> int:
    """Measure one spec file."""
    path, reps = Path(argv[0]), int(argv[1])
    raw = path.read_bytes()
    load_documents(raw)
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    def parse_only() -> object:
        # The same parser the spec path uses, on the same bytes, and nothing else.
        if raw.lstrip()[:1] in (b"{", b"["):
            return json.loads(raw.decode("utf-8"))
        return yaml.load(raw.decode("utf-8"), Loader=_Loader)  # noqa: S506 - a SafeLoader

    figures = {
        "parse_ms": best_ms(parse_only, reps),
        "process_ms": best_ms(lambda: load_documents(raw), reps),
        "peak_rss_mb": peak_rss_mb,
    }
    print(json.dumps(figures))  # noqa: T201 - the output
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
