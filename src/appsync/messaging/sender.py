"""Sending events from a request handler: bounded in time, failures named, secrets scrubbed."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

import inngest

from appsync.events import WireEvent
from appsync.logs import scrub
from appsync.messaging.storage_poller import StoragePoller
from appsync.metrics import Metrics

logger = logging.getLogger(__name__)


class EventNotSentError(Exception):
    """The Inngest server did not accept the event; `status` is the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class EventSender:
    """Sends events with the SDK client and never reports success for an unaccepted event.

    - At most `concurrency` sends are in flight at once; the others wait (inside the timeout).
      The SDK's HTTP pool scans every connection and queued request on each send, so letting
      all concurrent POSTs through at once costs more CPU per event and lowers throughput.
    - With a `poller`, success also waits until the server has stored the event (see
      `appsync.messaging.storage_poller`); the whole send, confirmation included, is bounded
      by `timeout`.
    """

    client: inngest.Inngest
    timeout: float
    server: str
    secrets: list[str]
    concurrency: int = 8
    poller: StoragePoller | None = None
    metrics: Metrics = field(default_factory=Metrics)
    _gate: asyncio.Semaphore = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_gate", asyncio.Semaphore(self.concurrency))

    async def send(self, event: WireEvent) -> list[str]:
        """Send one event; return the server's ids or raise `EventNotSentError`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        ids = await self._send(event, deadline)
        if self.poller is not None:
            try:
                async with asyncio.timeout_at(deadline):
                    acknowledged = loop.time()
                    await self.poller.wait(ids[0])
                    self.metrics.storage_confirmed(loop.time() - acknowledged)
            except TimeoutError:
                last = self.poller.last_error
                checked = (
                    f"the last check failed: {last}"
                    if last
                    else "the server's event list did not show it yet"
                )
                raise self._failure(
                    504,
                    f"the Inngest server at {self.server} accepted the event {ids[0]} but did "
                    f"not list it as stored within {self.timeout:g} s (APPSYNC_SEND_TIMEOUT; "
                    f"{checked}). It may or may not have been stored: if it was, its sync runs. "
                    "Sending again is safe: a repeated sync of the same specs leaves the index "
                    "as one sync does.",
                ) from None
        self.metrics.sync_requested(200)
        return ids

    async def _send(self, event: WireEvent, deadline: float) -> list[str]:
        try:
            async with asyncio.timeout_at(deadline), self._gate:
                ids = await self.client.send(event)
        except TimeoutError:
            raise self._failure(
                504,
                f"the Inngest server at {self.server} did not accept the event within "
                f"{self.timeout:g} s (APPSYNC_SEND_TIMEOUT)",
            ) from None
        except Exception as exc:  # noqa: BLE001 - any failure of the send is a 5xx, never success
            # The SDK retries transport errors and 5xx itself, then raises its (private)
            # SendEventsError with the server's message, e.g. "Event key not found".
            hint = " (check INNGEST_EVENT_KEY)" if "key" in str(exc).lower() else ""
            raise self._failure(
                502,
                f"the Inngest server at {self.server} did not accept the event: {exc}{hint}",
            ) from None
        if len(ids) != 1 or not ids[0]:
            raise self._failure(
                502, f"the Inngest server at {self.server} answered without an event id"
            )
        return ids

    def _failure(self, status: int, message: str) -> EventNotSentError:
        message = scrub(message, self.secrets)
        logger.warning("event not sent: %s", message)
        self.metrics.sync_requested(status)
        return EventNotSentError(status, message)
