"""The `/mcp` transport: stateless JSON-RPC, the REST API's credentials, and bad input."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from appsync.mcp_server.endpoint import MAX_BODY_BYTES
from harness.mcp import INITIALIZE, MCP_HEADERS, call, rpc

TOOLS = {"search_operations", "describe_operation", "list_services", "sync_specs", "sync_status"}
METADATA_URL = "http://127.0.0.1:8000/.well-known/oauth-protected-resource/mcp"


def post(client: TestClient, message: Any, headers: dict[str, str]) -> Any:
    """POST one JSON-RPC message to /mcp; its JSON answer (200 required)."""
    response = client.post("/mcp", json=message, headers=headers)
    assert 200 == response.status_code, response.text
    return response.json()


def test_initialize_answers_at_once_without_a_session(
    museum_app: TestClient, alice_headers: dict[str, str]
) -> None:
    """`initialize` is answered in JSON, with no session id: any replica can take the next one."""
    response = museum_app.post("/mcp", json=rpc("initialize", INITIALIZE), headers=alice_headers)

    assert 200 == response.status_code
    assert "application/json" == response.headers["content-type"]
    assert "mcp-session-id" not in response.headers
    result = response.json()["result"]
    assert "appsync" == result["serverInfo"]["name"]
    assert "tools" in result["capabilities"]
    assert "search_operations" in result["instructions"]


def test_tools_list_has_the_five_tools_with_both_schemas(
    museum_app: TestClient, alice_headers: dict[str, str]
) -> None:
    """Each tool has a description, an input schema with its arguments and an output schema."""
    tools = {
        t["name"]: t
        for t in post(museum_app, rpc("tools/list", {}), alice_headers)["result"]["tools"]
    }

    assert TOOLS == set(tools)
    search = tools["search_operations"]["inputSchema"]
    assert ["query"] == search["required"]
    assert {"query", "k", "service", "method", "tag"} == set(search["properties"])
    assert (1, 100, 10) == tuple(
        search["properties"]["k"][key] for key in ("minimum", "maximum", "default")
    )
    assert ["uid"] == tools["describe_operation"]["inputSchema"]["required"]
    assert ["id"] == tools["sync_status"]["inputSchema"]["required"]
    assert "user" not in json.dumps([t["inputSchema"] for t in tools.values()])
    card = tools["describe_operation"]["outputSchema"]["properties"]
    assert {"method", "url", "parameters", "requestBody", "responses", "security"} <= set(card)
    assert "startedAt" in tools["sync_status"]["outputSchema"]["properties"]
    assert all(t["description"] and not t["description"].startswith(" ") for t in tools.values())
    assert tools["search_operations"]["annotations"]["readOnlyHint"]


def test_no_credentials_is_a_401_pointing_to_the_resource_metadata(museum_app: TestClient) -> None:
    """No token: 401, `WWW-Authenticate: Bearer resource_metadata=...`, and that document."""
    response = museum_app.post("/mcp", json=rpc("tools/list", {}), headers=MCP_HEADERS)
    metadata = museum_app.get("/.well-known/oauth-protected-resource/mcp")

    assert 401 == response.status_code
    assert f'Bearer resource_metadata="{METADATA_URL}"' == response.headers["www-authenticate"]
    assert "unauthorized" == response.json()["error"]
    assert "Authorization: Bearer" in response.json()["message"]
    assert 200 == metadata.status_code
    assert {
        "resource": "http://127.0.0.1:8000/mcp",
        "resource_name": "appsync MCP server",
        "bearer_methods_supported": ["header"],
    } == metadata.json()


@pytest.mark.parametrize(
    ("authorization", "reason"),
    [
        ("Bearer not-a-jwt", "not a well-formed JWT"),
        ("Basic YWxpY2U6c2VjcmV0", "must be 'Bearer <JWT>'"),
    ],
)
def test_refused_credentials_are_a_401_saying_why(
    museum_app: TestClient, authorization: str, reason: str
) -> None:
    """A bad token: 401 with `error="invalid_token"` and the reason, in the header and the body."""
    headers = MCP_HEADERS | {"Authorization": authorization}
    response = museum_app.post("/mcp", json=rpc("tools/list", {}), headers=headers)

    assert 401 == response.status_code
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith(f'Bearer resource_metadata="{METADATA_URL}", error="invalid_token"')
    assert reason in challenge
    assert reason in response.json()["message"]


def bad_request(kind: str) -> tuple[dict[str, str], bytes]:
    """Headers and body of one kind of bad request (alice's token added by the test)."""
    valid = json.dumps(rpc("tools/list", {})).encode()
    cases: dict[str, tuple[dict[str, str], bytes]] = {
        "malformed JSON": ({}, b'{"jsonrpc": "2.0", "id": 1, "method": '),
        "JSON that is not JSON-RPC": ({}, b'{"hello": "world"}'),
        "a batch": ({}, json.dumps([rpc("tools/list", {}), rpc("tools/list", {}, 2)]).encode()),
        "unknown method": ({}, json.dumps(rpc("no/such/method", {})).encode()),
        "tools/call without a name": ({}, json.dumps(rpc("tools/call", {})).encode()),
        "1 MiB body": ({}, json.dumps(call("search_operations", {"query": "x" * 2**20})).encode()),
        "text/plain": ({"Content-Type": "text/plain"}, valid),
        "no Accept": ({"Accept": ""}, valid),
        "another Host": ({"Host": "evil.example"}, valid),
        "another Origin": ({"Origin": "http://evil.example"}, valid),
    }
    return cases[kind]


@pytest.mark.parametrize(
    ("kind", "status", "error_code"),
    [
        ("malformed JSON", 400, -32700),
        ("JSON that is not JSON-RPC", 400, -32602),
        ("a batch", 400, -32602),
        ("unknown method", 200, -32601),
        ("tools/call without a name", 200, -32602),
        ("1 MiB body", 413, None),
        ("text/plain", 400, None),
        ("no Accept", 406, -32600),
        ("another Host", 421, None),
        ("another Origin", 403, None),
    ],
)
def test_bad_input_is_a_json_rpc_error_or_a_4xx_never_a_500(
    museum_app: TestClient,
    alice_headers: dict[str, str],
    kind: str,
    status: int,
    error_code: int | None,
) -> None:
    """Malformed, oversized, mistyped or misaddressed requests are refused as the protocol says."""
    headers, body = bad_request(kind)
    response = museum_app.post("/mcp", content=body, headers=alice_headers | headers)

    assert status == response.status_code, response.text[:300]
    if error_code is not None:
        assert error_code == response.json()["error"]["code"]


def test_the_body_limit_is_well_above_any_tool_call() -> None:
    """A tool call is small; the 413 starts far above a 10 kB query."""
    assert MAX_BODY_BYTES >= 16 * 10_000


def test_get_and_delete_are_405_no_stream_no_session(
    museum_app: TestClient, alice_headers: dict[str, str]
) -> None:
    """Stateless: no server-sent event stream to open, no session to end."""
    get = museum_app.get("/mcp", headers=alice_headers | {"Accept": "text/event-stream"})
    delete = museum_app.delete("/mcp", headers=alice_headers)

    assert (405, 405) == (get.status_code, delete.status_code)
    assert "POST" == get.headers["allow"]


def test_an_unknown_tool_is_a_tool_error_naming_where_the_tools_are(
    museum_app: TestClient, alice_headers: dict[str, str]
) -> None:
    """Calling a tool that does not exist: `isError` with the name, not a protocol failure."""
    result = post(museum_app, call("drop_database", {}), alice_headers)["result"]

    assert result["isError"]
    assert "Unknown tool: drop_database: tools/list names the tools" in result["content"][0]["text"]


def test_a_notification_is_accepted_without_an_answer(
    museum_app: TestClient, alice_headers: dict[str, str]
) -> None:
    """`notifications/initialized` (the handshake's last step) is 202 with no body."""
    response = museum_app.post(
        "/mcp", json=rpc("notifications/initialized", None, 0), headers=alice_headers
    )

    assert (202, b"") == (response.status_code, response.content)
