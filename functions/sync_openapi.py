"""The consumer of `openapi/app.sync`: every operation of every spec → batched vector events.

Per spec URL: fetch (allowed hosts only), parse in a worker thread, build the documents and send
their `pinecone/vectors.upserted` events, at most 100 documents each; a step `sync-spec-<i>` for
every URL but the last, which runs in the run's final call. Inngest memoizes a step once it
succeeds, so a retried run redoes only the specs that did not finish; a retried spec fetches and
sends again with the same event ids (`appsync-<run>-spec<i>-page<p>`), so the server starts no
second run of a downstream consumer for a batch (the event itself may be stored twice: see
docs/architecture.md, "Delivery"). Transient fetch failures are retried by Inngest; after the last
attempt, or for a permanent failure, the spec is reported as failed and the other specs go on.

Each batch event is signed (`appsync.sync.signing`): the index consumer indexes only batches this
function made. As each spec finishes, its summary goes into the sync journal
(`appsync.index.base.SyncJournal`), which status reads while the run goes on.

The run's output summarises the sync per spec (with `events`, the ids the server gave the spec's
batch events, which the redelivery sweep looks up: `appsync.sync.redelivery`) and in total.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

import inngest
import pydantic

from appsync.events import (
    APP_SYNC_EVENT,
    SYNC_FUNCTION_ID,
    AppSyncData,
    vectors_event,
)
from appsync.index.base import SyncJournal
from appsync.messaging.envelope import EventEnvelope, event_user, malformed, require_known_version
from appsync.messaging.storage_poller import StoragePoller
from appsync.metrics import Metrics
from appsync.openapi import SpecDocuments, SpecError
from appsync.settings.app_settings import AppSettingsSource
from appsync.sync.batches import (
    BATCH_SIZE,
    batch_event_id,
    batch_pages,
    load_documents,
    send_requests,
)
from appsync.sync.fetching import FetchError, HostPolicy, SpecFetcher
from appsync.sync.signing import BatchSigner
from appsync.users import User

FUNCTION_ID = SYNC_FUNCTION_ID
USER_KEY = "event.data.user.id"  # CEL over the stored event: flow control is per user
_MAX_DETAIL = 500  # characters of an unexpected exception's message kept in the run's output

logger = logging.getLogger(__name__)


class SyncServices(Protocol):
    """What the function uses of the running app (`appsync.services.Services` has it)."""

    @property
    def fetcher(self) -> SpecFetcher:
        """Fetches spec URLs within the allow-list and limits."""
        ...

    @property
    def app_settings(self) -> AppSettingsSource:
        """The configured spec URLs, whose hosts the function may fetch."""
        ...

    @property
    def batch_signer(self) -> BatchSigner:
        """Signs batch events for the index consumer."""
        ...

    @property
    def journal(self) -> SyncJournal:
        """Where the run records its progress for status."""
        ...

    @property
    def batch_storage(self) -> StoragePoller | None:
        """Confirms that the server stored the batch events (None: its acceptance is durable)."""
        ...

    @property
    def metrics(self) -> Metrics:
        """What an operator watches (fetches and runs by outcome)."""
        ...


@dataclass(frozen=True, slots=True)
class SyncOptions:
    """How the function retries and which hosts it may fetch besides the configured ones."""

    retries: int
    retry_delay: timedelta
    allowed_hosts: tuple[str, ...] = ()
    batch_size: int = BATCH_SIZE
    # How long a spec waits for the server to list its batch events as stored.
    confirm_timeout: timedelta = timedelta(seconds=30)


@dataclass(frozen=True, slots=True)
class SyncRequest:
    """A validated `openapi/app.sync` event."""

    urls: list[str]
    user: User


def parse_request(event: inngest.Event) -> SyncRequest:
    """Validate the triggering event; raise `NonRetriableError` saying what is wrong."""
    require_known_version(event)
    try:
        data = AppSyncData.model_validate(event.data)
    except pydantic.ValidationError as exc:
        raise malformed(APP_SYNC_EVENT, exc) from None
    return SyncRequest(urls=data.spec_urls(), user=event_user(event, data.user))


def _failed(url: str, error: str) -> dict[str, Any]:
    return {"url": url, "ok": False, "error": error}


def _batch_events(  # noqa: PLR0913 - one spec's fan-out, all of it needed
    spec: SpecDocuments,
    *,
    run_id: str,
    index: int,
    url: str,
    user: User,
    batch_size: int,
    sync: Mapping[str, Any],
    signer: BatchSigner,
) -> list[tuple[inngest.Event, int]]:
    """The spec's signed batch events (documents and cards), each with its size in bytes."""
    source = {"url": url, "service": spec.service, "version": spec.version}
    return [
        (
            signer.signed(
                vectors_event(
                    event_id=batch_event_id(run_id, index, number),
                    user=user,
                    page=number,
                    total=len(spec.documents),
                    batch_size=batch_size,
                    vectors=page.documents,
                    cards=page.cards,
                    source=source,
                    sync=sync,
                )
            ),
            page.size,
        )
        for number, page in enumerate(batch_pages(spec, batch_size=batch_size), start=1)
    ]


