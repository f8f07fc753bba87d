"""The Inngest server as tests and the benchmark run it: `inngest dev` or `inngest start`.

`inngest dev` may persist; the self-hosted `inngest start` takes signing and event keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Self

from appsync.cli.dev_server import DevServer, InngestServerError
from harness.inngest_api import SENTINEL_EVENT, InngestApi
from harness.processes import note_started

# How long one sentinel event may take to be stored before another is sent (`taking_events`).
SENTINEL_WAIT = 2.0


@dataclass
class InngestServer(DevServer):
    """`inngest dev` (optionally `--persist`) or `inngest start`, on free loopback ports."""

    kind: Literal["dev", "start"] = "dev"
    signing_key: str | None = None
    event_keys: tuple[str, ...] = ()
    persist: bool = False

    @property
    def mode(self) -> str:
        """The server command: `dev` or `start`."""
        return self.kind

    @property
    def sqlite_dir(self) -> Path:
        """Where `inngest start` (and `dev --persist`) keep their database."""
        return self.workdir / "state"

    def start(self, timeout: float = 60.0) -> Self:
        """Start the server process (see `DevServer.start`), noting it for the fast subset.

        `inngest start` also has to store an event before this returns (`wait_taking_events`).
        """
        note_started(f"inngest {self.kind}")
        super().start(timeout)
        if self.kind == "start":
            self.wait_taking_events(timeout)
        return self

    def wait_taking_events(self, timeout: float) -> None:
        """Return once the server stores what it accepts; else `InngestServerError` after `timeout`.

        `inngest start` (v1.44.0) answers `/health`, and accepts events, a few milliseconds before
        its runner subscribes to the event stream: an event accepted then is answered with an id
        and dropped ("message sent to topic with no subscribers" in its log). So a sentinel event
        (no function listens to it) is sent until one is stored.
        """
        api = InngestApi(self.url, signing_key=self.signing_key)
        try:
            for _ in range(max(1, int(timeout / SENTINEL_WAIT))):
                (sentinel,) = api.send({"name": SENTINEL_EVENT, "data": {}}, key=self.event_keys[0])
                try:
                    api.event(sentinel, timeout=SENTINEL_WAIT)
                except AssertionError:
                    continue
                return
        finally:
            api.close()
        what = f"inngest start at {self.url} stored no event within {timeout:g} s"
        raise InngestServerError(what)

    def mode_arguments(self) -> list[str]:
        """Persistence for `dev --persist`; keys, a database and no UI for `start`.

        `inngest start` serves its UI and GraphQL API without credentials; `--no-ui` turns both
        off, as every production deployment of this service must (docs/security.md).
        """
        if self.kind == "dev":
            persist = ["--persist", "--sqlite-dir", str(self.sqlite_dir)] if self.persist else []
            return [*super().mode_arguments(), *persist]
        if not self.signing_key or not self.event_keys:
            raise InngestServerError("inngest start needs a signing key and an event key")
        args = ["--no-ui", "--signing-key", self.signing_key, "--sqlite-dir", str(self.sqlite_dir)]
        for key in self.event_keys:
            args += ["--event-key", key]
        return args
