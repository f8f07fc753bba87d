"""The page at `/` in headless Chromium: sync, search, open an operation; identity; hostile specs.

Two apps: the session's dev-mode app without a secret (the local user; real syncs through the real
Inngest dev server), and, for identity and errors, an app of this module with both auth secrets,
one search admitted at a time, and a seeded index; nothing listens at its Inngest URL, so a sync
from it times out for real (504). The sync route's other failures (502, 500, a 503 that is not
JSON) are handed to the browser as the route words them. Every request that leaves the app's
origin is refused and recorded; none may happen. The page's load and its first search after
typing are measured and printed (not asserted).
"""

from __future__ import annotations

import json
import re
import statistics
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Dialog, Locator, Page, expect

from appsync.app import create_app
from appsync.cli.dev_server import free_port
from appsync.search.embedding import Embedder
from harness.app_server import AppServer, Harness
from harness.browser import PageProblems, Screenshots, refuse_outside
from harness.mcp import seed_index, token_for
from harness.paths import ROOT
from harness.settings import make_settings, shared_model, write_spec_urls
from harness.waiting import wait_until

pytestmark = pytest.mark.e2e

UI_TIMEOUT_MS = 30_000
SYNC_TIMEOUT_MS = 240_000
MUSEUM = "specs/redocly_museum.yaml"
TICKETS = ("POST", "/tickets", "Buy museum tickets", "Redocly Museum API 1.2.1")
SECRET = "page-tests-secret-0123456789abcdef01"
# A cookie made by the real next-auth 4 (tests/data/nextauth_v4_vectors.js) for user-42.
NEXTAUTH: dict[str, Any] = json.loads(
    (ROOT / "tests" / "data" / "nextauth_v4_vectors.json").read_text()
)
# Markup in every field a spec author controls. The HTML-stripping of summaries is undone by the
# escaped form (`&lt;script&gt;` becomes `<script>`): the page must treat all of it as text.
HOSTILE_TITLE = '<img src=x onerror="window.pwned=1">Hostile <b>API</b>'
HOSTILE_PATH = "/widgets/<script>window.pwned=3</script>"
HOSTILE_TAG = "<img src=x onerror=window.pwned=7>"
HOSTILE_PARAMETER = "<svg onload=window.pwned=8>"
HOSTILE_FIELD = "<img src=x onerror=window.pwned=10>"
HOSTILE_SPEC = {
    "openapi": "3.0.3",
    "info": {"title": HOSTILE_TITLE, "version": "1.0"},
    "servers": [{"url": "https://hostile.example/<script>window.pwned=2</script>"}],
    "paths": {
        HOSTILE_PATH: {
            "post": {
                "operationId": "wreckWidget",
                "summary": "&lt;script&gt;window.pwned=4&lt;/script&gt; Wreck a hostile widget "
                "&lt;img src=x onerror=window.pwned=5&gt;",
                "description": "<script>window.pwned=6</script> &lt;b&gt;Hostile&lt;/b&gt;.",
                "tags": [HOSTILE_TAG],
                "parameters": [
                    {
                        "name": HOSTILE_PARAMETER,
                        "in": "query",
                        "schema": {"type": "string"},
                        "description": "&lt;iframe src=javascript:window.pwned=9&gt;",
                    }
                ],
                "requestBody": {
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {HOSTILE_FIELD: {"type": "string"}},
                            }
                        }
                    }
                },
                "responses": {"200": {"description": "&lt;i&gt;window.pwned=11&lt;/i&gt;"}},
            }
        }
    },
}
ACTIVE_MARKUP = "img, script, svg, iframe, b, object, embed"


@dataclass
class Tab:
    """A page in a fresh browser context, with what it tried to fetch elsewhere and its errors."""

    page: Page
    refused: list[str]
    problems: PageProblems

    def check_clean(self) -> None:
        """Nothing left the origin; no uncaught error or console error."""
        assert ([], []) == (self.refused, self.problems.found)


