"""What became of one sync: read from the Inngest server's API, for the user who asked for it.

- `GET /v1/events/<id>`: the `openapi/app.sync` event, and so whose sync it is;
- `GET /v1/events/<id>/runs`: its run's status, start, end and output;
- while the run goes on, the run's trace (GraphQL `runTrace`, on the dev server and `inngest
  start`; Inngest Cloud has no such API and shows no partial progress): the specs done so far.

A run that made no progress for `stall_after` seconds is reported `stalled`: a server that was
killed mid-run leaves it `Running` for ever, and the remedy is to POST again.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import httpx
from pydantic import BaseModel, Field

from appsync.events import sync_id_of
from appsync.index.base import OperationIndex

SyncState = Literal["queued", "running", "completed", "failed", "cancelled", "skipped", "stalled"]
_STATES: dict[str, SyncState] = {
    "scheduled": "queued",
    "queued": "queued",
    "running": "running",
    "completed": "completed",
    "failed": "failed",
    "cancelled": "cancelled",
    "skipped": "skipped",
}
_TRACE = """query($runID: String!) {
  runTrace(runID: $runID) { childrenSpans { name status outputID startedAt endedAt } }
}"""
_OUTPUT = "query($id: String!) { runTraceSpanOutputByID(outputID: $id) { data } }"
_EVENT_RUNS = (
    "query($id: ULID!) { eventV2(id: $id) { runs { functionID status startedAt endedAt } } }"
)
_FUNCTION = "query($slug: String!) { functionBySlug(query: {functionSlug: $slug}) { id } }"
_SPEC_STEP = "sync-spec-"
_bust = itertools.count()


class SpecStatus(BaseModel):
    """One spec of the sync."""

    url: str
    service: str | None = None
    version: str | None = None
    operations: int | None = None
    status: Literal["synced", "failed"]
    error: str | None = None


class SyncStatus(BaseModel):
    """The answer of `GET /api/openapi/sync/{id}`."""

    id: str
    status: SyncState
    started_at: str | None = Field(default=None, serialization_alias="startedAt")
    ended_at: str | None = Field(default=None, serialization_alias="endedAt")
    specs: list[SpecStatus]
    totals: dict[str, int]
    indexed: int | None = Field(
        default=None, description="Operations of this sync in the search index so far."
    )
    message: str | None = None


class SyncNotFoundError(LookupError):
    """No such sync for this user (whether it exists for another is not said)."""


@dataclass(frozen=True, slots=True)
class Progress:
    """What the server says of one sync event: the event, its run, finished step outputs."""

    event: Mapping[str, Any]
    run: Mapping[str, Any] | None
    steps: Sequence[Mapping[str, Any]]
    last_activity: datetime | None


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def index_generation(sync_id: str, event: Mapping[str, Any]) -> str | None:
    """The id this sync's rows carry in the operations index (None without the event's `ts`)."""
    ts = event.get("ts")
    return sync_id_of(ts, sync_id) if isinstance(ts, int) else None


def owner_of(event: Mapping[str, Any]) -> str | None:
    """The id of the user a sync event is for: top-level `user`, else `data.user`."""
    for holder in (event, event.get("data")):
        user = holder.get("user") if isinstance(holder, Mapping) else None
        if isinstance(user, Mapping) and isinstance(user.get("id"), str) and user["id"]:
            return str(user["id"])
    return None


def _expected_specs(event: Mapping[str, Any]) -> int:
    data = event.get("data")
    if not isinstance(data, Mapping):
        return 0
    urls: list[object] = []
    settings = data.get("appSettings")
    if isinstance(settings, Mapping) and isinstance(settings.get("openapiUrls"), list):
        urls += settings["openapiUrls"]
    if isinstance(data.get("urls"), list):
        urls += data["urls"]
    return len(dict.fromkeys(str(url) for url in urls))


def _spec(summary: Mapping[str, Any]) -> SpecStatus:
    return SpecStatus(
        url=str(summary.get("url", "")),
        service=summary.get("service"),
        version=summary.get("version"),
        operations=summary.get("operations"),
        status="synced" if summary.get("ok") else "failed",
        error=summary.get("error"),
    )


def summarise(
    sync_id: str,
    progress: Progress,
    *,
    now: datetime,
    stall_after: float,
    indexed: int | None = None,
) -> SyncStatus:
    """The status of a sync from what the server said (pure: no I/O)."""
    run = progress.run
    output = run.get("output") if run is not None else None
    finished = output.get("specs") if isinstance(output, Mapping) else None
    summaries = finished if isinstance(finished, list) else list(progress.steps)
    specs = [_spec(summary) for summary in summaries if isinstance(summary, Mapping)]
    state: SyncState = "queued"
    if run is not None:
        state = _STATES.get(str(run.get("status", "")).lower(), "running")
        recorded = run.get("ended_at") and (state != "completed" or isinstance(output, Mapping))
        if state not in {"queued", "running"} and not recorded:
            state = "running"  # the server lists the end a moment before it records it
    message = None
    if state in {"cancelled", "skipped"}:
        message = "superseded by a newer sync of the same user (one sync per user at a time)"
    if state == "running" and progress.last_activity is not None:
        idle = (now - progress.last_activity).total_seconds()
        if idle > stall_after:
            state = "stalled"
            message = (
                f"no progress for {idle:.0f} s (APPSYNC_STALL_AFTER={stall_after:g}): the Inngest "
                "server may have lost this run (e.g. it was restarted). POST the sync again: "
                "the index converges to the specs as they are."
            )
    totals = {
        "specs": _expected_specs(progress.event),
        "synced": sum(1 for spec in specs if spec.status == "synced"),
        "failed": sum(1 for spec in specs if spec.status == "failed"),
        "operations": sum(spec.operations or 0 for spec in specs),
    }
    return SyncStatus(
        id=sync_id,
        status=state,
        started_at=run.get("run_started_at") if run is not None else None,
        ended_at=run.get("ended_at") if run is not None else None,
        specs=specs,
        totals=totals,
        indexed=indexed,
        message=message,
    )


class SyncStatusReader:
    """Reads a sync's event, run and progress from the Inngest server (one pooled client)."""

    def __init__(
        self, api_origin: str, headers: Mapping[str, str], timeout: float, function_slug: str
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=api_origin.rstrip("/"), headers=dict(headers), timeout=timeout, trust_env=False
        )
        self._slug = function_slug
        self._function_id: str | None = None

    async def _ours(self) -> str | None:
        """The server's id of our sync function: other apps may consume the same events."""
        if self._function_id is None:
            found = await self._gql(_FUNCTION, slug=self._slug)
            function = (found or {}).get("functionBySlug")
            if isinstance(function, Mapping) and function.get("id"):
                self._function_id = str(function["id"])
        return self._function_id

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def _rest(self, path: str) -> Any:  # noqa: ANN401 - the server's JSON
        # The server caches these GETs for seconds: a changing parameter gets a fresh answer.
        response = await self._http.get(path, params={"_": next(_bust)})
        response.raise_for_status()
        return response.json().get("data")

    async def _gql(self, query: str, **variables: object) -> Mapping[str, Any] | None:
        try:
            response = await self._http.post(
                "/v0/gql", json={"query": query, "variables": variables}
            )
            body = response.json()
        except (httpx.HTTPError, ValueError):
            return None
        data = body.get("data") if isinstance(body, Mapping) and not body.get("errors") else None
        return data if isinstance(data, Mapping) else None

    async def progress(self, sync_id: str, user_id: str) -> Progress:
        """The sync's event, run and finished steps; `SyncNotFoundError` if not this user's."""
        event = await self._rest(f"/v1/events/{sync_id}")
        if not isinstance(event, Mapping) or owner_of(event) != user_id:
            raise SyncNotFoundError(sync_id)
        ours = await self._ours()
        runs = [
            run
            for run in await self._rest(f"/v1/events/{sync_id}/runs") or []
            if isinstance(run, Mapping) and ours in {None, run.get("function_id")}
        ]
        run = runs[0] if runs else await self._skipped_run(sync_id, ours)
        steps: list[Mapping[str, Any]] = []
        last = _parse_time(event.get("received_at"))
        if isinstance(run, Mapping):
            last = _parse_time(run.get("run_started_at")) or last
            # The runs list may already say "Completed" while later steps still run; only the
            # end time (and the output that comes with it) is final.
            if not (run.get("ended_at") and run.get("output")):
                steps, traced = await self._finished_steps(str(run.get("run_id")))
                last = max(filter(None, [last, traced]), default=None)
        return Progress(event=event, run=run, steps=steps, last_activity=last)

    async def _skipped_run(self, sync_id: str, ours: str | None) -> Mapping[str, Any] | None:
        """A run the server skipped (a singleton taken over at once): only GraphQL lists it."""
        found = await self._gql(_EVENT_RUNS, id=sync_id)
        for run in (found or {}).get("eventV2", {}).get("runs") or []:
            if run.get("status") == "SKIPPED" and ours in {None, run.get("functionID")}:
                return {
                    "status": "Skipped",
                    "run_started_at": run.get("startedAt"),
                    "ended_at": run.get("endedAt") or run.get("startedAt"),
                }
        return None

    async def _finished_steps(self, run_id: str) -> tuple[list[Mapping[str, Any]], datetime | None]:
        trace = await self._gql(_TRACE, runID=run_id)
        spans = (trace or {}).get("runTrace", {}).get("childrenSpans") or []
        outputs: dict[str, Mapping[str, Any]] = {}
        latest: datetime | None = None
        for span in spans:
            for stamp in (span.get("startedAt"), span.get("endedAt")):
                moment = _parse_time(stamp)
                if moment is not None and (latest is None or moment > latest):
                    latest = moment
            name = str(span.get("name", ""))
            if (
                not name.startswith(_SPEC_STEP)
                or span.get("status") != "COMPLETED"
                or name in outputs
            ):
                continue
            found = await self._gql(_OUTPUT, id=span.get("outputID"))
            data = (found or {}).get("runTraceSpanOutputByID", {}).get("data")
            try:
                summary = json.loads(data) if isinstance(data, str) else None
            except ValueError:
                summary = None
            if isinstance(summary, Mapping):
                outputs[name] = summary
        ordered = sorted(outputs.items(), key=lambda item: int(item[0].removeprefix(_SPEC_STEP)))
        return [summary for _, summary in ordered], latest


@dataclass(frozen=True, slots=True)
class SyncStatuses:
    """A sync's status as the route tells it: the server's progress, the index's part, the stall."""

    reader: SyncStatusReader
    index: OperationIndex
    stall_after: float

    async def status(self, sync_id: str, user_id: str) -> SyncStatus:
        """Where the sync stands; `SyncNotFoundError` if it is not this user's or not known."""
        progress = await self.reader.progress(sync_id, user_id)
        generation = index_generation(sync_id, progress.event)
        indexed = (
            (await self.index.stats(user_id, sync_id=generation)).in_sync
            if generation is not None
            else None
        )
        return summarise(
            sync_id, progress, now=utc_now(), stall_after=self.stall_after, indexed=indexed
        )


def utc_now() -> datetime:
    """Now, in UTC (the server's times are UTC)."""
    return datetime.now(UTC)
