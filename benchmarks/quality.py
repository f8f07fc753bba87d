"""Search quality: hit@3 and hit@10 of BM25 alone, vectors alone and the hybrid ranking.

One user's index of stripe, xero, harbor, adyen management and museum (the shared specs), built
with the same code as the consumer (`prepare`, `Embedder`, the SQLite store), queried with the
labelled set in `benchmarks/data/queries.json` (or another set of the same format with
`--queries`; `benchmarks/data/queries_holdout.json` is the held-out one, never tuned against). A
query hits at k when any of its expected operationIds is among the first k results. Document
vectors are cached under the appsync cache directory, keyed by the model id and the embedded
texts, so a re-run embeds nothing.

    .venv/bin/python -m benchmarks.quality [--queries PATH] [--store sqlite|postgres] [--misses]
        [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import tempfile
from pathlib import Path

from appsync.search.embedding import Embedder
from harness.postgres import postgres_database
from harness.quality import QUERIES, measure


def main(argv: list[str] | None = None) -> int:
    """Print the quality table (and write it as JSON with --json)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--queries", type=Path, default=QUERIES, help=f"the labelled queries (default {QUERIES})"
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--misses", action="store_true", help="print the queries missed at 3")
    parser.add_argument(
        "--store", choices=["sqlite", "postgres"], default="sqlite", help="the index store"
    )
    args = parser.parse_args(argv)
    with contextlib.ExitStack() as stack:
        workdir = stack.enter_context(tempfile.TemporaryDirectory(prefix="appsync-quality-"))
        index_url = None
        if args.store == "postgres":
            index_url = stack.enter_context(postgres_database())
        result = asyncio.run(
            measure(Embedder(), Path(workdir), index_url, queries_path=args.queries)
        )
    out = sys.stdout
    out.write(f"{result['operations']} operations, {result['queries']} queries\n")
    out.write(f"{'ranking':<10} {'hit@3':>6} {'hit@10':>7}\n")
    for name, figures in result["rankings"].items():
        out.write(f"{name:<10} {figures['hit@3']:>6.3f} {figures['hit@10']:>7.3f}\n")
        if args.misses:
            for miss in figures["misses@3"]:
                out.write(f"    miss {miss}\n")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