async def _sync_specs(
    ctx: inngest.Context,
    urls: list[str],
    sync_spec: Callable[[int, str], Awaitable[dict[str, Any]]],
    record: Callable[[int, dict[str, Any]], Awaitable[None]],
) -> list[dict[str, Any]]:
    """Every spec's summary: all but the last synced in a step each, the last in this call.

    A step's memo is read only by later calls, and after the last spec the only call left would
    return the output: a step there would buy nothing but one more round trip through the
    server's queue (a queue tick, 150 ms on the dev server). A retry of the final call redoes only
    the last spec; the steps before it stay memoized. Each summary is `record`ed as its spec ends.
    """

    async def synced(index: int, url: str) -> dict[str, Any]:
        summary = await sync_spec(index, url)
        await record(index, summary)
        return summary

    specs = [
        await ctx.step.run(f"sync-spec-{index}", synced, index, url)
        for index, url in enumerate(urls[:-1])
    ]
    if urls:
        specs.append(await synced(len(urls) - 1, urls[-1]))
    return specs


def _retry_or_fail(
    ctx: inngest.Context, options: SyncOptions, metrics: Metrics, url: str, reason: str
) -> dict[str, Any]:
    """A transient failure: `RetryAfterError` while attempts remain, else the spec's failure."""
    if ctx.attempt < options.retries:
        metrics.spec_fetched("retried")
        raise inngest.RetryAfterError(reason, options.retry_delay) from None
    metrics.spec_fetched("failed")
    return _failed(url, f"{reason} (after {ctx.attempt + 1} attempts)")


async def _stored(
    poller: StoragePoller | None, event_ids: list[str], within: timedelta, url: str
) -> None:
    """Return once the server lists every one of the events as stored (no-op without a poller).

    The event API answers once it has queued an event; a self-hosted server that stops within the
    next moment loses it, while the run goes on as if it had been sent (seen: a sync completed
    whose only batch was never indexed, the server killed 0.3 s after acknowledging it). Unlisted
    after `within`: an error, so the spec is retried and its batches sent again (the same ids: a
    batch the server did keep starts no second index run).
    """
    if poller is None or not event_ids:
        return
    try:
        async with asyncio.timeout(within.total_seconds()):
            await asyncio.gather(*(poller.wait(event_id) for event_id in event_ids))
    except TimeoutError:
        raise RuntimeError(
            f"the Inngest server did not list the {len(event_ids)} batch events of {url} as "
            f"stored within {within.total_seconds():g} s; they are sent again"
        ) from None


async def _journal(what: str, write: Awaitable[None]) -> None:
    """Record progress for status; a failure costs only that progress, never the sync."""
    try:
        await write
    except Exception:
        logger.warning("could not record %s in the sync journal", what, exc_info=True)