@pytest.fixture
def open_tab(browser: Browser) -> Iterator[Callable[[str], Tab]]:
    """Opens a tab on an app's base URL (its own context: cookies and sessionStorage apart)."""
    contexts: list[BrowserContext] = []

    def open_on(base_url: str) -> Tab:
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        context.set_default_timeout(UI_TIMEOUT_MS)
        contexts.append(context)
        refused = refuse_outside(context, base_url)
        page = context.new_page()
        return Tab(page, refused, PageProblems(page))

    yield open_on
    for context in contexts:
        context.close()


def _spec_urls(harness: Harness) -> list[str]:
    """The app's own spec, the museum, and the hostile spec (served by the spec server)."""
    hostile = harness.specs.put("hostile.json", json.dumps(HOSTILE_SPEC).encode())
    return [f"{harness.app.url}/openapi.json", harness.specs.url(MUSEUM), hostile]


def _indexed(http: httpx.Client, sync_id: str) -> dict[str, Any] | None:
    """The sync's status once it completed and every operation it synced is indexed."""
    status: dict[str, Any] = http.get(f"/api/openapi/sync/{sync_id}").json()
    assert status["status"] in {"queued", "running", "completed"}, status
    done = status["status"] == "completed" and status["indexed"] == status["totals"]["operations"]
    return status if done else None


@pytest.fixture(scope="module")
def indexed(harness: Harness) -> dict[str, Any]:
    """The local user's index holds the app's own spec, the museum and the hostile spec.

    Synced through the API (the page's own sync is the subject of a test): its final status.
    """
    harness.set_spec_urls(_spec_urls(harness))
    response = harness.http.post("/api/openapi/sync", json={"data": "data"})
    assert 200 == response.status_code, response.text
    (sync_id,) = response.json()["ids"]
    return wait_until(
        lambda: _indexed(harness.http, sync_id),
        timeout=SYNC_TIMEOUT_MS / 1000,
        what=f"sync {sync_id} completed and indexed",
        interval=0.5,
    )


def _ready(tab: Tab, base_url: str) -> Page:
    """Load the page and wait until it has asked the API who the caller is (services listed)."""
    tab.page.goto(f"{base_url}/")
    tab.page.locator("body[data-ready]").wait_for()
    return tab.page


def _result(page: Page, index: int = 0) -> Locator:
    return page.locator("#results button.result").nth(index)


def _expect_first_is_the_ticket_operation(page: Page) -> None:
    first = _result(page)
    for text in TICKETS:
        expect(first).to_contain_text(text)
    expect(first.locator(".method")).to_have_class(re.compile(r"\bmethod-post\b"))
    expect(first.locator(".tag")).to_have_text(["Tickets"])


