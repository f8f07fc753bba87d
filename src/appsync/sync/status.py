"""What became of one sync, for the user who asked for it: the server's REST API and the journal.

- `GET /v1/events/<id>`: the `openapi/app.sync` event, and so whose sync it is;
- `GET /v1/events/<id>/runs`: its run by this service's sync function (found by its slug through
  `GET /v1/apps/<app id>/functions`: other apps may consume the same event) — status, start, end,
  output;
- while the run goes on, the sync journal (`appsync.index.base.SyncJournal`): the summary of each
  spec done so far, which the sync function records itself.

Only the REST API (`/v1/...`, authenticated with the hashed signing key) is used, never the
server's GraphQL API, which a production deployment must not expose (`inngest start --no-ui`) and
which Inngest Cloud does not offer.

A run that made no progress for `stall_after` seconds is reported `stalled`: a server that was
killed mid-run leaves it `Running` for ever, and the remedy is to POST again. An event that never
got a run while another sync of the same user was running is `skipped`: the server's one-sync-per-
user rule let the running one go on.

**Failed indexing.** A completed sync whose operations are not all in the index is checked for the
index consumer's `appsync/index.failed` notices (`GET /v1/events?name=...`, only those signed by
this service, for this user and sync): when batches failed for good, the sync is `failed`, with
how many operations are not searchable, why, and what to do (`indexFailures`, `message`). The
notices live on the Inngest server, not in the store: a store that failed (a full disk) could not
record them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field

from appsync.events import APP_SYNC_EVENT, INDEX_FAILED_EVENT, REDELIVERY_OF, IndexFailedData
from appsync.index.base import OperationIndex, SyncJournal, SyncRun
from appsync.messaging.event_list import cache_buster, event_pages
from appsync.sync.signing import BatchSigner

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
# An event id as the server makes them: a ULID (Crockford base 32, 26 characters).
_EVENT_ID = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}")
# Clock slack between the Inngest server (event times) and the store (journal times), in seconds.
_SLACK = 2.0
# The server records a run's end within milliseconds of its last call: a run it still lists as
# running this long after the journal recorded its end is one whose end the server lost.
_LOST_END_AFTER = 10.0
# Pages of failure notices read for one status (50 a page): a sync with more failed batches than
# this still reports failure, counting the ones read.
_NOTICE_PAGES = 4
# How far back the event list is read for the sync that cancelled another (50 events a page).
LATER_SYNC_PAGES = 4


class SpecStatus(BaseModel):
    """One spec of the sync."""

    url: str
    service: str | None = None
    version: str | None = None
    operations: int | None = None
    status: Literal["synced", "failed"]
    error: str | None = None


class IndexFailures(BaseModel):
    """Operations of a sync that could not be indexed, and why."""

    operations: int = Field(description="Operations of this sync that are not searchable.")
    batches: int = Field(description="Batch events that failed after their last retry.")
    error: str = Field(description="The cause of the (first) failure.")


class SyncStatus(BaseModel):
    """The answer of `GET /api/openapi/sync/{id}` (and of the MCP tool `sync_status`)."""

    # Named `startedAt` both ways, so that a JSON Schema of it names what the JSON holds.
    model_config = ConfigDict(
        validate_by_name=True, validate_by_alias=True, serialize_by_alias=True
    )

    id: str
    status: SyncState
    started_at: str | None = Field(default=None, alias="startedAt")
    ended_at: str | None = Field(default=None, alias="endedAt")
    specs: list[SpecStatus]
    totals: dict[str, int]
    indexed: int | None = Field(
        default=None, description="Operations of this sync in the search index so far."
    )
    index_failures: IndexFailures | None = Field(default=None, serialization_alias="indexFailures")
    message: str | None = None


class SyncNotFoundError(LookupError):
    """No such sync for this user (whether it exists for another is not said)."""


class InngestUnavailableError(RuntimeError):
    """The Inngest server's API did not answer as it should; `status` is the HTTP answer to give."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def is_sync_id(value: str) -> bool:
    """Whether `value` has the form of a sync id (an event id the server made)."""
    return _EVENT_ID.fullmatch(value) is not None


