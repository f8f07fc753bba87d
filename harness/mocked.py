"""The SDK's mocked Inngest client for function tests (`inngest.experimental.mocked`)."""

from __future__ import annotations

import inngest
from inngest.experimental import mocked


class RecordingClient(mocked.Inngest):
    """The SDK's mock client, keeping what the function sends."""

    def __init__(self) -> None:
        super().__init__(app_id="appsync-test", is_production=False)
        self.sent: list[inngest.Event] = []

    async def send(
        self,
        events: inngest.Event | list[inngest.Event],
        *,
        skip_middleware: bool = False,  # noqa: ARG002 - the overridden signature
    ) -> list[str]:
        """Record the events and answer with one id each."""
        batch = events if isinstance(events, list) else [events]
        self.sent.extend(batch)
        return [f"id-{len(self.sent) - len(batch) + n}" for n in range(len(batch))]
