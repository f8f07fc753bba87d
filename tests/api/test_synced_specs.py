"""`GET /api/services`: the caller's synced specs, as the page lists them."""

from __future__ import annotations

from fastapi.testclient import TestClient

from harness.mcp import SEED_EVENT_ID


def test_the_caller_gets_each_synced_spec_with_its_count_and_last_sync(
    museum_app: TestClient, alice_headers: dict[str, str], museum_url: str
) -> None:
    """Alice: museum and Uber, by service name, each with its operations and its last sync."""
    response = museum_app.get("/api/services", headers=alice_headers)

    assert 200 == response.status_code, response.text
    services = response.json()["services"]
    assert ["Redocly Museum API", "Uber API"] == [s["service"] for s in services]
    assert {
        "service": "Redocly Museum API",
        "version": "1.2.1",
        "specUrl": museum_url,
        "operations": 8,
        "lastSync": {"id": SEED_EVENT_ID, "at": "2025-12-06T04:51:17.632+00:00"},
    } == services[0]


def test_another_user_gets_an_empty_list(
    museum_app: TestClient, bob_headers: dict[str, str]
) -> None:
    """Bob has synced nothing: no specs, never alice's."""
    response = museum_app.get("/api/services", headers=bob_headers)

    assert (200, {"services": []}) == (response.status_code, response.json())


def test_the_list_needs_the_same_credentials_as_search(museum_app: TestClient) -> None:
    """No token: 401 with the API's error body."""
    response = museum_app.get("/api/services")

    assert (401, "unauthorized") == (response.status_code, response.json()["error"])


def test_the_list_is_in_the_services_own_spec(museum_app: TestClient) -> None:
    """`/api/services` is documented in /openapi.json; the page's own routes are not."""
    paths = museum_app.get("/openapi.json").json()["paths"]

    assert "get" in paths["/api/services"]
    assert "/" not in paths
    assert not [path for path in paths if path.startswith("/ui")]
