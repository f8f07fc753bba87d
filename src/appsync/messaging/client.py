"""The Inngest client, built from settings with the mode passed explicitly."""

from __future__ import annotations

import logging
from datetime import timedelta

import inngest

from appsync.settings.keys import reveal
from appsync.settings.service import Mode, ServiceSettings


def create_inngest_client(settings: ServiceSettings) -> inngest.Inngest:
    """A client in the settings' mode, pointed at `INNGEST_BASE_URL` (or the dev URL) if set.

    Production mode without a base URL talks to Inngest Cloud, as the SDK does. Build it on
    the thread that will run the event loop (the CLI does): the SDK's async HTTP client only
    works on the thread that created it, and elsewhere it falls back to a thread pool.
    """
    url = settings.inngest_url
    return inngest.Inngest(
        app_id=settings.app_id,
        is_production=settings.mode is Mode.PRODUCTION,
        api_base_url=url,
        event_api_base_url=url,
        event_key=reveal(settings.inngest_event_key),
        signing_key=reveal(settings.inngest_signing_key),
        request_timeout=timedelta(seconds=settings.send_timeout),
        logger=logging.getLogger("appsync.inngest"),
    )