@dataclass(frozen=True, slots=True)
class Progress:
    """What is known of one sync: its event and run (server), its specs so far (journal).

    `newer_sync` is the id of the user's next sync after this one (what cancelled it, when it was
    cancelled: the server's event list); `running_sync` the id of a sync of the same user that was
    running when this one arrived (why it was skipped, when it got no run: the journal).
    `ended_at` is when the sync function recorded the run's end in the journal, its last act before
    it returns: the server may never record that end (killed just after, it lost the run's state).
    """

    event: Mapping[str, Any]
    run: Mapping[str, Any] | None
    steps: Sequence[Mapping[str, Any]]
    last_activity: datetime | None
    newer_sync: str | None = None
    running_sync: str | None = None
    ended_at: datetime | None = None


def parse_time(value: object) -> datetime | None:
    """An ISO time from the server's JSON, or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def redelivery_of(event: Mapping[str, Any]) -> str | None:
    """The id of the sync event that `event` redelivers (`data.redeliveryOf`), if it is one."""
    data = event.get("data")
    original = data.get(REDELIVERY_OF) if isinstance(data, Mapping) else None
    return original if isinstance(original, str) and is_sync_id(original) else None


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


def _message(state: SyncState, progress: Progress) -> str | None:
    if state == "cancelled":
        if progress.newer_sync is not None:
            return (
                f"cancelled: superseded by the newer sync {progress.newer_sync} of the same user "
                "(one sync per user at a time)"
            )
        return "cancelled, not by a newer sync of this user (from the Inngest UI or API)"
    if state == "skipped":
        running = f" {progress.running_sync}" if progress.running_sync else ""
        return (
            f"skipped: the Inngest server started no run for it because the sync{running} of the "
            "same user was running when it arrived (one sync per user at a time). POST again to "
            "sync the current settings."
        )
    return None


def _indexing_failed(failures: IndexFailures, operations: int) -> str:
    return (
        f"indexing failed: {failures.operations} of {operations} operations are not searchable "
        f"({failures.batches} batch{'es' if failures.batches != 1 else ''} failed after every "
        f"retry): {failures.error}. Fix the index store (free its disk, or bring its database "
        "back), then POST the sync again: what is indexed stays, and no text already embedded is "
        "embedded again."
    )


def summarise(
    sync_id: str,
    progress: Progress,
    *,
    now: datetime,
    stall_after: float,
    indexed: int | None = None,
    index_failures: IndexFailures | None = None,
) -> SyncStatus:
    """The status of a sync from what the server, the journal and the index said (pure: no I/O).

    `index_failures` turns a completed sync into a failed one.
    """
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
        lost_end = progress.ended_at is not None and (
            (now - progress.ended_at).total_seconds() > _LOST_END_AFTER
        )
        if state in {"queued", "running"} and lost_end:
            state = "completed"  # every spec is in the journal, whatever the server lost
    elif progress.running_sync is not None:
        state = "skipped"
    message = _message(state, progress)
    if state in {"queued", "running"} and progress.last_activity is not None:
        idle = (now - progress.last_activity).total_seconds()
        if idle > stall_after:
            state = "stalled"
            message = (
                f"no progress for {idle:.0f} s (APPSYNC_STALL_AFTER={stall_after:g}): the Inngest "
                "server may have lost this sync (e.g. it was restarted). POST the sync again: "
                "the index converges to the specs as they are."
            )
    totals = {
        "specs": _expected_specs(progress.event),
        "synced": sum(1 for spec in specs if spec.status == "synced"),
        "failed": sum(1 for spec in specs if spec.status == "failed"),
        "operations": sum(spec.operations or 0 for spec in specs),
    }
    if state == "completed" and index_failures is not None:
        state = "failed"
        message = _indexing_failed(index_failures, totals["operations"])
    ended = run.get("ended_at") if run is not None else None
    if not ended and state == "completed" and progress.ended_at is not None:
        ended = progress.ended_at.isoformat().replace("+00:00", "Z")  # as the server writes it
    return SyncStatus(
        id=sync_id,
        status=state,
        started_at=run.get("run_started_at") if run is not None else None,
        ended_at=ended if ended or state != "skipped" else None,
        specs=specs,
        totals=totals,
        indexed=indexed,
        index_failures=index_failures if state == "failed" else None,
        message=message,
    )


class SyncStatusReader:
    """Reads a sync's event and run from the Inngest server's REST API (one pooled client)."""

    def __init__(
        self,
        api_origin: str,
        headers: Mapping[str, str],
        timeout: float,
        *,
        app_id: str,
        function_slug: str,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=api_origin.rstrip("/"),
            headers=dict(headers),
            timeout=timeout,
            trust_env=False,
            transport=transport,
        )
        self._app_id = app_id
        self._slug = function_slug
        self._function_id: str | None = None

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def _get(self, path: str) -> Any:  # noqa: ANN401 - the server's JSON
        # The server caches these GETs for seconds: a changing parameter gets a fresh answer.
        where = f"the Inngest server's API at {self._http.base_url}"
        try:
            response = await self._http.get(path, params={"_": cache_buster()})
            response.raise_for_status()
            return response.json()
        except httpx.TimeoutException:
            raise InngestUnavailableError(504, f"{where} did not answer in time") from None
        except httpx.HTTPStatusError as exc:
            status = exc.response.status_code
            hint = " (check INNGEST_SIGNING_KEY)" if status in {401, 403} else ""
            raise InngestUnavailableError(
                502, f"{where} answered {status} to GET {path.split('?', maxsplit=1)[0]}{hint}"
            ) from None
        except (httpx.HTTPError, ValueError) as exc:
            raise InngestUnavailableError(502, f"{where} is unreachable: {exc}") from None

    async def _ours(self) -> str | None:
        """The server's id of our sync function (None while the app is not synced)."""
        if self._function_id is None:
            functions = await self._get(f"/v1/apps/{self._app_id}/functions")
            for function in functions if isinstance(functions, list) else []:
                if isinstance(function, Mapping) and function.get("id") == self._slug:
                    self._function_id = str(function.get("internal_id"))
        return self._function_id

    async def later_sync(self, event: Mapping[str, Any], user_id: str) -> str | None:
        """The id of the user's next sync event after `event` (what cancelled it), if any.

        Read from the server's event list (`GET /v1/events`), newest first, a few pages back to
        `event`'s arrival: the server stores an event before it schedules (and so cancels) runs.
        Two events of a user milliseconds apart may be scheduled in the other order: with none
        after it, the one that arrived last within `_SLACK` s before it cancelled it.
        """
        received = parse_time(event.get("received_at"))
        if received is None:
            return None
        since = (received - timedelta(seconds=_SLACK)).isoformat()
        others: list[tuple[datetime, str]] = []
        try:
            async for page in event_pages(
                self._http, APP_SYNC_EVENT, received_after=since, max_pages=LATER_SYNC_PAGES
            ):
                others += [
                    (at, str(other.get("internal_id")))
                    for other in page
                    if owner_of(other) == user_id
                    and other.get("internal_id") != event.get("internal_id")
                    and (at := parse_time(other.get("received_at"))) is not None
                ]
        except (httpx.HTTPError, ValueError, KeyError):
            return None
        after = [other for other in others if other[0] >= received]
        if after:
            return min(after)[1]
        return max(others)[1] if others else None

    async def event_and_run(
        self, sync_id: str, user_id: str
    ) -> tuple[Mapping[str, Any], Mapping[str, Any] | None]:
        """The sync's event and its newest run by our function; `SyncNotFoundError` if not ours."""
        event = (await self._get(f"/v1/events/{sync_id}")).get("data")
        if not isinstance(event, Mapping) or owner_of(event) != user_id:
            raise SyncNotFoundError(sync_id)
        return event, await self.run_of(sync_id)

    async def run_of(self, sync_id: str) -> Mapping[str, Any] | None:
        """The newest run of our sync function for the event `sync_id`, if it has one."""
        ours = await self._ours()
        runs = [
            run
            for run in (await self._get(f"/v1/events/{sync_id}/runs")).get("data") or []
            if isinstance(run, Mapping) and ours in {None, run.get("function_id")}
        ]
        # A rerun is a second run of the same event: the newest (run ids sort by time) counts.
        runs.sort(key=lambda run: str(run.get("run_id", "")))
        return runs[-1] if runs else None

    async def has_runs(self, event_id: str) -> bool:
        """Whether the server scheduled any run for the event `event_id` (of any function)."""
        return bool((await self._get(f"/v1/events/{event_id}/runs")).get("data"))

    async def stored_event(self, event_id: str) -> Mapping[str, Any] | None:
        """The event `event_id` as the server stored it (None if it has no such event)."""
        event = (await self._get(f"/v1/events/{event_id}")).get("data")
        return event if isinstance(event, Mapping) else None

    async def recent_syncs(self, received_after: datetime, max_pages: int) -> list[dict[str, Any]]:
        """The sync events received after `received_after`, newest first (at most `max_pages`).

        `InngestUnavailableError` when the server cannot be read.
        """
        found: list[dict[str, Any]] = []
        try:
            async for page in event_pages(
                self._http,
                APP_SYNC_EVENT,
                received_after=received_after.isoformat(),
                max_pages=max_pages,
            ):
                found += page
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            where = f"the Inngest server's API at {self._http.base_url}"
            raise InngestUnavailableError(502, f"{where}: GET /v1/events failed: {exc}") from None
        return found

    async def redelivery(
        self, event: Mapping[str, Any], user_id: str
    ) -> tuple[str, Mapping[str, Any], Mapping[str, Any] | None] | None:
        """The redelivery of a sync event whose run never came (`appsync.sync.redelivery`), if any.

        Its id, event and run: of the redeliveries that got a run, the newest; else the newest.
        """
        received = event.get("received_at")
        original = event.get("internal_id")
        if not isinstance(received, str) or not isinstance(original, str):
            return None
        try:
            since = datetime.fromisoformat(received)
        except ValueError:
            return None
        redeliveries = [
            other
            for other in await self.recent_syncs(since, LATER_SYNC_PAGES)
            if owner_of(other) == user_id and redelivery_of(other) == original
        ]
        if not redeliveries:
            return None
        newest: tuple[str, Mapping[str, Any], Mapping[str, Any] | None] | None = None
        for other in redeliveries:  # newest first
            other_id = str(other.get("internal_id"))
            run = await self.run_of(other_id)
            if run is not None:
                return other_id, other, run
            newest = newest or (other_id, other, None)
        return newest

    async def index_failures(
        self, user_id: str, generation: str, received_after: str | None
    ) -> list[IndexFailedData]:
        """The failure notices of one sync of one user (signed or not: the caller checks)."""
        found: list[IndexFailedData] = []
        async for page in event_pages(
            self._http,
            INDEX_FAILED_EVENT,
            received_after=received_after,
            max_pages=_NOTICE_PAGES,
        ):
            for event in page:
                try:
                    notice = IndexFailedData.model_validate(event.get("data"))
                except ValueError:
                    continue
                if notice.user.id == user_id and notice.sync.id == generation:
                    found.append(notice)
        return found