def test_sync_now_follows_the_sync_live_then_search_and_open_an_operation(
    harness: Harness, open_tab: Callable[[str], Tab], screenshots: Screenshots
) -> None:
    """Sync now → progress to completed, all indexed; "buy tickets" → the museum's ticket sale."""
    harness.set_spec_urls(_spec_urls(harness))
    tab = open_tab(harness.app.url)
    page = _ready(tab, harness.app.url)
    status_reads: list[str] = []
    page.on("requestfinished", lambda request: status_reads.append(request.url))

    page.get_by_role("button", name="Sync now").click()
    state = page.locator("#sync-state")
    expect(state).to_contain_text(re.compile(r"^(Queued|Running|Completed)"))
    screenshots.take(page, "sync-started")
    expect(state).to_contain_text("Completed: 3 of 3 specs done", timeout=SYNC_TIMEOUT_MS)
    expect(state).to_contain_text(
        re.compile(r"All \d+ operations indexed\."), timeout=SYNC_TIMEOUT_MS
    )
    screenshots.take(page, "sync-completed")
    specs_meter, indexed_meter = page.locator("#sync-specs"), page.locator("#sync-indexed")
    assert ("3", "3") == (specs_meter.get_attribute("value"), specs_meter.get_attribute("max"))
    assert indexed_meter.get_attribute("value") == indexed_meter.get_attribute("max")
    expect(page.locator("#sync-spec-list li.spec.ok")).to_have_count(3)
    # Followed by polling, not read once.
    assert len([url for url in status_reads if "/api/openapi/sync/" in url]) >= 2, status_reads
    expect(page.locator("#services-list li")).to_have_count(3)
    expect(page.locator("#services-list")).to_contain_text("Redocly Museum API")
    expect(page.locator("#services-list")).to_contain_text("8 operations")
    expect(page.locator("#services-list")).to_contain_text("synced ")

    page.get_by_label("Search operations").press_sequentially("buy tickets", delay=30)
    _expect_first_is_the_ticket_operation(page)
    _result(page).click()
    card = page.locator("#card-body")
    expect(page.locator("#card-title")).to_contain_text("/tickets")
    expect(page.locator("#card-title")).to_be_focused()
    expect(card).to_contain_text("POST https://redocly.com/_mock/docs/openapi/museum-api/tickets")
    fields = card.get_by_role("table", name="Request body fields")
    for field in ("ticketType", "ticketDate", "email", "eventId"):
        expect(fields.get_by_role("rowheader", name=field)).to_be_visible()
    expect(card.get_by_role("table", name="Responses")).to_contain_text("201")
    screenshots.take(page, "results-and-card")

    page.get_by_label("Method", exact=True).select_option("GET")
    expect(_result(page)).to_contain_text("Get ticket QR code")
    expect(page.locator("#results .method")).to_have_text(["GET"] * _count(page))
    page.get_by_label("Method", exact=True).select_option("")
    page.get_by_label("Service", exact=True).select_option("appsync")
    expect(page.locator("#results .service-name").first).to_contain_text("appsync 0.1.0")
    expect(page.locator("#results")).not_to_contain_text("Redocly Museum API")

    # As a person comes back to it (docs/page-search.png is this screenshot, quantized).
    page.set_viewport_size({"width": 1280, "height": 860})
    _ready(tab, harness.app.url)
    page.get_by_label("Search operations").fill("buy tickets")
    _expect_first_is_the_ticket_operation(page)
    _result(page).click()
    expect(page.locator("#card-title")).to_be_focused()
    screenshots.take(page, "page-with-results")
    tab.check_clean()


def _count(page: Page) -> int:
    return page.locator("#results button.result").count()


def test_a_sync_superseded_by_a_newer_one_ends_cancelled_naming_it(
    harness: Harness, indexed: dict[str, Any], open_tab: Callable[[str], Tab]
) -> None:
    """Sync now waits on a spec; a newer sync of the user: the page says cancelled, and by which."""
    del indexed
    gate = f"page-cancel-{time.time_ns()}"
    urls = _spec_urls(harness)
    harness.set_spec_urls([harness.specs.url(f"gate/{gate}/{MUSEUM}"), *urls])
    tab = open_tab(harness.app.url)
    page = _ready(tab, harness.app.url)
    page.get_by_role("button", name="Sync now").click()
    state = page.locator("#sync-state")
    expect(state).to_contain_text("Running: 0 of 4 specs done", timeout=SYNC_TIMEOUT_MS)

    harness.set_spec_urls(urls)
    response = harness.http.post("/api/openapi/sync", json={"data": "data"})
    assert 200 == response.status_code, response.text
    (newer,) = response.json()["ids"]
    try:
        expect(state).to_contain_text("Cancelled", timeout=SYNC_TIMEOUT_MS)
        expect(page.locator("#sync-message")).to_have_text(
            f"cancelled: superseded by the newer sync {newer} of the same user (one sync per "
            "user at a time)"
        )
    finally:
        harness.specs.open_gate(gate)
    wait_until(
        lambda: _indexed(harness.http, newer),
        timeout=SYNC_TIMEOUT_MS / 1000,
        what=f"sync {newer} completed and indexed",
        interval=0.5,
    )
    tab.check_clean()


