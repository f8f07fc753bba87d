"""MCP clients for tests and benchmarks: raw JSON-RPC, the Python SDK's, the TypeScript SDK's.

- `rpc`, `MCP_HEADERS`: one JSON-RPC request as any Streamable HTTP client POSTs it;
- `python_client`: the official Python SDK's `Client` over its Streamable HTTP transport, with a
  bearer token, optionally over `Alternating` (each request to the next of several replicas) and
  recording every exchange (`Exchanges`, for the transcript in docs/mcp.md);
- `run_ts_client`: the official TypeScript SDK's client (`tools/mcp-client/client.mjs`, its
  packages installed by `scripts/install-mcp-client`) in node;
- `token_for`: an HS256 bearer JWT, as the app that owns users would mint it;
- `seed_index`: a spec's documents and cards written into an index without the model.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
from joserfc import jwt
from joserfc.jwk import OctKey
from mcp.client.client import Client
from mcp.client.streamable_http import streamable_http_client

from appsync.index.base import SourceRef, SyncRef, UpsertBatch
from appsync.index.factory import open_index
from appsync.index.prepare import prepare, stored_card
from appsync.search.embedding import DIMENSIONS
from appsync.sync.batches import load_documents
from harness.paths import ROOT, SPECS_DIR

PROTOCOL = "2025-11-25"  # the TypeScript SDK's newest; what most clients speak today
MCP_HEADERS = {
    "Accept": "application/json, text/event-stream",
    "Content-Type": "application/json",
    "MCP-Protocol-Version": PROTOCOL,
}
INITIALIZE = {
    "protocolVersion": PROTOCOL,
    "capabilities": {},
    "clientInfo": {"name": "appsync-tests", "version": "1"},
}
CLIENT_SCRIPT = ROOT / "tools" / "mcp-client" / "client.mjs"
CLIENT_DIR_VARIABLE = "APPSYNC_MCP_CLIENT_DIR"


def rpc(method: str, params: dict[str, Any] | None = None, request_id: int = 1) -> dict[str, Any]:
    """One JSON-RPC request (a notification when `request_id` is 0)."""
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        message["params"] = params
    if request_id:
        message["id"] = request_id
    return message


def call(name: str, arguments: dict[str, Any], request_id: int = 1) -> dict[str, Any]:
    """A `tools/call` request."""
    return rpc("tools/call", {"name": name, "arguments": arguments}, request_id)


def token_for(secret: str, user_id: str, ttl: int = 600) -> str:
    """An HS256 bearer JWT for `user_id`, valid for `ttl` seconds."""
    claims = {"sub": user_id, "exp": int(time.time()) + ttl}
    return jwt.encode({"alg": "HS256"}, claims, OctKey.import_key(secret), algorithms=["HS256"])


@dataclass
class Exchanges:
    """Every JSON-RPC message a client sent and the answer it got, in order."""

    recorded: list[dict[str, Any]] = field(default_factory=list)

    async def __call__(self, response: httpx2.Response) -> None:
        """Record one exchange (an httpx2 response hook)."""
        await response.aread()
        request = response.request
        sent = json.loads(request.content) if request.content else None
        answer = response.json() if response.content else None
        self.recorded.append({"status": response.status_code, "request": sent, "response": answer})


class Alternating(httpx2.AsyncBaseTransport):
    """Sends each request to the next of several base URLs in turn (replicas, no balancer)."""

    def __init__(self, base_urls: Sequence[str]) -> None:
        self.targets = [httpx2.URL(url) for url in base_urls]
        self.sent_to: list[str] = []
        self._inner = httpx2.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        """Forward `request` to the next replica."""
        target = self.targets[len(self.sent_to) % len(self.targets)]
        request.url = request.url.copy_with(host=target.host, port=target.port)
        self.sent_to.append(str(target))
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        """Close the connections."""
        await self._inner.aclose()


@asynccontextmanager
async def python_client(
    url: str,
    token: str | None,
    *,
    mode: str = "auto",
    transport: httpx2.AsyncBaseTransport | None = None,
    exchanges: Exchanges | None = None,
) -> AsyncIterator[Client]:
    """The Python SDK's client of `url` (…/mcp), connected, sending `token` as a bearer."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    hooks: dict[str, list[Callable[..., Any]]] = (
        {"response": [exchanges]} if exchanges is not None else {}
    )
    http = httpx2.AsyncClient(
        headers=headers, timeout=httpx2.Timeout(60.0), transport=transport, event_hooks=hooks
    )
    async with (
        http,
        Client(
            streamable_http_client(url, http_client=http),
            mode=mode,
            read_timeout_seconds=60,
        ) as client,
    ):
        yield client


