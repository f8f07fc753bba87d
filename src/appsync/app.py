"""The composition root: settings → Inngest client → functions → routes → `serve(...)`.

`create_app` only wires; the services (sender, storage poller, fetcher, ...) are built by the
lifespan on the app's event loop and reached through one `Registry`, by the REST routes, the
Inngest functions and the MCP endpoint (`/mcp`) alike. Only this module imports
`functions`; only the ASGI entry point, the CLI and tests import it.
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
from appsync.api.routes import (
    health,
    metrics,
    operations,
    page,
    search,
    sync,
    synced_specs,
    well_known,
)
from appsync.logs import secrets_scrubbed
from appsync.mcp_server import McpEndpoint
from appsync.messaging.client import create_inngest_client
from appsync.messaging.guard import SignedInngestCalls
from appsync.services import Registry, ServicesFactory, start_services
from appsync.settings.app_settings import AppSettingsSource
from appsync.settings.service import Mode, ServiceSettings, load_service_settings
from functions import IndexOptions, SyncOptions, create_functions

logger = logging.getLogger(__name__)

INNGEST_PATH = "/api/inngest"


def create_app(
    settings: ServiceSettings | None = None,
    client: inngest.Inngest | None = None,
    services: ServicesFactory = start_services,
) -> FastAPI:
    """Wire the service; settings and client default to ones read from the environment.

    Call it on the thread that will run the event loop (uvicorn's): the SDK's async HTTP client
    works only on the thread that created the Inngest client, and elsewhere falls back to a
    thread pool. `services` builds the long-lived services when the app starts (the operations
    index, the embedding model, ...): pass `functools.partial(start_services, embedder=...)` to
    share one model between apps of one process.
    """
    settings = settings if settings is not None else load_service_settings()
    client = client if client is not None else create_inngest_client(settings)
    own_spec = f"{settings.self_url}/openapi.json"
    app_settings = AppSettingsSource(settings.env_file_path, default_urls=[own_spec])
    # Invalid app settings stop the start, naming the variable.
    syncs_own_spec = own_spec in app_settings.load().openapi_urls
    docs = _serves_api_docs(settings, syncs_own_spec=syncs_own_spec)
    registry = Registry()
    mcp = McpEndpoint(
        lambda: registry.services, public_url=settings.self_url, allowed_hosts=settings.mcp_hosts
    )
    functions = create_functions(
        client,
        lambda: registry.services,
        options=SyncOptions(
            retries=settings.retries,
            retry_delay=timedelta(seconds=settings.retry_delay),
            allowed_hosts=tuple(settings.allowed_spec_hosts),
        ),
        index_options=IndexOptions(retries=settings.retries, share_vectors=settings.share_vectors),
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        with secrets_scrubbed(settings.secrets()):
            async with services(settings, client, app_settings) as built, mcp.running():
                with registry.serving(built):
                    if settings.mode is Mode.DEV and not built.authenticator.enabled:
                        logger.warning(
                            "no APPSYNC_JWT_SECRET or NEXTAUTH_SECRET: anonymous POSTs sync as "
                            "the local user %r (dev mode only; production mode refuses to start "
                            "like this)",
                            settings.local_user.id,
                        )
                    logger.info(
                        "appsync %s in %s mode, Inngest at %s",
                        appsync.__version__,
                        settings.mode.value,
                        client.api_origin,
                    )
                    yield

    app = FastAPI(
        title="appsync",
        version=appsync.__version__,
        description="Syncs an app's OpenAPI specs into vector-index documents through Inngest.",
        lifespan=lifespan,
        openapi_url="/openapi.json" if docs else None,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
    )
    app.state.registry = registry
    install_error_handlers(app)
    app.include_router(sync.router)
    app.include_router(search.router)
    app.include_router(operations.router)  # after search: `/{uid:path}` would take `/search`
    app.include_router(synced_specs.router)
    app.include_router(health.router)
    app.include_router(page.router)
    app.include_router(well_known.router)
    app.router.routes.append(mcp.route)
    app.include_router(metrics.router)
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


def _serves_api_docs(settings: ServiceSettings, *, syncs_own_spec: bool) -> bool:
    """Whether `/docs`, `/redoc` and `/openapi.json` are served (`APPSYNC_API_DOCS`).

    They need no credentials, so production serves them only when asked to, or when the sync reads
    this service's own spec (the default app settings do).
    """
    if settings.api_docs != "auto":
        serve = settings.api_docs == "true"
    else:
        serve = settings.mode is Mode.DEV or syncs_own_spec
    if syncs_own_spec and not serve:
        logger.warning(
            "APPSYNC_API_DOCS=false, but the app settings sync this service's own /openapi.json, "
            "which is then not served: that spec's sync will fail"
        )
    return serve
