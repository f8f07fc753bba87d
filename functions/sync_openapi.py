"""The consumer of `openapi/app.sync`: every operation of every spec → batched vector events.

Steps, in order (each memoized by Inngest, so a retried run redoes only what failed):

1. `load-spec-<i>` per spec URL: fetch (allowed hosts only), parse in a worker thread, build the
   documents; the output holds them compressed. Transient fetch failures are retried by Inngest;
   after the last attempt, or for a permanent failure, the spec is reported as failed and the
   other specs go on.
2. `send-batches-<n>`: `step.send_event` of the `pinecone/vectors.upserted` events, at most 100
   documents each, each with an id derived from the run, spec and page, so a retry can never
   duplicate a batch downstream.

The run's output summarises the sync per spec and in total.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import inngest
import pydantic

from appsync.app_settings import AppSettingsSource
from appsync.envelope import EventEnvelope
from appsync.events import (
    APP_SYNC_EVENT,
    SUPPORTED_VERSIONS,
    AppSyncData,
    User,
    WireEvent,
    vectors_event,
)
from appsync.fetching import FetchError, HostPolicy, SpecFetcher
from appsync.openapi import SpecError
from appsync.sync import (
    BATCH_SIZE,
    batch_documents,
    batch_event_id,
    chunk_for_sending,
    load_documents,
    pack_documents,
    unpack_documents,
)

FUNCTION_ID = "sync-openapi-specs"


@dataclass(frozen=True, slots=True)
class SyncOptions:
    """How the function retries and which hosts it may fetch besides the configured ones."""

    retries: int
    retry_delay: timedelta
    allowed_hosts: tuple[str, ...] = ()
    batch_size: int = BATCH_SIZE


@dataclass(frozen=True, slots=True)
class SyncRequest:
    """A validated `openapi/app.sync` event."""

    urls: list[str]
    user: User


def parse_request(event: inngest.Event) -> SyncRequest:
    """Validate the triggering event; raise `NonRetriableError` saying what is wrong."""
    version = (event.v if isinstance(event, WireEvent) else "") or "1"
    if version not in SUPPORTED_VERSIONS:
        raise inngest.NonRetriableError(
            f"unsupported event version v={version!r}: this function reads "
            f"v={', '.join(sorted(SUPPORTED_VERSIONS))} (a missing v means '1')"
        )
    try:
        data = AppSyncData.model_validate(event.data)
    except pydantic.ValidationError as exc:
        problems = "; ".join(
            f"data.{'.'.join(str(p) for p in error['loc'])}: {error['msg']}"
            if error["loc"]
            else str(error["msg"]).removeprefix("Value error, ")
            for error in exc.errors(include_url=False)
        )
        raise inngest.NonRetriableError(f"malformed {APP_SYNC_EVENT} event: {problems}") from None
    top_level = event.user if isinstance(event, WireEvent) else {}
    try:
        user = User.model_validate(top_level) if top_level.get("id") else data.user
    except pydantic.ValidationError:
        user = data.user
    if user is None:
        raise inngest.NonRetriableError(
            "no user found: the event needs a top-level 'user' or 'data.user' with an 'id'"
        )
    return SyncRequest(urls=data.spec_urls(), user=user)


def sync_id(event: inngest.Event) -> str:
    """The sync's id in batch events: the event's time (ms, zero-padded), then its id.

    It sorts by when the sync was sent whatever the event id's format (a server ULID, or a key the
    sender chose), and it is the same on every retry or rerun of the same event.
    """
    return f"{max(event.ts, 0):015d}-{event.id}"


def _failed(url: str, error: str) -> dict[str, Any]:
    return {"url": url, "ok": False, "error": error}


def _fan_out(
    run_id: str,
    loaded: list[Mapping[str, Any]],
    user: User,
    batch_size: int,
    sync: Mapping[str, Any],
) -> tuple[list[dict[str, Any]], list[tuple[WireEvent, int]]]:
    """Per-spec summaries, and the batch events with their sizes, from the loaded specs."""
    specs: list[dict[str, Any]] = []
    outgoing: list[tuple[WireEvent, int]] = []
    for index, spec in enumerate(loaded):
        if not spec["ok"]:
            specs.append(dict(spec))
            continue
        batches = batch_documents(unpack_documents(spec["documents"]), batch_size=batch_size)
        source = {"url": spec["url"], "service": spec["service"], "version": spec["version"]}
        for batch in batches:
            event = vectors_event(
                event_id=batch_event_id(run_id, index, batch.page),
                user=user,
                page=batch.page,
                total=spec["operations"],
                batch_size=batch_size,
                vectors=list(batch.documents),
                source=source,
                sync=sync,
            )
            outgoing.append((event, batch.size))
        specs.append(
            {**source, "ok": True, "operations": spec["operations"], "batches": len(batches)}
        )
    return specs, outgoing


def create(
    client: inngest.Inngest,
    *,
    fetcher: SpecFetcher,
    app_settings: AppSettingsSource,
    options: SyncOptions,
) -> inngest.Function[Any]:
    """Build the `openapi/app.sync` consumer for `client`."""

    async def load_spec(ctx: inngest.Context, url: str, policy: HostPolicy) -> dict[str, Any]:
        try:
            raw = await fetcher.fetch(url, policy)
            loaded = await asyncio.to_thread(load_documents, raw)
        except FetchError as exc:
            if exc.transient and ctx.attempt < options.retries:
                raise inngest.RetryAfterError(str(exc), options.retry_delay) from None
            attempts = f" (after {ctx.attempt + 1} attempts)" if exc.transient else ""
            return _failed(url, f"{exc.reason}{attempts}")
        except SpecError as exc:
            return _failed(url, f"invalid spec: {exc}")
        return {
            "url": url,
            "ok": True,
            "service": loaded.service,
            "version": loaded.version,
            "operations": len(loaded.documents),
            "documents": pack_documents(loaded.documents),
        }

    @client.create_function(
        fn_id=FUNCTION_ID,
        name="Sync OpenAPI specs",
        trigger=inngest.TriggerEvent(event=APP_SYNC_EVENT),
        retries=options.retries,
        middleware=[EventEnvelope],
    )
    async def sync_openapi_specs(ctx: inngest.Context) -> dict[str, Any]:
        request = parse_request(ctx.event)
        policy = HostPolicy.for_urls(app_settings.load().openapi_urls, options.allowed_hosts)

        loaded: list[Mapping[str, Any]] = []
        for index, url in enumerate(request.urls):
            loaded.append(await ctx.step.run(f"load-spec-{index}", load_spec, ctx, url, policy))

        # For the index consumer's re-sync rules: an id that sorts later for a later sync, and
        # every URL the sync covers (failed ones too: their indexed operations stay).
        sync = {"id": sync_id(ctx.event), "urls": request.urls}
        specs, outgoing = _fan_out(ctx.run_id, loaded, request.user, options.batch_size, sync)
        sent = 0
        for number, chunk in enumerate(chunk_for_sending(outgoing)):
            sent += len(await ctx.step.send_event(f"send-batches-{number}", chunk))

        failed = sum(1 for spec in specs if not spec["ok"])
        return {
            "user": request.user.id,
            "specs": specs,
            "totals": {
                "specs": len(specs),
                "synced": len(specs) - failed,
                "failed": failed,
                "operations": sum(spec.get("operations", 0) for spec in specs),
                "batches": sent,
            },
        }

    return sync_openapi_specs
