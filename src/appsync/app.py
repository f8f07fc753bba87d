"""The composition root: settings → Inngest client → functions → routes → `serve(...)`.

Only this module imports `functions`; only the ASGI entry point, the CLI and tests import it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import inngest
import inngest.fast_api
from fastapi import FastAPI

import appsync
from appsync.api.errors import install_error_handlers
from appsync.api.routes import health, search, sync
from appsync.api.services import Services
from appsync.app_settings import AppSettingsSource
from appsync.auth import Authenticator
from appsync.config import Mode, ServiceSettings, load_service_settings, reveal
from appsync.confirm import StoredEvents
from appsync.embedding import Embedder
from appsync.events import APP_SYNC_EVENT
from appsync.fetching import SpecFetcher
from appsync.index.factory import IndexHandle, describe
from appsync.inngest_client import create_inngest_client
from appsync.logs import redact_secrets_in_logs
from appsync.search import Searcher
from appsync.sender import EventSender
from functions import SyncOptions, create_functions

logger = logging.getLogger(__name__)


def create_app(
    settings: ServiceSettings | None = None,
    client: inngest.Inngest | None = None,
    embedder: Embedder | None = None,
) -> FastAPI:
    """Build the service; settings and client default to ones read from the environment.

    The embedding model loads on first use, once per `Embedder`: pass one to share it.
    """
    settings = settings if settings is not None else load_service_settings()
    redact_secrets_in_logs(settings.secrets())
    client = client if client is not None else create_inngest_client(settings)

    app_settings = AppSettingsSource(
        settings.env_file_path, default_urls=[f"{settings.self_url}/openapi.json"]
    )
    app_settings.load()  # invalid app settings stop the start, naming the variable
    fetcher = SpecFetcher(
        max_bytes=settings.max_spec_bytes,
        timeout=settings.fetch_timeout,
        max_redirects=settings.max_redirects,
    )
    stored = (
        StoredEvents(
            client.api_origin,
            APP_SYNC_EVENT,
            signing_key=reveal(settings.inngest_signing_key),
        )
        if settings.confirm_stored
        else None
    )
    authenticator = Authenticator(
        jwt_secret=reveal(settings.jwt_secret), nextauth_secret=reveal(settings.nextauth_secret)
    )
    embedder = embedder if embedder is not None else Embedder()
    index = IndexHandle(settings.resolved_index_url, dimensions=embedder.info.dimensions)
    services = Services(
        settings=settings,
        app_settings=app_settings,
        sender=EventSender(
            client=client,
            timeout=settings.send_timeout,
            server=client.event_api_origin,
            secrets=settings.secrets(),
            concurrency=settings.send_concurrency,
            stored=stored,
        ),
        authenticator=authenticator,
        searcher=Searcher(index=index, embedder=embedder),
    )
    functions = create_functions(
        client,
        fetcher=fetcher,
        app_settings=app_settings,
        options=SyncOptions(
            retries=settings.retries,
            retry_delay=timedelta(seconds=settings.retry_delay),
            allowed_hosts=tuple(settings.allowed_spec_hosts),
        ),
        index=index,
        embedder=embedder,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if settings.mode is Mode.DEV and not authenticator.enabled:
            logger.warning(
                "no APPSYNC_JWT_SECRET or NEXTAUTH_SECRET: anonymous POSTs sync as the local "
                "user %r (dev mode only; production mode refuses to start like this)",
                settings.local_user.id,
            )
        logger.info(
            "appsync %s in %s mode, Inngest at %s",
            appsync.__version__,
            settings.mode.value,
            client.api_origin,
        )
        await index.open()  # a bad APPSYNC_INDEX_URL or index file stops the start
        logger.info("operations index at %s", describe(index.url))
        try:
            yield
        finally:
            await index.close()
            await fetcher.aclose()
            if stored is not None:
                await stored.aclose()

    app = FastAPI(
        title="appsync",
        version=appsync.__version__,
        description="Syncs an app's OpenAPI specs into vector-index documents through Inngest.",
        lifespan=lifespan,
    )
    app.state.services = services
    install_error_handlers(app)
    app.include_router(sync.router)
    app.include_router(search.router)
    app.include_router(health.router)
    inngest.fast_api.serve(app, client, functions)
    return app
