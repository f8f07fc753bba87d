"""The MCP endpoint end to end: real syncs on a real `inngest dev`, driven by real MCP clients.

The module runs its own dev server and app (with a JWT secret, so that users differ). Alice syncs
the museum, petstore and Stripe specs; the official Python SDK's client and the official
TypeScript SDK's client then work through `/mcp` as an assistant would, and two `appsync serve`
replicas on the same index answer one client's requests in turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp.client.client import Client

from appsync.app import create_app
from appsync.cli.dev_server import free_port
from appsync.search.embedding import Embedder
from appsync.settings.service import ServiceSettings
from harness.app_server import AppServer, app_process, sync_app
from harness.browser import ARTIFACTS_VARIABLE
from harness.inngest_api import InngestApi
from harness.inngest_server import InngestServer
from harness.mcp import Alternating, Exchanges, python_client, run_ts_client, token_for
from harness.settings import make_settings, shared_model, write_spec_urls
from harness.spec_server import SpecServer
from harness.syncs import sync_and_index
from harness.waiting import wait_for

pytestmark = pytest.mark.e2e

SECRET = "mcp-e2e-secret-0123456789abcdef0"
APP_ID = "appsync-mcp-e2e"
SPECS = ["specs/redocly_museum.yaml", "specs/oai_petstore_swagger2.json", "specs/stripe_spec3.json"]
TICKETS = "OpenApi_Redocly Museum API_1.2.1_buyMuseumTickets"
TOOLS = ["search_operations", "describe_operation", "list_services", "sync_specs", "sync_status"]
# The museum spec with two properties a float64 cannot carry as written: int64 max, and 1.0.
BIG_NUMBERS = """      properties:
        quantity:
          type: integer
          format: int64
          maximum: 9223372036854775807
          default: 1.0
        price:
          type: number
          minimum: 0.5
          default: 1.0