def _operations(run: Mapping[str, Any] | None) -> int:
    """The operations a finished sync run made documents of (0 before its output exists)."""
    output = run.get("output") if run is not None else None
    totals = output.get("totals") if isinstance(output, Mapping) else None
    operations = totals.get("operations") if isinstance(totals, Mapping) else None
    return operations if isinstance(operations, int) else 0


def _epoch(moment: datetime | None) -> float | None:
    return moment.timestamp() if moment is not None else None


def running_sync(sync_id: str, received: float, others: Sequence[SyncRun]) -> str | None:
    """A sync of the user that was running when this one arrived (why it got no run)."""
    for other in others:
        if (
            other.sync_id != sync_id
            and other.started_at <= received + _SLACK
            and (not other.ended or other.updated_at >= received - _SLACK)
        ):
            return other.sync_id
    return None


@dataclass(frozen=True, slots=True)
class SyncStatuses:
    """A sync's status as the route tells it: the server's event and run, the journal, the index."""

    reader: SyncStatusReader
    journal: SyncJournal
    index: OperationIndex
    stall_after: float
    signer: BatchSigner  # checks the index consumer's failure notices
    # An event with no run this long after it arrived is checked for a running sync of its user.
    skip_after: float = 3.0

    async def status(self, sync_id: str, user_id: str) -> SyncStatus:
        """Where the sync stands; `SyncNotFoundError` if it is not this user's or not known."""
        if not is_sync_id(sync_id):
            raise SyncNotFoundError(sync_id)
        event, run = await self.reader.event_and_run(sync_id, user_id)
        now = utc_now()
        source = sync_id  # the event whose run tells: this one, or its redelivery
        # No run for seconds, or a run that never started: the redelivery sweep may have sent
        # it again. A run that never started gives way only to a copy that has a run, and so does
        # a cancelled one (a slow run the sweep took for lost is cancelled by its copy).
        lost = self._older_than(event, self.skip_after, now) and (
            run is None
            or str(run.get("status", "")).lower() == "cancelled"
            or await self._never_started(sync_id, run)
        )
        found = await self.reader.redelivery(event, user_id) if lost else None
        if found is not None and (run is None or found[2] is not None):
            source, event, run = found
        progress = await self._progress(source, user_id, event, run, now)
        # The index knows a sync by its run's id (the generation its rows carry).
        generation = str(run["run_id"]) if run is not None and run.get("run_id") else None
        indexed = (
            (await self.index.stats(user_id, sync_id=generation)).in_sync
            if generation is not None
            else None
        )
        failures = None
        missing = _operations(run) - (indexed or 0)
        if generation is not None and indexed is not None and missing > 0:
            received = event.get("received_at")
            failures = await self._index_failures(
                user_id, generation, received if isinstance(received, str) else None, missing
            )
        return summarise(
            sync_id,
            progress,
            now=now,
            stall_after=self.stall_after,
            indexed=indexed,
            index_failures=failures,
        )

    async def _never_started(self, sync_id: str, run: Mapping[str, Any]) -> bool:
        """A run that has not ended and never called the sync function (which records it)."""
        if run.get("ended_at"):
            return False
        return all(entry.run_id != run.get("run_id") for entry in await self.journal.runs(sync_id))

    @staticmethod
    def _older_than(event: Mapping[str, Any], seconds: float, now: datetime) -> bool:
        received = parse_time(event.get("received_at"))
        return received is not None and (now - received).total_seconds() > seconds

    async def _index_failures(
        self, user_id: str, generation: str, received_after: str | None, missing: int
    ) -> IndexFailures | None:
        """The batches of a sync that failed for good (`missing` operations are not indexed)."""
        notices = await self.reader.index_failures(user_id, generation, received_after)
        failed = {
            (notice.source.url, notice.page): notice
            for notice in notices
            if self.signer.is_notice_signed(notice)
        }
        if not failed:
            return None
        first = min(failed.values(), key=lambda notice: (notice.source.url, notice.page))
        return IndexFailures(
            operations=min(sum(n.operations for n in failed.values()), missing),
            batches=len(failed),
            error=first.error,
        )

    async def _progress(
        self,
        sync_id: str,
        user_id: str,
        event: Mapping[str, Any],
        run: Mapping[str, Any] | None,
        now: datetime,
    ) -> Progress:
        received = parse_time(event.get("received_at"))
        recorded = {entry.run_id: entry for entry in await self.journal.runs(sync_id)}
        entry = recorded.get(str(run.get("run_id"))) if run is not None else None
        activity = [
            received,
            parse_time(run.get("run_started_at")) if run is not None else None,
            datetime.fromtimestamp(entry.updated_at, UTC) if entry is not None else None,
        ]
        steps = [entry.specs[index] for index in sorted(entry.specs)] if entry else []
        progress = Progress(
            event=event,
            run=run,
            steps=steps,
            last_activity=max(filter(None, activity), default=None),
            ended_at=activity[2] if entry is not None and entry.ended else None,
        )
        since = _epoch(received)
        if since is None:
            return progress
        if run is not None and str(run.get("status", "")).lower() == "cancelled":
            return replace(progress, newer_sync=await self.reader.later_sync(event, user_id))
        if (
            run is None
            and received is not None
            and (now - received).total_seconds() > (self.skip_after)
        ):
            # A sync that started longer ago than the stall bound would be stalled by now.
            others = await self.journal.runs_of_user(user_id, since=since - self.stall_after)
            return replace(progress, running_sync=running_sync(sync_id, since, others))
        return progress


def utc_now() -> datetime:
    """Now, in UTC (the server's times are UTC)."""
    return datetime.now(UTC)