def test_the_keyboard_alone_reaches_and_opens_a_result(
    harness: Harness, indexed: dict[str, Any], open_tab: Callable[[str], Tab]
) -> None:
    """Tab to the search box, type, Tab to the first result, Enter: its card, focused; Escape."""
    del indexed
    tab = open_tab(harness.app.url)
    page = _ready(tab, harness.app.url)
    order: list[str] = []

    def focused() -> str:
        return str(
            page.evaluate("() => document.activeElement.id || document.activeElement.className")
        )

    for _ in range(5):
        page.keyboard.press("Tab")
        order.append(focused())
        if order[-1] == "q":
            break
    assert ["sync-now", "q"] == order
    page.keyboard.type("buy tickets")
    _expect_first_is_the_ticket_operation(page)
    for _ in range(4):
        page.keyboard.press("Tab")
        order.append(focused())
        if order[-1].startswith("result"):
            break
    assert ["sync-now", "q", "service", "method", "result"] == order
    expect(_result(page)).to_be_focused()

    page.keyboard.press("Enter")
    expect(page.locator("#card-title")).to_be_focused()
    expect(page.locator("#card-title")).to_contain_text("/tickets")
    expect(page.locator("#card-body")).to_contain_text("ticketType")
    page.keyboard.press("Escape")
    expect(_result(page)).to_be_focused()
    expect(page.locator("#card-body")).to_be_hidden()
    page.keyboard.press("ArrowDown")
    expect(_result(page, 1)).to_be_focused()
    tab.check_clean()


def test_a_hostile_spec_is_shown_as_text_and_runs_nothing(
    harness: Harness, indexed: dict[str, Any], open_tab: Callable[[str], Tab]
) -> None:
    """Markup in a spec's title, path, summary, tags, parameters and fields stays text."""
    del indexed
    tab = open_tab(harness.app.url)
    page = _ready(tab, harness.app.url)
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)

    query = "wreck a hostile widget"
    hit = harness.http.get("/api/operations/search", params={"q": query}).json()["results"][0]
    assert "<script" in hit["summary"], hit  # what the API hands the page: markup in the text
    assert "<img src=x onerror=" in hit["summary"], hit

    expect(page.locator("#services-list")).to_contain_text(HOSTILE_TITLE)
    page.get_by_label("Search operations").fill(query)
    result = _result(page)
    expect(result.locator(".summary")).to_have_text(hit["summary"])
    expect(result.locator(".path")).to_have_text(HOSTILE_PATH)
    expect(result.locator(".tag")).to_have_text([HOSTILE_TAG])
    expect(result.locator(".service-name")).to_have_text(f"{HOSTILE_TITLE} 1.0")
    result.click()
    card = page.locator("#card-body")
    expect(card.get_by_role("table", name="Parameters")).to_contain_text(HOSTILE_PARAMETER)
    expect(card.get_by_role("table", name="Request body fields")).to_contain_text(HOSTILE_FIELD)
    expect(card).to_contain_text("https://hostile.example/<script>window.pwned=2</script>")

    assert 0 == page.locator(f"#results :is({ACTIVE_MARKUP})").count()
    assert 0 == page.locator(f"#card-body :is({ACTIVE_MARKUP})").count()
    assert 0 == page.locator(f"#services-list :is({ACTIVE_MARKUP})").count()
    assert page.evaluate("() => window.pwned") is None
    assert [] == dialogs
    tab.check_clean()