def create(
    client: inngest.Inngest,
    services: Callable[[], SyncServices],
    *,
    options: SyncOptions,
) -> inngest.Function[Any]:
    """Build the `openapi/app.sync` consumer for `client`; `services()` gives the running ones."""

    async def sync_spec(
        ctx: inngest.Context,
        index: int,
        url: str,
        *,
        policy: HostPolicy,
        request: SyncRequest,
        sync: Mapping[str, Any],
    ) -> dict[str, Any]:
        metrics = services().metrics
        try:
            raw = await services().fetcher.fetch(url, policy)
            loaded = await asyncio.to_thread(load_documents, raw, url)
            events = _batch_events(
                loaded,
                run_id=ctx.run_id,
                index=index,
                url=url,
                user=request.user,
                batch_size=options.batch_size,
                sync=sync,
                signer=services().batch_signer,
            )
            sent: list[str] = []
            for chunk in send_requests(events):
                sent += await client.send(chunk)
            await _stored(services().batch_storage, sent, options.confirm_timeout, url)
        except FetchError as exc:
            if exc.transient:
                return _retry_or_fail(ctx, options, metrics, url, exc.reason)
            metrics.spec_fetched("failed")
            return _failed(url, exc.reason)
        except SpecError as exc:
            metrics.spec_fetched("invalid")
            return _failed(url, f"invalid spec: {exc}")
        except Exception as exc:
            # Whatever else fails one spec (MemoryError, a bug, a send the server refused) is
            # retried like a transient error, then is that spec's error: the other specs still
            # sync. The trace goes to the log; the run's output gets one line.
            logger.exception("unexpected error while syncing %s", url)
            detail = str(exc)[:_MAX_DETAIL]
            reason = f"unexpected {type(exc).__name__} while syncing {url}" + (
                f": {detail}" if detail else ""
            )
            return _retry_or_fail(ctx, options, metrics, url, reason)
        metrics.spec_fetched("ok")
        return {
            "url": url,
            "ok": True,
            "service": loaded.service,
            "version": loaded.version,
            "operations": len(loaded.documents),
            "batches": len(events),
            "events": sent,  # the ids the server gave them: the redelivery sweep looks them up
        }

    @client.create_function(
        fn_id=FUNCTION_ID,
        name="Sync OpenAPI specs",
        trigger=inngest.TriggerEvent(event=APP_SYNC_EVENT),
        retries=options.retries,
        # One sync per user at a time: a newer sync of the same user cancels the running one
        # (its work is superseded), so repeated clicks end in one completed sync, of the last
        # click, without delaying a single one. `data.user` is in every event, UI replays too.
        singleton=inngest.Singleton(key=USER_KEY, mode="cancel"),
        middleware=[EventEnvelope],
    )
    async def sync_openapi_specs(ctx: inngest.Context) -> dict[str, Any]:
        try:
            request = parse_request(ctx.event)
        except inngest.NonRetriableError:
            services().metrics.sync_rejected()
            raise
        journal = services().journal
        await _journal(
            f"run {ctx.run_id}",
            journal.record_run(ctx.event.id, ctx.run_id, request.user.id, ended=False),
        )
        policy = HostPolicy.for_urls(
            services().app_settings.last_valid().openapi_urls, options.allowed_hosts
        )

        # For the index consumer's re-sync rules: an id that sorts later for a later sync — the
        # run's id, a ULID the server made with its own clock when it scheduled the run (never the
        # sending app's clock, which may be skewed), the same on every retry — and every URL the
        # sync covers (failed ones too: their indexed operations stay).
        sync = {"id": ctx.run_id, "urls": request.urls}

        async def record(index: int, summary: dict[str, Any]) -> None:
            await _journal(
                f"spec {index} of sync {ctx.event.id}",
                journal.record_spec(ctx.event.id, ctx.run_id, index, summary),
            )

        specs = await _sync_specs(
            ctx,
            request.urls,
            functools.partial(sync_spec, ctx, policy=policy, request=request, sync=sync),
            record,
        )

        await _journal(
            f"the end of run {ctx.run_id}",
            journal.record_run(ctx.event.id, ctx.run_id, request.user.id, ended=True),
        )
        services().metrics.sync_ended(specs)
        failed = sum(1 for spec in specs if not spec["ok"])
        return {
            "user": request.user.id,
            "specs": specs,
            "totals": {
                "specs": len(specs),
                "synced": len(specs) - failed,
                "failed": failed,
                "operations": sum(spec.get("operations", 0) for spec in specs),
                "batches": sum(spec.get("batches", 0) for spec in specs),
            },
        }

    return sync_openapi_specs
