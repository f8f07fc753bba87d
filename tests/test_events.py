"""Event shapes, and the SDK behaviour they rely on (pinned: inngest==0.5.19)."""

from __future__ import annotations

import json

import inngest

from appsync.events import APP_SYNC_EVENT, WireEvent, app_sync_event
from appsync.settings.app_settings import AppSettings
from appsync.users import User

USER = User(id="u-1", email="u@example.com")


def test_the_sync_event_has_the_originals_wire_shape() -> None:
    """name, v "1", ts in ms, top-level user, data.appSettings (and the user again in data)."""
    event = app_sync_event(AppSettings(openapi_urls=["https://api.example.com/spec.json"]), USER)

    assert APP_SYNC_EVENT == event.name
    assert "1" == event.v
    assert {"id": "u-1", "email": "u@example.com"} == event.user
    assert {
        "appSettings": {"openapiUrls": ["https://api.example.com/spec.json"]},
        "user": {"id": "u-1", "email": "u@example.com"},
    } == event.data
    assert event.ts > 1_700_000_000_000


def test_the_sdk_sends_user_and_v_of_a_wire_event() -> None:
    """The SDK's plain Event drops `user` and `v`; the subclass keeps them on the wire."""
    client = inngest.Inngest(app_id="t", is_production=False, api_base_url="http://127.0.0.1:9")
    event = WireEvent(name="x/y", data={"a": 1}, user={"id": "u-1"}, v="1", ts=5)

    request = client._build_send_request([event, inngest.Event(name="x/z")])

    assert not isinstance(request, Exception)
    sent = json.loads(request.content)
    assert {"name": "x/y", "data": {"a": 1}, "user": {"id": "u-1"}, "v": "1", "ts": 5} == {
        key: sent[0][key] for key in ("name", "data", "user", "v", "ts")
    }
    assert "user" not in sent[1]
    assert "v" not in sent[1]
