"""The Inngest functions this service serves, built per client (no module-level client)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import inngest

from functions import index_operations, sync_openapi
from functions.index_operations import IndexOptions, IndexServices
from functions.sync_openapi import SyncOptions, SyncServices

__all__ = ["IndexOptions", "SyncOptions", "create_functions"]


class FunctionServices(SyncServices, IndexServices, Protocol):
    """What the functions use of the running app (`appsync.services.Services` has it all)."""


def create_functions(
    client: inngest.Inngest,
    services: Callable[[], FunctionServices],
    *,
    options: SyncOptions,
    index_options: IndexOptions | None = None,
) -> list[inngest.Function[Any]]:
    """Every function of the app, bound to `client`; `services()` gives the running ones.

    The index consumer retries as often as the sync function unless `index_options` says more.
    """
    return [
        sync_openapi.create(client, services, options=options),
        index_operations.create(
            client, services, options=index_options or IndexOptions(retries=options.retries)
        ),
    ]
