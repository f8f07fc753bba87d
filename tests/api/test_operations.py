"""`GET /api/operations/{uid}`: one operation's card, for its user only."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

UBER_PRODUCTS = "OpenApi_Uber API_1.0.0_get_/products"


@pytest.mark.parametrize("encoded", [quote(UBER_PRODUCTS), quote(UBER_PRODUCTS, safe="")])
def test_a_uid_with_slashes_is_found_encoded_or_not(
    museum_app: TestClient, alice_headers: dict[str, str], encoded: str
) -> None:
    """A uid made of method and path (no operationId) reaches its card, `/` or `%2F`."""
    response = museum_app.get(f"/api/operations/{encoded}", headers=alice_headers)

    assert 200 == response.status_code, response.text
    card = response.json()
    assert (UBER_PRODUCTS, "GET", "https://api.uber.com/v1/products") == (
        card["uid"],
        card["method"],
        card["url"],
    )
    assert {"latitude", "longitude"} == {p["name"] for p in card["parameters"] if p["required"]}


def test_an_unknown_uid_is_a_404_saying_where_uids_come_from(
    museum_app: TestClient, alice_headers: dict[str, str]
) -> None:
    """No such operation for this user: 404 with the JSON error body."""
    response = museum_app.get("/api/operations/OpenApi_Nope_1_nope", headers=alice_headers)

    assert 404 == response.status_code
    assert "not_found" == response.json()["error"]
    assert "/api/operations/search" in response.json()["message"]


def test_the_card_needs_the_same_credentials_as_search(museum_app: TestClient) -> None:
    """No token: 401, the search route's body."""
    response = museum_app.get(f"/api/operations/{quote(UBER_PRODUCTS)}")

    assert (401, "unauthorized") == (response.status_code, response.json()["error"])


def test_the_search_route_is_not_taken_for_a_uid(
    museum_app: TestClient, alice_headers: dict[str, str]
) -> None:
    """`/api/operations/search` stays the search (its 422 for an empty query, not a 404)."""
    response = museum_app.get("/api/operations/search", headers=alice_headers)

    assert (422, "invalid_query") == (response.status_code, response.json()["error"])
