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
from appsync.api.routes import health, sync
from appsync.api.services import Services
from appsync.app_settings import AppSettingsSource
from appsync.auth import Authenticator
from appsync.config import Mode, ServiceSettings, load_service_settings, reveal
from appsync.confirm import StoredEvents
from appsync.events import APP_SYNC_EVENT
from appsync.fetching import SpecFetcher
from appsync.inngest_client import create_inngest_client
from appsync.inngest_guard import SignedInngestCalls
from appsync.logs import redact_secrets_in_logs
from appsync.sender import EventSender
from functions import SyncOptions, create_functions

logger = logging.getLogger(__name__)

INNGEST_PATH = "/api/inngest"


def create_app(
    settings: ServiceSettings | None = None,
    client: inngest.Inngest | None = None,
) -> FastAPI:
    """Build the service; settings and client default to ones read from the environment."""
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
        try:
            yield
        finally:
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
    app.include_router(health.router)
    production = settings.mode is Mode.PRODUCTION
    inngest.fast_api.serve(
        app,
        client,
        functions,
        # The URL the server calls comes from configuration, never from a request's Host header,
        # and in production only a signed PUT may (re)register the app.
        serve_origin=settings.self_url,
        serve_path=INNGEST_PATH,
        enable_unauthed_sync=not production,
    )
    if production:
        app.add_middleware(SignedInngestCalls, path=INNGEST_PATH)
    return app