"""


@dataclass
class AssistedApp:
    """The app on its dev server, with alice's sync of museum + petstore + Stripe indexed."""

    app: AppServer
    api: InngestApi
    specs: SpecServer
    env_file: Path
    settings: ServiceSettings
    http: httpx.Client
    sync_run: dict[str, Any]
    index_runs: list[dict[str, Any]]

    @property
    def mcp_url(self) -> str:
        """The app's MCP endpoint."""
        return f"{self.app.url}/mcp"

    def sync(self, user: str, urls: list[str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Sync `urls` for `user` through the POST route; its run and its index runs."""
        headers = {"Authorization": f"Bearer {token_for(SECRET, user)}"}
        return sync_and_index(self.http, self.api, self.env_file, urls, headers)


@pytest.fixture(scope="module")
def assisted(
    inngest_binary: Path,
    spec_server: SpecServer,
    embedder: Embedder,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[AssistedApp]:
    """A dev server and app of their own; alice's museum + petstore + Stripe, indexed."""
    workdir = tmp_path_factory.mktemp("mcp-e2e")
    server = InngestServer(binary=inngest_binary, workdir=workdir / "inngest")
    with contextlib.ExitStack() as stack:
        stack.enter_context(server)
        api = InngestApi(server.url)
        stack.callback(api.close)
        env_file = workdir / ".env"
        write_spec_urls(env_file, [spec_server.url(path) for path in SPECS])
        port = free_port()
        settings = make_settings(
            app_id=APP_ID,
            inngest_dev=server.url,
            port=port,
            env_file_path=env_file,
            jwt_secret=SECRET,
            retries=2,
            retry_delay=0.2,
            data_dir=workdir / "data",
        )
        app = stack.enter_context(
            AppServer(lambda: create_app(settings, services=shared_model(embedder)), port=port)
        )
        sync_app(app.url, api, APP_ID)
        http = stack.enter_context(httpx.Client(base_url=app.url, timeout=60.0, trust_env=False))
        assisted = AssistedApp(app, api, spec_server, env_file, settings, http, {}, [])
        assisted.sync_run, assisted.index_runs = assisted.sync(
            "alice", [spec_server.url(path) for path in SPECS]
        )
        yield assisted


async def search_uids(client: Client, query: str, **arguments: Any) -> list[str]:
    """The uids search_operations answers, best first."""
    result = await client.call_tool("search_operations", {"query": query, **arguments})
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return [hit["uid"] for hit in result.structured_content["results"]]


def test_alices_sync_indexed_every_operation(assisted: AssistedApp) -> None:
    """The three specs' 8 + 3 + 417 operations went through the index consumer."""
    assert {"Completed"} == {run["status"] for run in assisted.index_runs}
    assert 8 + 3 + 417 == sum(run["output"]["written"] for run in assisted.index_runs)


def test_the_python_sdk_lists_the_five_tools_with_schemas(assisted: AssistedApp) -> None:
    """tools/list through the official Python client: five tools, input and output schemas."""

    async def listed() -> list[Any]:
        async with python_client(assisted.mcp_url, token_for(SECRET, "alice")) as client:
            return list((await client.list_tools()).tools)

    tools = asyncio.run(listed())

    assert TOOLS == [tool.name for tool in tools]
    assert all(tool.input_schema["type"] == "object" for tool in tools)
    assert all(tool.output_schema is not None for tool in tools)
    assert all(tool.description for tool in tools)


def test_search_puts_the_museum_ticket_purchase_first_and_describe_says_how(
    assisted: AssistedApp,
) -> None:
    """'buy tickets for the museum' → buyMuseumTickets first; its card: POST, URL, body fields."""

    async def search_and_describe() -> tuple[list[str], Any]:
        async with python_client(assisted.mcp_url, token_for(SECRET, "alice")) as client:
            uids = await search_uids(client, "buy tickets for the museum")
            return uids, await client.call_tool("describe_operation", {"uid": uids[0]})

    uids, described = asyncio.run(search_and_describe())
    rest = assisted.http.get(
        f"/api/operations/{uids[0]}",
        headers={"Authorization": f"Bearer {token_for(SECRET, 'alice')}"},
    )

    assert TICKETS == uids[0]
    assert not described.is_error
    card = described.structured_content
    assert ("POST", "https://redocly.com/_mock/docs/openapi/museum-api/tickets") == (
        card["method"],
        card["url"],
    )
    fields = {field["name"]: field["required"] for field in card["requestBody"]["fields"]}
    assert {"ticketDate": True, "ticketType": True, "email": False} == {
        name: fields[name] for name in ("ticketDate", "ticketType", "email")
    }
    assert rest.json() == card


def test_list_services_gives_the_three_specs(assisted: AssistedApp) -> None:
    """list_services: the three specs with their operation counts and alice's sync."""

    async def listed() -> Any:
        async with python_client(assisted.mcp_url, token_for(SECRET, "alice")) as client:
            return (await client.call_tool("list_services", {})).structured_content

    services = asyncio.run(listed())["services"]

    assert {"Redocly Museum API": 8, "Stripe API": 417, "Swagger Petstore": 3} == {
        s["service"]: s["operations"] for s in services
    }
    assert {assisted.sync_run["event_id"]} == {s["lastSync"]["id"] for s in services}


def test_sync_specs_then_sync_status_reaches_completed(assisted: AssistedApp) -> None:
    """sync_specs answers an id once the event is stored; sync_status follows it to completed."""
    write_spec_urls(assisted.env_file, [assisted.specs.url(path) for path in SPECS])

    async def sync_and_follow() -> tuple[str, Any]:
        async with python_client(assisted.mcp_url, token_for(SECRET, "alice")) as client:
            started = await client.call_tool("sync_specs", {})
            assert not started.is_error, started.content
            sync_id = started.structured_content["id"]

            async def completed() -> Any:
                status = await client.call_tool("sync_status", {"id": sync_id})
                assert not status.is_error, status.content
                body = status.structured_content
                assert body["status"] in {"queued", "running", "completed"}, body
                return body if body["status"] == "completed" else None

            return sync_id, await wait_for(completed, within=240, what=f"sync {sync_id} completed")

    sync_id, status = asyncio.run(sync_and_follow())
    rest = assisted.http.get(
        f"/api/openapi/sync/{sync_id}",
        headers={"Authorization": f"Bearer {token_for(SECRET, 'alice')}"},
    )

    assert {"specs": 3, "synced": 3, "failed": 0, "operations": 428} == status["totals"]
    # The same status over REST; `indexed` may have moved between the two reads.
    assert {**rest.json(), "indexed": None} == {**status, "indexed": None}


def test_another_user_finds_nothing_and_cannot_describe_alices_operation(
    assisted: AssistedApp,
) -> None:
    """Bob's search is empty; describe of alice's uid is a tool error, her card never shown."""

    async def as_bob() -> tuple[list[str], Any]:
        async with python_client(assisted.mcp_url, token_for(SECRET, "bob")) as client:
            uids = await search_uids(client, "buy tickets for the museum")
            return uids, await client.call_tool("describe_operation", {"uid": TICKETS})

    uids, described = asyncio.run(as_bob())

    assert [] == uids
    assert described.is_error
    assert "no operation" in described.content[0].text
    assert "redocly.com" not in str(described)


def test_no_token_is_a_401_with_the_challenge_and_its_metadata(assisted: AssistedApp) -> None:
    """No credentials: 401 with `WWW-Authenticate: Bearer resource_metadata=...`, served."""
    response = assisted.http.post(
        "/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={"Accept": "application/json, text/event-stream"},
    )
    challenge = response.headers["www-authenticate"]
    metadata_url = challenge.split('resource_metadata="')[1].split('"')[0]
    metadata = httpx.get(metadata_url, trust_env=False)

    assert 401 == response.status_code
    assert challenge.startswith("Bearer ")
    assert (200, f"{assisted.app.url}/mcp") == (metadata.status_code, metadata.json()["resource"])


def test_the_typescript_sdk_client_lists_the_tools_and_searches(
    assisted: AssistedApp, tmp_path: Path
) -> None:
    """The official TypeScript client (not written here) connects, lists, searches, describes."""
    report = run_ts_client(
        assisted.mcp_url, token_for(SECRET, "alice"), "buy tickets for the museum", tmp_path
    )

    assert 0 == report["exit_code"], report
    assert "2025-11-25" == report["protocolVersion"]
    assert TOOLS == [tool["name"] for tool in report["tools"]]
    assert all(tool["output"] for tool in report["tools"])
    assert TICKETS == report["search"]["structured"]["results"][0]["uid"]
    assert report["search"]["text"][0].startswith("3 operation(s) for 'buy tickets")
    assert "POST" == report["describe"]["structured"]["method"]
    assert "POST /mcp initialize -> 200" == report["http"][0]


def test_two_replicas_answer_one_clients_requests_in_turn(
    assisted: AssistedApp, tmp_path: Path
) -> None:
    """Two `appsync serve` on alice's index: one client's requests alternate, all answered."""
    environment = {
        "APPSYNC_APP_ID": APP_ID,
        "APPSYNC_JWT_SECRET": SECRET,
        "APPSYNC_INDEX_URL": assisted.settings.resolved_index_url,
    }
    server_url = str(assisted.settings.inngest_dev)
    with (
        app_process(server_url, tmp_path / "a", environment) as (replica_a, _),
        app_process(server_url, tmp_path / "b", environment) as (replica_b, _),
    ):
        transport = Alternating([replica_a, replica_b])

        async def converse(mode: str) -> list[Any]:
            token = token_for(SECRET, "alice")
            async with python_client(
                f"{replica_a}/mcp", token, mode=mode, transport=transport
            ) as client:
                tools = await client.list_tools()
                uids = await search_uids(client, "buy tickets for the museum")
                card = await client.call_tool("describe_operation", {"uid": uids[0]})
                specs = await client.call_tool("list_services", {})
                status = await client.call_tool(
                    "sync_status", {"id": assisted.sync_run["event_id"]}
                )
                return [len(tools.tools), uids[0], card, specs, status]

        legacy = asyncio.run(converse("legacy"))
        modern = asyncio.run(converse("auto"))

    assert {replica_a, replica_b} == set(transport.sent_to)
    assert all(a != b for a, b in zip(transport.sent_to, transport.sent_to[1:], strict=False))
    for answers in (legacy, modern):
        count, top, card, specs, status = answers
        assert (5, TICKETS) == (count, top)
        assert not any(result.is_error for result in (card, specs, status))
        assert "completed" == status.structured_content["status"], status.structured_content
    assert legacy[2].structured_content == modern[2].structured_content


def test_a_spec_with_int64_max_and_1_0_syncs_and_its_cards_keep_them(
    assisted: AssistedApp,
) -> None:
    """Numbers a float64 rounds: every batch still checks on the real server; the card has them."""
    museum = (assisted.specs.specs_dir / "redocly_museum.yaml").read_text()
    ticket = "    Ticket:\n      description: Ticket for museum entry"
    properties = "      type: object\n      properties:\n"
    start = museum.index(ticket)
    at = museum.index(properties, start)
    changed = museum[:at] + "      type: object\n" + BIG_NUMBERS + museum[at + len(properties) :]
    url = assisted.specs.put("museum-big-numbers.yaml", changed.encode())

    _, runs = assisted.sync("carol", [url])

    async def card() -> Any:
        async with python_client(assisted.mcp_url, token_for(SECRET, "carol")) as client:
            return (
                await client.call_tool("describe_operation", {"uid": TICKETS})
            ).structured_content

    schema = asyncio.run(card())["requestBody"]["schema"]
    ticket_schema = schema["allOf"][1]["properties"]
    assert {"Completed"} == {run["status"] for run in runs}
    assert 8 == sum(run["output"]["written"] for run in runs)
    assert 9.223372036854776e18 == ticket_schema["quantity"]["maximum"]
    assert (1, 0.5) == (ticket_schema["price"]["default"], ticket_schema["price"]["minimum"])


def test_a_transcript_of_tools_list_search_and_describe(
    assisted: AssistedApp, tmp_path: Path
) -> None:
    """The exchanges docs/mcp.md shows, recorded from the Python client (written as an artifact)."""
    exchanges = Exchanges()

    async def converse() -> None:
        token = token_for(SECRET, "alice")
        async with python_client(
            assisted.mcp_url, token, mode="legacy", exchanges=exchanges
        ) as client:
            await client.list_tools()
            uids = await search_uids(client, "buy tickets for the museum", k=3)
            await client.call_tool("describe_operation", {"uid": uids[0]})

    asyncio.run(converse())
    folder = Path(os.environ.get(ARTIFACTS_VARIABLE) or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "mcp-transcript.json").write_text(json.dumps(exchanges.recorded, indent=2) + "\n")

    methods = [exchange["request"]["method"] for exchange in exchanges.recorded]
    assert [
        "initialize",
        "notifications/initialized",
        "tools/list",
        "tools/call",
        "tools/call",
    ] == methods
    assert [200, 202, 200, 200, 200] == [exchange["status"] for exchange in exchanges.recorded]
