"""The MCP tools over HTTP: the REST routes' answers, only the caller's data, errors saying why.

Search needs the model, so its answers are in the end-to-end tests; here its argument checks,
which refuse before any search runs.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import jsonschema
import pytest
from fastapi.testclient import TestClient

from harness.mcp import SEED_EVENT_ID, call, rpc

TICKETS = "OpenApi_Redocly Museum API_1.2.1_buyMuseumTickets"


def tool(client: TestClient, headers: dict[str, str], name: str, **arguments: Any) -> Any:
    """The result of one tools/call."""
    response = client.post("/mcp", json=call(name, arguments), headers=headers)
    assert 200 == response.status_code, response.text
    return response.json()["result"]


def output_schema(client: TestClient, headers: dict[str, str], name: str) -> Any:
    """The output schema tools/list gives for `name`."""
    tools = client.post("/mcp", json=rpc("tools/list", {}), headers=headers).json()
    return next(t["outputSchema"] for t in tools["result"]["tools"] if t["name"] == name)


def test_describe_gives_the_card_the_rest_route_gives(
    museum_app: TestClient, alice_headers: dict[str, str]
) -> None:
    """describe_operation's structured content is GET /api/operations/{uid}'s body, and valid."""
    result = tool(museum_app, alice_headers, "describe_operation", uid=TICKETS)
    rest = museum_app.get(f"/api/operations/{quote(TICKETS)}", headers=alice_headers)

    assert not result["isError"]
    assert 200 == rest.status_code
    assert rest.json() == result["structuredContent"]
    jsonschema.validate(
        result["structuredContent"], output_schema(museum_app, alice_headers, "describe_operation")
    )
    card = result["structuredContent"]
    assert ("POST", "https://redocly.com/_mock/docs/openapi/museum-api/tickets") == (
        card["method"],
        card["url"],
    )
    assert ["email", "ticketId", "ticketDate", "ticketType", "eventId"] == [
        field["name"] for field in card["requestBody"]["fields"]
    ]


def test_describe_has_a_short_text_form_an_assistant_can_act_on(
    museum_app: TestClient, alice_headers: dict[str, str]
) -> None:
    """The text names the method and URL, the body's fields with the required ones marked."""
    (content,) = tool(museum_app, alice_headers, "describe_operation", uid=TICKETS)["content"]

    lines = content["text"].splitlines()
    assert "POST https://redocly.com/_mock/docs/openapi/museum-api/tickets" == lines[0]
    assert "Buy museum tickets" == lines[1]
    assert lines[2].startswith("Body (application/json, required): email (string (email)); ")
    assert "ticketDate* (string (date))" in lines[2]
    assert "Auth: MuseumPlaceholderAuth" == lines[-1]


def test_list_services_gives_the_synced_specs(
    museum_app: TestClient, alice_headers: dict[str, str], museum_url: str
) -> None:
    """Each spec: service, version, URL, its operations, and the sync that wrote them."""
    result = tool(museum_app, alice_headers, "list_services")

    last_sync = {"id": SEED_EVENT_ID, "at": "2025-12-06T04:51:17.632+00:00"}  # the run id's time
    museum = {
        "service": "Redocly Museum API",
        "version": "1.2.1",
        "specUrl": museum_url,
        "operations": 8,
        "lastSync": last_sync,
    }
    services = result["structuredContent"]["services"]
    assert [museum] == [s for s in services if s["service"] == "Redocly Museum API"]
    assert ["Redocly Museum API", "Uber API"] == [s["service"] for s in services]
    jsonschema.validate(
        result["structuredContent"], output_schema(museum_app, alice_headers, "list_services")
    )
    assert result["content"][0]["text"].startswith("Redocly Museum API 1.2.1: 8 operations from ")


def test_another_user_sees_nothing_of_alices(
    museum_app: TestClient, bob_headers: dict[str, str]
) -> None:
    """Bob: no specs; alice's uid is a tool error (and a 404 over REST), her card never shown."""
    specs = tool(museum_app, bob_headers, "list_services")
    describe = tool(museum_app, bob_headers, "describe_operation", uid=TICKETS)
    rest = museum_app.get(f"/api/operations/{quote(TICKETS)}", headers=bob_headers)

    assert {"services": []} == specs["structuredContent"]
    assert describe["isError"]
    assert "no operation" in describe["content"][0]["text"]
    assert "redocly.com" not in str(describe)
    assert (404, "not_found") == (rest.status_code, rest.json()["error"])


@pytest.mark.parametrize(
    ("name", "arguments", "says"),
    [
        ("search_operations", {"query": ""}, "query: String should have at least 1 character"),
        ("search_operations", {"query": "   "}, "query is blank"),
        ("search_operations", {"query": "x" * 10_000}, "at most 512 characters (got 10000"),
        ("search_operations", {"query": "tickets", "k": 0}, "k: Input should be greater than"),
        ("search_operations", {"query": "tickets", "k": 1000}, "k: Input should be less than"),
        ("search_operations", {"query": "tickets", "k": "ten"}, "k: Input should be a valid"),
        ("search_operations", {"query": "tickets", "method": "fetch"}, "method: Input should be"),
        ("search_operations", {"k": 3}, "query is required"),
        (
            "describe_operation",
            {"uid": "OpenApi_Nope_1_nope"},
            "no operation 'OpenApi_Nope_1_nope'",
        ),
        ("describe_operation", {"uid": ["a"]}, "uid: Input should be a valid string"),
        ("sync_status", {"id": "not-a-sync"}, "no sync 'not-a-sync' for you"),
    ],
)
def test_bad_arguments_are_tool_errors_saying_what_to_fix(
    museum_app: TestClient,
    alice_headers: dict[str, str],
    name: str,
    arguments: dict[str, Any],
    says: str,
) -> None:
    """Empty or 10 kB queries, k out of range, wrong types, unknown ids: `isError` and why."""
    result = tool(museum_app, alice_headers, name, **arguments)

    assert result["isError"]
    (content,) = result["content"]
    assert says in content["text"]
    assert not content["text"].startswith("Error executing tool")
    assert len(content["text"]) < 500


def test_a_sync_the_inngest_server_cannot_take_is_a_tool_error(
    museum_app: TestClient, alice_headers: dict[str, str]
) -> None:
    """sync_specs with the server down: the REST route's 502 reason, as a tool error."""
    rest = museum_app.post("/api/openapi/sync", headers=alice_headers)
    result = tool(museum_app, alice_headers, "sync_specs")

    assert 502 == rest.status_code
    assert result["isError"]
    assert f"the sync was not started: {rest.json()['message']}" == result["content"][0]["text"]
