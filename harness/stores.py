"""The index stores for tests: each store adapter by name, and small records and batches.

Every store test runs against each store in `STORES` (the `store` fixture); PostgreSQL gets a new
database per test from the session's server.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from appsync.index.base import (
    OperationRecord,
    SourceRef,
    Store,
    SyncRef,
    UpsertBatch,
    UpsertResult,
)
from appsync.index.factory import open_index
from appsync.index.prepare import embed_hash

T = TypeVar("T")

# Small vectors keep store tests independent of the model.
DIMENSIONS = 4
STORES = ["sqlite", "postgres"]


@dataclass
class StoreCase:
    """An open index and the event loop its calls run on."""

    name: str
    index: Store
    runner: asyncio.Runner

    def run(self, call: Coroutine[Any, Any, T]) -> T:
        """Run one index call to completion."""
        return self.runner.run(call)


def store_url(name: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a new, empty index of the named store (PostgreSQL: a new database)."""
    if name == "sqlite":
        return f"sqlite:///{tmp_path / 'index.sqlite3'}"
    if name == "postgres":
        url: str = request.getfixturevalue("postgres_database")
        return url
    raise ValueError(f"unknown store {name!r}")


async def open_store(url: str, dimensions: int = DIMENSIONS) -> Store:
    """Open the index at `url`."""
    return await open_index(url, dimensions=dimensions)


MODEL = "model-a"
STRIPE = "http://specs.test/stripe.json"
XERO = "http://specs.test/xero.yaml"
SYNC_1 = "01JAAAAAAAAAAAAAAAAAAAAAA1"
SYNC_2 = "01JBBBBBBBBBBBBBBBBBBBBBB2"
SYNC_3 = "01JCCCCCCCCCCCCCCCCCCCCCC3"

AXES = {
    "refund": (1.0, 0.0, 0.0, 0.0),
    "customer": (0.0, 1.0, 0.0, 0.0),
    "invoice": (0.0, 0.0, 1.0, 0.0),
    "account": (0.0, 0.0, 0.0, 1.0),
}


def record(
    uid: str, words: str, *, axis: str = "refund", vector: bool = True, tags: Sequence[str] = ()
) -> OperationRecord:
    """An operation whose text is `words` and whose vector points along `axis`."""
    content_hash = hashlib.sha256(f"{uid}|{words}|{tags}".encode()).hexdigest()
    return OperationRecord(
        uid=uid,
        method="post" if "create" in words else "get",
        path=f"/v1/{uid}",
        operation_id=uid,
        summary=words,
        tags=tuple(tags),
        deprecated=False,
        keywords=words,
        text=f"The {uid} operation. {words}",
        content_hash=content_hash,
        embed_hash=embed_hash(words),
        vector=AXES[axis] if vector else None,
    )


def with_card(operation: OperationRecord, card: str | None) -> OperationRecord:
    """`operation` carrying `card` (JSON text), its content hash covering it as `prepare` does."""
    content_hash = hashlib.sha256(f"{operation.content_hash}|{card}".encode()).hexdigest()
    return dataclasses.replace(operation, card=card, content_hash=content_hash)


def batch(
    records: Sequence[OperationRecord],
    *,
    user: str = "alice",
    url: str = STRIPE,
    sync: str = SYNC_1,
    urls: Sequence[str] = (STRIPE, XERO),
    total: int | None = None,
    model: str = MODEL,
) -> UpsertBatch:
    """One batch of `records` from `url` in sync `sync`."""
    service = "Stripe API" if url == STRIPE else "Xero API"
    return UpsertBatch(
        user_id=user,
        source=SourceRef(url=url, service=service, version="1"),
        sync=SyncRef(sync_id=sync, urls=tuple(urls)),
        total=len(records) if total is None else total,
        model_id=model,
        records=tuple(records),
    )


def incompressible(length: int) -> str:
    """`length` hex characters that no compression shortens (a long key must stay long)."""
    digests = (hashlib.sha256(str(n).encode()).hexdigest() for n in range(length // 64 + 1))
    return "".join(digests)[:length]


STRIPE_OPS = [
    record("CreateRefund", "create a refund", axis="refund"),
    record("GetCustomer", "retrieve a customer", axis="customer", tags=["Customers"]),
    record("ListInvoices", "list all invoices", axis="invoice"),
]


class FailingWrites:
    """A store whose `upsert` raises `error` while `failures` last (a full disk, a database down).

    Everything else goes to the real store; `failures` counts down with each refused write (-1:
    every write fails); with `only_user`, only that user's writes are refused.
    """

    def __init__(
        self, store: Store, error: Exception, failures: int = -1, only_user: str | None = None
    ) -> None:
        self._store = store
        self._error = error
        self.failures = failures
        self.only_user = only_user
        self.refused = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def upsert(self, batch: UpsertBatch) -> UpsertResult:
        """Refuse the write while failures last, else write it."""
        if self.failures != 0 and self.only_user in {None, batch.user_id}:
            self.failures -= 1 if self.failures > 0 else 0
            self.refused += 1
            raise self._error
        return await self._store.upsert(batch)
