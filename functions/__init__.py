"""The Inngest functions this service serves, built per client (no module-level client)."""

from __future__ import annotations

from typing import Any

import inngest

from appsync.services import Registry
from functions import index_operations, sync_openapi
from functions.sync_openapi import SyncOptions

__all__ = ["SyncOptions", "create_functions"]


def create_functions(
    client: inngest.Inngest,
    registry: Registry,
    *,
    options: SyncOptions,
) -> list[inngest.Function[Any]]:
    """Every function of the app, bound to `client`."""
    return [
        sync_openapi.create(client, lambda: registry.services, options=options),
        index_operations.create(
            client,
            lambda: registry.services,
            options=index_operations.IndexOptions(retries=options.retries),
        ),
    ]
