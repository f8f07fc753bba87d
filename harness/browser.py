"""Headless Chromium (Debian's package) driving web pages offline: the Inngest UI, this service's.

The Inngest dev server UI loads its code editor (Monaco) and its fonts from public CDNs at run
time. Here every request that leaves the dev server is answered locally: Monaco's files from the
copy that `scripts/build-inngest` keeps next to the binary (the workspace's
`monaco-editor/min/vs`), and everything else (fonts) is refused, so fonts fall back to the
system's. This service's page needs nothing from elsewhere: `refuse_outside` refuses and records
every request that leaves its origin, and `PageProblems` records what went wrong in the page.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import BrowserContext, ConsoleMessage, Error, Page, Route

CHROMIUM_VARIABLE = "APPSYNC_CHROMIUM_BIN"
ARTIFACTS_VARIABLE = "APPSYNC_ARTIFACTS_DIR"
_MONACO_MARKER = "/min/vs/"


def chromium_binary() -> Path:
    """Chromium: `$APPSYNC_CHROMIUM_BIN`, else `chromium` on the PATH, if it answers `--version`."""
    value = os.environ.get(CHROMIUM_VARIABLE) or shutil.which("chromium")
    if not value:
        raise RuntimeError(
            f"no Chromium: set {CHROMIUM_VARIABLE} or install Debian's chromium "
            "(scripts/install-browser does, and prints its path)"
        )
    try:
        subprocess.run(  # noqa: S603 - the browser the tests drive
            [value, "--version"], check=True, capture_output=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise RuntimeError(f"{CHROMIUM_VARIABLE}={value} does not run: {exc}") from exc
    return Path(value)


def monaco_dir(inngest_binary: Path) -> Path:
    """The `vs` folder of Monaco that `scripts/build-inngest` copied next to the binary."""
    vs = inngest_binary.parent / "monaco" / "vs"
    if not (vs / "loader.js").is_file():
        raise RuntimeError(
            f"no Monaco files at {vs}: {inngest_binary} was not built with its UI; "
            "run scripts/build-inngest (it builds the UI and keeps Monaco there)"
        )
    return vs


def serve_offline(context: BrowserContext, base_url: str, monaco: Path) -> list[str]:
    """Answer every request outside `base_url` locally; returns the refused URLs as they come."""
    refused: list[str] = []
    root = monaco.resolve()

    def handle(route: Route) -> None:
        url = route.request.url
        path = urlsplit(url).path
        if _MONACO_MARKER in path:
            file = (root / path.split(_MONACO_MARKER, 1)[1]).resolve()
            if file.is_relative_to(root) and file.is_file():
                route.fulfill(path=file)
                return
        refused.append(url)
        route.abort()

    context.route(lambda url: not url.startswith(f"{base_url}/"), handle)
    return refused


def refuse_outside(context: BrowserContext, base_url: str) -> list[str]:
    """Refuse every request of `context` that leaves `base_url`; returns their URLs as they come."""
    refused: list[str] = []

    def handle(route: Route) -> None:
        refused.append(route.request.url)
        route.abort()

    context.route(lambda url: not url.startswith(f"{base_url}/"), handle)
    return refused


class PageProblems:
    """What went wrong in a page: uncaught errors and console errors (a refused load aside).

    Chromium logs every HTTP error a `fetch` gets ("Failed to load resource: ... 401"): the page
    answers those itself, so they are not problems; anything else logged as an error is.
    """

    def __init__(self, page: Page) -> None:
        self.found: list[str] = []
        page.on("pageerror", self._on_error)
        page.on("console", self._on_console)

    def _on_error(self, error: Error) -> None:
        self.found.append(f"uncaught: {error}")

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.found.append(f"console: {message.text}")


class Screenshots:
    """Numbered full-page screenshots of each step, in one folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.taken: list[Path] = []
        folder.mkdir(parents=True, exist_ok=True)

    def take(self, page: Page, name: str) -> Path:
        """Save the page as `<n>-<name>.png` and return its path."""
        path = self.folder / f"{len(self.taken) + 1:02d}-{name}.png"
        page.screenshot(path=path, animations="disabled")
        self.taken.append(path)
        return path
