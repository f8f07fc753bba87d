"""The real Inngest dev server UI in headless Chromium: Replay and Rerun of a sync, clicked."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from appsync.events import APP_SYNC_EVENT
from harness.app_server import Harness
from harness.browser import Screenshots, monaco_dir, serve_offline
from harness.syncs import PETSTORE, PETSTORE_UIDS, batch_events, trigger, uids

pytestmark = pytest.mark.e2e

UI_TIMEOUT_MS = 30_000


@pytest.fixture
def page(browser: Browser, harness: Harness, inngest_binary: Path) -> Iterator[Page]:
    """A page on the dev server's UI, with Monaco served locally and nothing else leaving."""
    shell = httpx.get(f"{harness.server.url}/events", trust_env=False)
    if 'id="app"' not in shell.text:
        pytest.fail(
            f"{inngest_binary} serves no UI at {harness.server.url}/events "
            f"(HTTP {shell.status_code}, {len(shell.content)} bytes): it was built without it; "
            "scripts/build-inngest builds the binary with its UI"
        )
    try:
        monaco = monaco_dir(inngest_binary)
    except RuntimeError as exc:
        pytest.fail(str(exc))
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(UI_TIMEOUT_MS)
    serve_offline(context, harness.server.url, monaco)
    page = context.new_page()
    yield page
    context.close()


def test_replay_and_rerun_from_the_dev_server_ui(
    harness: Harness, page: Page, screenshots: Screenshots
) -> None:
    """Replay (posting only name and data) and Rerun, clicked in the UI, fan out the same uids."""
    event_id, first_run = trigger(harness, [harness.specs.url(PETSTORE)])
    original = harness.api.event(event_id)
    user = original["user"]
    assert PETSTORE_UIDS == uids(batch_events(harness.api, first_run))

    dialog = _open_replay_dialog(page, harness.server.url, event_id, screenshots)
    with page.expect_request(lambda r: r.method == "POST" and "/e/" in r.url) as sent:
        dialog.locator("button", has_text="Send event").click()
    dialog.wait_for(state="detached")
    response = sent.value.response()
    assert response is not None
    (replay_id,) = response.json()["ids"]

    assert [{"name": APP_SYNC_EVENT, "data": original["data"]}] == sent.value.post_data_json
    assert "user" not in harness.api.event(replay_id)
    replayed = harness.api.wait_for_run(replay_id)
    assert "Completed" == replayed["status"], replayed
    batches = batch_events(harness.api, replayed)
    assert PETSTORE_UIDS == uids(batches)
    assert [user] * len(batches) == [batch["user"] for batch in batches]
    _open_event(page, harness.server.url, replay_id)
    screenshots.take(page, "replayed-event")

    rerun_id = _rerun_from_runs_page(page, harness.server.url, first_run["run_id"], screenshots)
    rerun = harness.api.wait_for_run_id(rerun_id)
    assert (event_id, "Completed") == (rerun["event_id"], rerun["status"]), rerun
    batches = batch_events(harness.api, rerun)
    assert PETSTORE_UIDS == uids(batches)
    assert [user] * len(batches) == [batch["user"] for batch in batches]
    _show_completed_run(page, harness.server.url, rerun_id)
    screenshots.take(page, "rerun-completed")


def _show_completed_run(page: Page, base_url: str, run_id: str) -> None:
    """On the Runs page, wait for the run to show Completed, open it and its output."""
    page.goto(f"{base_url}/runs")
    row = page.locator("tr", has=page.get_by_text(run_id, exact=True))
    expect(row).to_contain_text("Completed", ignore_case=True, timeout=UI_TIMEOUT_MS)
    row.click()
    page.get_by_role("link", name=run_id).wait_for()
    page.get_by_text("Output", exact=True).click()
    expect(page.locator(".monaco-editor").last).to_contain_text(
        '"service": "Swagger Petstore"', timeout=UI_TIMEOUT_MS
    )


def _open_event(page: Page, base_url: str, event_id: str) -> None:
    """On the Events page, expand the newest `openapi/app.sync` event; check it is `event_id`."""
    page.goto(f"{base_url}/events")
    page.get_by_text(APP_SYNC_EVENT, exact=True).first.click()
    page.get_by_text(event_id, exact=True).first.wait_for()
    page.locator(".monaco-editor").first.wait_for()


def _open_replay_dialog(
    page: Page, base_url: str, event_id: str, screenshots: Screenshots
) -> Locator:
    """Open the event and its "Replay event" dialog, its editor rendered; returns the dialog."""
    _open_event(page, base_url, event_id)
    screenshots.take(page, "event")
    page.get_by_role("button", name="Replay event").click()
    # The dialog is portalled: a role lookup misses it, its attribute finds it.
    dialog = page.locator("[role=dialog]")
    dialog.locator(".monaco-editor").wait_for()
    expect(dialog).to_contain_text(APP_SYNC_EVENT, timeout=UI_TIMEOUT_MS)
    screenshots.take(page, "replay-dialog")
    return dialog


def _rerun_from_runs_page(page: Page, base_url: str, run_id: str, screenshots: Screenshots) -> str:
    """On the Runs page, open the run and click "Rerun"; returns the new run's id."""
    page.goto(f"{base_url}/runs")
    page.get_by_text(run_id, exact=True).click()
    rerun = page.get_by_role("button", name="Rerun", exact=True)
    rerun.wait_for()
    screenshots.take(page, "run")
    with page.expect_response(
        lambda r: "/v0/gql" in r.url and "rerun" in (r.request.post_data or "")
    ) as answered:
        rerun.click()
    page.get_by_text("Successfully queued rerun").wait_for()
    screenshots.take(page, "rerun-queued")
    new_id: str = answered.value.json()["data"]["rerun"]
    return new_id
