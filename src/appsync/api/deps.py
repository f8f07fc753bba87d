"""Named dependencies: routes read like sentences (`user: CurrentUser`).

They are `async def` on purpose: FastAPI runs plain `def` dependencies in a thread pool, which
costs more than the work they do (a stat of the .env file, a JWT check).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from appsync.auth import request_user
from appsync.messaging.sender import EventSender
from appsync.metrics import Metrics
from appsync.search.catalog import Catalog
from appsync.search.searcher import Searcher
from appsync.services import Registry, Services
from appsync.settings.app_settings import AppSettings
from appsync.sync.status import SyncStatuses
from appsync.users import User

_bearer = HTTPBearer(auto_error=False, description="HS256 JWT signed with APPSYNC_JWT_SECRET")


async def get_services(request: Request) -> Services:
    """The services the app's lifespan built."""
    registry: Registry = request.app.state.registry
    return registry.services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_app_settings(services: ServicesDep) -> AppSettings:
    """The app settings as they are now (re-read when their source changed)."""
    return services.app_settings.load()


async def get_event_sender(services: ServicesDep) -> EventSender:
    """The bounded-time event sender."""
    return services.sender


async def get_searcher(services: ServicesDep) -> Searcher:
    """Search over the operations index."""
    return services.searcher


async def get_catalog(services: ServicesDep) -> Catalog:
    """The user's cards and specs."""
    return services.catalog


async def get_metrics(services: ServicesDep) -> Metrics:
    """The app's Prometheus metrics."""
    return services.metrics


async def get_sync_statuses(services: ServicesDep) -> SyncStatuses:
    """What a sync's status is read from."""
    return services.sync_statuses


async def get_current_user(
    request: Request,
    services: ServicesDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    """The verified user, or the local user while no auth secret is configured (dev mode)."""
    # `bearer` declares the scheme in the OpenAPI document; `request_user` reads the header, as
    # the MCP endpoint does, so that both accept exactly the same credentials.
    del bearer
    return request_user(
        services.authenticator,
        services.settings.local_user,
        request.headers.get("authorization"),
        request.cookies,
    )


AppSettingsDep = Annotated[AppSettings, Depends(get_app_settings)]
EventSenderDep = Annotated[EventSender, Depends(get_event_sender)]
CurrentUser = Annotated[User, Depends(get_current_user)]
SearcherDep = Annotated[Searcher, Depends(get_searcher)]
CatalogDep = Annotated[Catalog, Depends(get_catalog)]
SyncStatusesDep = Annotated[SyncStatuses, Depends(get_sync_statuses)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
