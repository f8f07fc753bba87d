"""Fixtures of the browser tests: Playwright's driver, Debian's Chromium, a screenshot folder."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Error, Playwright, sync_playwright

from harness.browser import ARTIFACTS_VARIABLE, Screenshots, chromium_binary


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    """Playwright's driver (a Node process that ships in the wheel; no browser download)."""
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Headless Chromium from Debian's package; the test fails, saying why, if it cannot start."""
    try:
        executable = chromium_binary()
        browser = playwright.chromium.launch(executable_path=executable, headless=True)
    except (RuntimeError, Error) as exc:
        pytest.fail(f"the browser cannot start: {exc}")
    yield browser
    browser.close()


@pytest.fixture
def screenshots(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    capsys: pytest.CaptureFixture[str],
) -> Screenshots:
    """A folder for this test's screenshots, named in the test output."""
    value = os.environ.get(ARTIFACTS_VARIABLE)
    root = Path(value) if value else tmp_path_factory.mktemp("ui")
    shots = Screenshots(root / request.node.name)
    with capsys.disabled():
        print(f"\nscreenshots of {request.node.name}: {shots.folder}")  # noqa: T201
    return shots