def ts_client_dir() -> Path:
    """Where scripts/install-mcp-client installed the TypeScript SDK (`$APPSYNC_MCP_CLIENT_DIR`)."""
    value = os.environ.get(CLIENT_DIR_VARIABLE)
    if not value or not (Path(value) / "node_modules").is_dir():
        raise RuntimeError(
            f"{CLIENT_DIR_VARIABLE} is not set to an installed client: run the tests through "
            "scripts/test, or export APPSYNC_MCP_CLIENT_DIR=$(scripts/install-mcp-client)"
        )
    return Path(value)


def run_ts_client(url: str, token: str, query: str, workdir: Path) -> dict[str, Any]:
    """Run tools/mcp-client/client.mjs (the TypeScript SDK) against `url`; its JSON report.

    The script runs from `workdir`, beside a link to the installed `node_modules`, as it would
    from a project of its own.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    script = workdir / CLIENT_SCRIPT.name
    shutil.copyfile(CLIENT_SCRIPT, script)
    modules = workdir / "node_modules"
    if not modules.exists():
        modules.symlink_to(ts_client_dir() / "node_modules", target_is_directory=True)
    done = subprocess.run(  # noqa: S603 - node on our own script
        [shutil.which("node") or "node", str(script), url, token, query],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=workdir,
        check=False,
    )
    if not done.stdout.strip():
        raise RuntimeError(f"the TypeScript client printed nothing: {done.stderr[-3000:]}")
    report: dict[str, Any] = json.loads(done.stdout)
    report["exit_code"] = done.returncode
    return report


SEED_EVENT_ID = "01KBS00000000000000000000E"  # the seeded sync's event (what a POST answers)
SEED_RUN_ID = "01KBS00000000000000000000R"  # its run: the sync id the rows carry


def seed_index(index_url: str, user_id: str, spec_file: str, spec_url: str) -> int:
    """Write one corpus spec's documents and cards for `user_id` into the index (no model).

    As the sync `SEED_EVENT_ID` (run `SEED_RUN_ID`), recorded in the sync journal too. Every
    vector is the same unit vector: enough for the cards and the spec list, not for search.
    """

    async def write() -> int:
        loaded = load_documents((SPECS_DIR / spec_file).read_bytes(), spec_url)
        unit = (1.0,) + (0.0,) * (DIMENSIONS - 1)
        records = tuple(
            prepare(document, stored_card(card)).record.with_vector(unit)
            for document, card in zip(loaded.documents, loaded.cards, strict=True)
        )
        index = await open_index(index_url, dimensions=DIMENSIONS)
        try:
            result = await index.upsert(
                UpsertBatch(
                    user_id=user_id,
                    source=SourceRef(spec_url, loaded.service, loaded.version),
                    sync=SyncRef(SEED_RUN_ID, (spec_url,)),
                    total=len(records),
                    model_id="seeded",
                    records=records,
                )
            )
            await index.record_run(SEED_EVENT_ID, SEED_RUN_ID, user_id, ended=True)
        finally:
            await index.close()
        return result.written

    return asyncio.run(write())