def test_page_load_and_first_search_times(
    harness: Harness,
    indexed: dict[str, Any],
    open_tab: Callable[[str], Tab],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Measured, not asserted: page load p50 (20 loads) and first search after typing (10)."""
    del indexed
    tab = open_tab(harness.app.url)
    page = tab.page
    loads: list[float] = []
    ready: list[float] = []
    for _ in range(20):
        _ready(tab, harness.app.url)
        timing = page.evaluate(
            "() => [performance.getEntriesByType('navigation')[0].loadEventEnd,"
            " performance.getEntriesByName('appsync:ready')[0].startTime]"
        )
        loads.append(timing[0])
        ready.append(timing[1])
    searches: list[float] = []
    for _ in range(10):
        _ready(tab, harness.app.url)
        page.get_by_label("Search operations").press_sequentially("buy tickets", delay=40)
        _expect_first_is_the_ticket_operation(page)
        last_input, rendered = page.evaluate(
            "() => [performance.getEntriesByName('appsync:input').at(-1).startTime,"
            " performance.getEntriesByName('appsync:results')[0].startTime]"
        )
        searches.append(rendered - last_input)
    tab.check_clean()
    with capsys.disabled():
        print(  # noqa: T201
            f"\npage load p50 {statistics.median(loads):.0f} ms (load event), "
            f"{statistics.median(ready):.0f} ms (services listed), over {len(loads)} loads; "
            f"first search after the last keystroke p50 {statistics.median(searches):.0f} ms "
            f"(max {max(searches):.0f} ms, {len(searches)} fresh pages, 200 ms debounce included)"
        )


@dataclass
class AuthApp:
    """An app with both auth secrets: alice and user-42 (the cookie's) each have a spec."""

    server: AppServer
    secret: str

    @property
    def url(self) -> str:
        """Its base URL."""
        return self.server.url


@pytest.fixture(scope="module")
def auth_app(embedder: Embedder, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthApp]:
    """The app with both auth secrets, one search at a time, its index seeded, Inngest down."""
    workdir = tmp_path_factory.mktemp("auth-app")
    museum_url = "http://127.0.0.1:9/specs/redocly_museum.yaml"
    write_spec_urls(workdir / ".env", [museum_url])
    settings = make_settings(
        inngest_dev=f"http://127.0.0.1:{free_port()}",  # nothing listens: a sync is a real 502
        env_file_path=workdir / ".env",
        jwt_secret=SECRET,
        nextauth_secret=NEXTAUTH["secret"],
        data_dir=workdir / "data",
        send_timeout=2.0,
        max_searches=1,
    )
    uber_url = museum_url.replace("redocly_museum.yaml", "oai_uber_swagger2.json")
    seeds = [
        ("alice", "redocly_museum.yaml", museum_url),
        (NEXTAUTH["user"]["sub"], "oai_uber_swagger2.json", uber_url),
    ]
    # seed_index runs its own event loop: not on this thread, where Playwright's loop runs.
    with ThreadPoolExecutor(1) as pool:
        for user, spec, url in seeds:
            pool.submit(seed_index, settings.resolved_index_url, user, spec, url).result()
    with AppServer(lambda: create_app(settings, services=shared_model(embedder))) as server:
        yield AuthApp(server, SECRET)


def _sign_in(page: Page, token: str) -> None:
    page.get_by_label("Bearer token").fill(token)
    page.get_by_role("button", name="Use this token").click()


def test_without_credentials_the_page_asks_for_them_and_shows_nothing(
    auth_app: AuthApp, open_tab: Callable[[str], Tab]
) -> None:
    """No token and no cookie: the 401 as a sentence, the token field focused, no data."""
    tab = open_tab(auth_app.url)
    page = _ready(tab, auth_app.url)

    message = page.locator("#signin-message")
    expect(message).to_have_text(
        "Sign in to see your operations: this service needs credentials (missing credentials: "
        "send 'Authorization: Bearer <JWT>' signed with APPSYNC_JWT_SECRET, or the next-auth "
        "session cookie). Paste a bearer token below, or sign in to the app on this site so "
        "that its session cookie is sent."
    )
    expect(page.get_by_label("Bearer token")).to_be_focused()
    page.get_by_label("Search operations").fill("buy tickets")
    expect(message).to_be_visible()
    expect(page.locator("#results li")).to_have_count(0)
    expect(page.locator("body")).not_to_contain_text("Redocly")
    tab.check_clean()


def test_a_valid_token_shows_its_users_operations_and_stays_in_the_tab(
    auth_app: AuthApp, open_tab: Callable[[str], Tab], screenshots: Screenshots
) -> None:
    """A refused token says why; alice's token: her museum; kept in sessionStorage only."""
    tab = open_tab(auth_app.url)
    page = _ready(tab, auth_app.url)

    _sign_in(page, token_for("another-secret-0123456789abcdef0123", "alice"))
    expect(page.locator("#signin-message")).to_have_text(
        "The token was refused (the bearer token's signature does not verify). Paste a valid "
        "token, or forget it to use the app's session cookie instead."
    )
    token = token_for(auth_app.secret, "alice")
    _sign_in(page, token)
    expect(page.locator("#signin")).to_be_hidden()
    expect(page.locator("#services-list")).to_contain_text("Redocly Museum API")
    page.get_by_label("Search operations").fill("buy tickets")
    _expect_first_is_the_ticket_operation(page)
    screenshots.take(page, "alice")

    stored = page.evaluate("() => [sessionStorage.getItem('appsync.token'), localStorage.length]")
    assert [token, 0] == stored
    assert [] == page.context.cookies()
    other_tab = page.context.new_page()  # same browser, another tab: no token there
    other_tab.goto(f"{auth_app.url}/")
    expect(other_tab.locator("#signin-message")).to_contain_text("Sign in to see your operations")
    other_tab.close()

    page.get_by_role("button", name="Forget the token").click()
    expect(page.locator("#signin-message")).to_contain_text("Sign in to see your operations")
    expect(page.locator("#results li")).to_have_count(0)
    expect(page.locator("#services-list li")).to_have_count(0)
    tab.check_clean()


def test_someone_who_synced_nothing_is_told_how_to_sync(
    auth_app: AuthApp, open_tab: Callable[[str], Tab]
) -> None:
    """Bob's index is empty: a friendly line saying to press Sync now, nothing of alice's."""
    tab = open_tab(auth_app.url)
    page = _ready(tab, auth_app.url)
    _sign_in(page, token_for(auth_app.secret, "bob"))

    expect(page.locator("#services-status")).to_have_text("Nothing synced yet.")
    expect(page.locator("#search-status")).to_contain_text("Your index is empty: press Sync now")
    page.get_by_label("Search operations").fill("buy tickets")
    expect(page.locator("#search-status")).to_contain_text("Your index is empty: press Sync now")
    expect(page.locator("#results li")).to_have_count(0)
    tab.check_clean()


def test_the_apps_session_cookie_works_as_is(
    auth_app: AuthApp, open_tab: Callable[[str], Tab]
) -> None:
    """A next-auth session cookie of this site: user-42's Uber spec, no token, none of alice's."""
    tab = open_tab(auth_app.url)
    tab.page.context.add_cookies(
        [{"name": "next-auth.session-token", "value": NEXTAUTH["valid"], "url": auth_app.url}]
    )
    page = _ready(tab, auth_app.url)

    expect(page.locator("#services-list")).to_contain_text("Uber API")
    expect(page.locator("#signin")).to_be_hidden()
    page.get_by_label("Search operations").fill("price estimates")
    expect(_result(page)).to_contain_text("Uber API")
    expect(page.locator("body")).not_to_contain_text("Redocly")
    tab.check_clean()


def test_an_invalid_search_and_an_overloaded_service_read_as_sentences(
    auth_app: AuthApp, open_tab: Callable[[str], Tab]
) -> None:
    """A query too long: the 422's reason; every search place taken: busy, then it retries."""
    tab = open_tab(auth_app.url)
    page = _ready(tab, auth_app.url)
    _sign_in(page, token_for(auth_app.secret, "alice"))
    status = page.locator("#search-status")

    page.get_by_label("Search operations").fill("tickets " * 70)
    expect(status).to_have_text("The search could not run: q is 559 characters long; at most 512.")

    # The app admits one search at a time (APPSYNC_MAX_SEARCHES=1): the test takes the place.
    with auth_app.server.app.state.registry.services.searcher.admission.admit():
        page.get_by_label("Search operations").fill("buy tickets")
        expect(status).to_have_text(
            "The service is busy with other searches right now; trying again in 1 second."
        )
        expect(page.locator("#results li")).to_have_count(0)
    _expect_first_is_the_ticket_operation(page)
    expect(page.locator("body")).not_to_contain_text('{"error"')
    tab.check_clean()


def test_a_sync_the_inngest_server_does_not_take_reads_as_a_sentence(
    auth_app: AuthApp, open_tab: Callable[[str], Tab]
) -> None:
    """Sync now while nothing listens at the Inngest URL: the route's real 504, as a sentence."""
    tab = open_tab(auth_app.url)
    page = _ready(tab, auth_app.url)
    _sign_in(page, token_for(auth_app.secret, "alice"))
    expect(page.locator("#services-list")).to_contain_text("Redocly Museum API")

    page.get_by_role("button", name="Sync now").click()

    expect(page.locator("#sync-state")).to_have_text(
        re.compile(
            r"The Inngest server did not confirm the sync in time: it may or may not have been "
            r"stored\. Sending it again is safe\. The service said: the Inngest server at "
            r"http://127\.0\.0\.1:\d+ did not accept the event within 2 s "
            r"\(APPSYNC_SEND_TIMEOUT\)\."
        )
    )
    expect(page.locator("#sync")).to_have_attribute("data-state", "error")
    expect(page.get_by_role("button", name="Sync now")).to_be_enabled()
    expect(page.locator("body")).not_to_contain_text('{"error"')
    tab.check_clean()


@pytest.mark.parametrize(
    ("status", "body", "sentence"),
    [
        (
            502,
            {
                "error": "event_not_sent",
                "message": "the Inngest server at http://inngest:8288 did not accept the event: "
                "Event key not found (check INNGEST_EVENT_KEY)",
            },
            (
                "The sync was not sent: the Inngest server refused it or could not be reached. The "
                "service said: the Inngest server at http://inngest:8288 did not accept the event: "
                "Event key not found (check INNGEST_EVENT_KEY)."
            ),
        ),
        (
            500,
            {
                "error": "invalid_app_settings",
                "message": "invalid app settings file /app/.env line 3: not valid UTF-8 text",
            },
            (
                "No sync was sent: the service's app settings are invalid (fix them; no restart is "
                "needed). The service said: invalid app settings file /app/.env line 3: not "
                "valid UTF-8 text."
            ),
        ),
        (503, None, "The service is unavailable right now."),
    ],
    ids=["502", "500", "503-not-json"],
)
def test_each_failed_sync_reads_as_a_sentence(
    auth_app: AuthApp,
    open_tab: Callable[[str], Tab],
    status: int,
    body: dict[str, str] | None,
    sentence: str,
) -> None:
    """The route's other failures, handed to the browser as the route words them: no raw JSON."""
    tab = open_tab(auth_app.url)
    page = _ready(tab, auth_app.url)
    _sign_in(page, token_for(auth_app.secret, "alice"))
    expect(page.locator("#services-list")).to_contain_text("Redocly Museum API")
    page.route(
        "**/api/openapi/sync",
        lambda route: route.fulfill(
            status=status,
            content_type="application/json" if body else "text/plain",
            body=json.dumps(body) if body else "Service Unavailable",
        ),
    )

    page.get_by_role("button", name="Sync now").click()

    expect(page.locator("#sync-state")).to_have_text(sentence)
    expect(page.locator("body")).not_to_contain_text('{"error"')
    tab.check_clean()
