"""Reads what a real Inngest server stored: events, runs, apps (REST and GraphQL)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from appsync.messaging.event_list import EPOCH, PAGE, cache_buster, event_pages
from harness.waiting import wait_until

TERMINAL = frozenset({"Completed", "Failed", "Cancelled"})
SENTINEL_EVENT = "appsync-test/sentinel"  # no function listens to it


class InngestApi:
    """A small, bounded client for one server; every GET defeats the server's response cache."""

    def __init__(self, base_url: str, signing_key: str | None = None) -> None:
        self._headers = {"Authorization": f"Bearer {signing_key}"} if signing_key else {}
        self.base_url = base_url
        self.http = httpx.Client(
            base_url=base_url, headers=self._headers, timeout=10.0, trust_env=False
        )

    def close(self) -> None:
        """Close the connection pool."""
        self.http.close()

    def _get(self, path: str, **params: Any) -> Any:
        # The server caches these GETs (event runs 15 s, runs 3 s): a changing parameter avoids it.
        response = self.http.get(path, params={**params, "_": cache_buster()})
        response.raise_for_status()
        return response.json()

    def send(self, events: Mapping[str, Any] | Sequence[Mapping[str, Any]], key: str) -> list[str]:
        """POST raw events to `/e/<key>`, as the dev UI and other clients do."""
        response = self.http.post(f"/e/{key}", json=events)
        response.raise_for_status()
        ids: list[str] = response.json()["ids"]
        return ids

    def flush(self, key: str = "dev") -> None:
        """Return once every event sent before this call is stored (or dropped) by the server.

        The server stores events in the order it accepts them: a sentinel event sent now and seen
        stored means that no earlier event is still on its way.
        """
        (sentinel,) = self.send({"name": SENTINEL_EVENT, "data": {}}, key=key)
        self.event(sentinel, timeout=30.0)

    def event(self, event_id: str, timeout: float = 15.0) -> dict[str, Any]:
        """The stored event with its wire fields (`id, name, data, user, ts, v`).

        Events are stored asynchronously after `/e/` answers, so this waits for it to appear.
        """
        stored: dict[str, Any] = wait_until(
            lambda: self._get(f"/v1/events/{event_id}")["data"],
            timeout=timeout,
            what=f"event {event_id} is stored",
        )
        return stored

    def events(
        self, name: str, limit: int = 100, received_after: str | None = None
    ) -> list[dict[str, Any]]:
        """The newest stored events named `name` (received after an ISO time, if given)."""
        params: dict[str, Any] = {"name": name, "limit": limit}
        if received_after is not None:
            params["received_after"] = received_after
        data: list[dict[str, Any]] = self._get("/v1/events", **params)["data"]
        return data

    def all_events(self, name: str, max_pages: int = 400) -> list[dict[str, Any]]:
        """Every stored event named `name`, paging back through the cursor (bounded)."""

        async def read() -> tuple[list[dict[str, Any]], int]:
            found: list[dict[str, Any]] = []
            pages = 0
            async with httpx.AsyncClient(
                base_url=self.base_url, headers=self._headers, timeout=10.0, trust_env=False
            ) as http:
                async for page in event_pages(
                    http, name, received_after=EPOCH, max_pages=max_pages
                ):
                    found.extend(page)
                    pages += 1
            return found, pages

        # On its own thread: the caller may run an event loop already (Playwright's sync API does).
        with ThreadPoolExecutor(1) as worker:
            found, pages = worker.submit(asyncio.run, read()).result()
        assert pages < max_pages, f"more than {PAGE * (max_pages - 1)} {name} events"
        return found

    def runs(self, event_id: str) -> list[dict[str, Any]]:
        """The function runs the event started."""
        data: list[dict[str, Any]] | None = self._get(f"/v1/events/{event_id}/runs")["data"]
        return data or []

    def run(self, run_id: str) -> dict[str, Any]:
        """One function run (empty while the server has not recorded it yet, e.g. a fresh rerun)."""
        data: dict[str, Any] | None = self._get(f"/v1/runs/{run_id}")["data"]
        return data or {}

    def wait_for_run(self, event_id: str, timeout: float = 60.0) -> dict[str, Any]:
        """The event's single run, once it has ended with its output; fails after `timeout`."""
        deadline = time.monotonic() + timeout
        runs = wait_until(
            lambda: self.runs(event_id), timeout=timeout, what=f"event {event_id} started a run"
        )
        assert len(runs) == 1, f"event {event_id} started {len(runs)} runs: {runs}"
        return self.wait_for_run_id(runs[0]["run_id"], max(deadline - time.monotonic(), 0.0))

    def wait_for_run_id(self, run_id: str, timeout: float = 60.0) -> dict[str, Any]:
        """A run by id, once it has ended and its output is recorded."""

        def ended() -> dict[str, Any] | None:
            try:
                run = self.run(run_id)
            except httpx.HTTPStatusError:
                return None
            return run if run.get("status") in TERMINAL and "output" in run else None

        return wait_until(ended, timeout=timeout, what=f"run {run_id} ended")

    def gql(self, query: str, **variables: Any) -> dict[str, Any]:
        """A GraphQL query or mutation at `/v0/gql`; fails on GraphQL errors."""
        response = self.http.post("/v0/gql", json={"query": query, "variables": variables})
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        assert not body.get("errors"), body["errors"]
        data: dict[str, Any] = body["data"]
        return data

    def retries(self, run_id: str) -> int:
        """How often any call of the run was retried (0: none), from the dev server's run trace.

        Each call of the function is a span whose `attempts` counts its retries from 0.
        """
        data = self.gql(
            "query($r: String!) { runTrace(runID: $r) { childrenSpans { attempts } } }", r=run_id
        )
        return max((span["attempts"] for span in data["runTrace"]["childrenSpans"]), default=0)

    def rerun(self, run_id: str) -> str:
        """Rerun a function run (the dev UI's "Rerun"); returns the new run's id."""
        data = self.gql("mutation($runID: ULID!) { rerun(runID: $runID) }", runID=run_id)
        new_id: str = data["rerun"]
        return new_id

    def functions(self, app_id: str) -> list[dict[str, Any]]:
        """The functions the server knows of an app (REST: also on `inngest start --no-ui`)."""
        found: list[dict[str, Any]] = self._get(f"/v1/apps/{app_id}/functions")
        return found

    def app_urls(self, app_id: str) -> set[str]:
        """The URLs the server calls for an app's functions (without their query)."""
        return {
            step["uri"].split("?")[0]
            for function in self.functions(app_id)
            for step in function["config"]["steps"]
        }
