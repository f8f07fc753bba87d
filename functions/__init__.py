"""The Inngest functions this service serves, built per client (no module-level client)."""

from __future__ import annotations

from typing import Any

import inngest

from appsync.app_settings import AppSettingsSource
from appsync.embedding import Embedder
from appsync.fetching import SpecFetcher
from appsync.index.base import OperationIndex
from functions import index_operations, sync_openapi
from functions.sync_openapi import SyncOptions

__all__ = ["SyncOptions", "create_functions"]


def create_functions(
    client: inngest.Inngest,
    *,
    fetcher: SpecFetcher,
    app_settings: AppSettingsSource,
    options: SyncOptions,
    index: OperationIndex,
    embedder: Embedder,
) -> list[inngest.Function[Any]]:
    """Every function of the app, bound to `client`."""
    return [
        sync_openapi.create(client, fetcher=fetcher, app_settings=app_settings, options=options),
        index_operations.create(
            client,
            index=index,
            embedder=embedder,
            options=index_operations.IndexOptions(retries=options.retries),
        ),
    ]
