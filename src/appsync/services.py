"""The long-lived services of one app, built on its event loop by the lifespan and closed after it.

Routes reach them through `appsync.api.deps`, functions through the `Registry` they are given; a
test swaps any of them by handing `create_app` another `ServicesFactory`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Protocol

import inngest

from appsync.auth import Authenticator
from appsync.events import APP_SYNC_EVENT, SYNC_FUNCTION_ID, VECTORS_UPSERTED_EVENT
from appsync.index.base import Store, SyncJournal
from appsync.index.factory import open_index
from appsync.index.urls import describe
from appsync.messaging.clock import warn_if_skewed
from appsync.messaging.credentials import api_headers
from appsync.messaging.sender import EventSender
from appsync.messaging.storage_poller import StoragePoller
from appsync.metrics import Metrics
from appsync.search.catalog import Catalog
from appsync.search.embedding import Embedder
from appsync.search.searcher import Admission, Searcher
from appsync.settings.app_settings import AppSettingsSource
from appsync.settings.keys import reveal
from appsync.settings.service import ServiceSettings
from appsync.sync.fetching import SpecFetcher
from appsync.sync.redelivery import Redeliverer
from appsync.sync.signing import BatchSigner
from appsync.sync.status import SyncStatuses, SyncStatusReader

logger = logging.getLogger(__name__)

BATCH_KEY_NAME = "batch-signing"


@dataclass(frozen=True, slots=True)
class Services:
    """What routes and functions use while the app runs."""

    settings: ServiceSettings
    app_settings: AppSettingsSource
    authenticator: Authenticator
    sender: EventSender
    fetcher: SpecFetcher
    sync_statuses: SyncStatuses
    index: Store
    journal: SyncJournal
    batch_signer: BatchSigner
    batch_storage: StoragePoller | None
    embedder: Embedder
    searcher: Searcher
    catalog: Catalog
    metrics: Metrics


class StoreOpener(Protocol):
    """Opens the store an index URL names (`appsync.index.factory.open_index`)."""

    async def __call__(self, url: str, *, dimensions: int) -> Store:
        """The open store at `url`, for vectors of `dimensions`."""
        ...


ServicesFactory = Callable[
    [ServiceSettings, inngest.Inngest, AppSettingsSource], AbstractAsyncContextManager[Services]
]


@asynccontextmanager
async def start_services(
    settings: ServiceSettings,
    client: inngest.Inngest,
    app_settings: AppSettingsSource,
    *,
    embedder: Embedder | None = None,
    open_store: StoreOpener = open_index,
) -> AsyncIterator[Services]:
    """Build the services on the running event loop; close them when the block ends.

    The embedding model loads on first use, once per `Embedder`; pass one to share it. The store
    is `open_store(APPSYNC_INDEX_URL, dimensions=...)` (tests pass another opener to wrap it). A
    bad `APPSYNC_INDEX_URL` or index file stops the start.
    """
    embedder = embedder if embedder is not None else Embedder()
    metrics = Metrics()
    signing_key = reveal(settings.inngest_signing_key)
    await warn_if_skewed(client.api_origin)
    async with contextlib.AsyncExitStack() as opened:  # closes what was opened, whatever fails
        index = await open_store(settings.resolved_index_url, dimensions=embedder.info.dimensions)
        opened.push_async_callback(index.close)
        logger.info("operations index at %s", describe(settings.resolved_index_url))
        # Batches are signed with a key derived from the signing key, which every replica has;
        # without one (dev mode), with a key kept in the index, which every replica shares.
        signer = (
            BatchSigner.from_signing_key(signing_key)
            if signing_key
            else BatchSigner(await index.shared_key(BATCH_KEY_NAME))
        )
        fetcher = SpecFetcher(
            max_bytes=settings.max_spec_bytes,
            timeout=settings.fetch_timeout,
            max_redirects=settings.max_redirects,
        )
        opened.push_async_callback(fetcher.aclose)
        poller = batch_poller = None
        if settings.confirms_storage:
            poller = StoragePoller(client.api_origin, APP_SYNC_EVENT, signing_key=signing_key)
            opened.push_async_callback(poller.aclose)
            metrics.watch_storage(poller.waiting, poller.lag)
            # The sync function's batch events, acknowledged but not stored yet, are lost too
            # when the server stops: a spec is done only once they are listed.
            batch_poller = StoragePoller(
                client.api_origin, VECTORS_UPSERTED_EVENT, signing_key=signing_key
            )
            opened.push_async_callback(batch_poller.aclose)
        sync_status = SyncStatusReader(
            client.api_origin,
            api_headers(signing_key),
            timeout=settings.send_timeout,
            app_id=settings.app_id,
            function_slug=f"{settings.app_id}-{SYNC_FUNCTION_ID}",
        )
        opened.push_async_callback(sync_status.aclose)
        delay = settings.redelivery_delay
        if delay is not None:
            await _start_redelivery(
                opened,
                Redeliverer(
                    reader=sync_status,
                    journal=index,
                    send=client.send,
                    after=delay,
                    window=settings.stall_after,
                    metrics=metrics,
                    index=index,
                ),
                interval=max(1.0, delay / 3),
            )
        yield Services(
            settings=settings,
            app_settings=app_settings,
            authenticator=Authenticator.from_settings(settings),
            sender=EventSender(
                client=client,
                timeout=settings.send_timeout,
                server=client.event_api_origin,
                secrets=settings.secrets(),
                concurrency=settings.send_concurrency,
                poller=poller,
                metrics=metrics,
            ),
            fetcher=fetcher,
            sync_statuses=SyncStatuses(
                reader=sync_status,
                journal=index,
                index=index,
                stall_after=settings.stall_after,
                signer=signer,
            ),
            index=index,
            journal=index,
            batch_signer=signer,
            batch_storage=batch_poller,
            embedder=embedder,
            searcher=Searcher(
                index=index,
                embedder=embedder,
                admission=Admission(settings.max_searches),
                metrics=metrics,
            ),
            catalog=Catalog(index=index),
            metrics=metrics,
        )


async def _start_redelivery(
    opened: contextlib.AsyncExitStack, redeliverer: Redeliverer, interval: float
) -> None:
    """Run the redelivery sweep in the background until the services close."""
    task = asyncio.create_task(redeliverer.run(interval), name="appsync-redelivery")

    async def stop() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    opened.push_async_callback(stop)
    logger.info(
        "sync events stored but not run after %g s are sent again (APPSYNC_REDELIVER_AFTER)",
        redeliverer.after,
    )


class Registry:
    """Where routes and functions find the running app's services."""

    def __init__(self) -> None:
        self._services: Services | None = None

    @property
    def services(self) -> Services:
        """The services of the running app; `RuntimeError` before its lifespan has started."""
        if self._services is None:
            raise RuntimeError("the app's services are not running: its lifespan has not started")
        return self._services

    @contextmanager
    def serving(self, services: Services) -> Iterator[Services]:
        """Hand out `services` until the block ends."""
        self._services = services
        try:
            yield services
        finally:
            self._services = None
