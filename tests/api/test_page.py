"""`GET /` and `/ui/<file>`: the page's files, their headers, and what they may not do."""

from __future__ import annotations

import re
import subprocess
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient

from appsync.api.routes.page import ASSETS, CONTENT_SECURITY_POLICY, PAGE, page_file
from harness.paths import ROOT

PAGE_FILES = sorted(ASSETS | {PAGE})


class _Markup(HTMLParser):
    """Every start tag of a document, with its attributes, and the text inside <script>."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.script_text = ""
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.script_text += data


def test_the_page_is_served_with_a_strict_content_security_policy(
    museum_app: TestClient,
) -> None:
    """Scripts and styles from this origin only, no HTML sinks, no framing, no sniffing."""
    response = museum_app.get("/")

    assert 200 == response.status_code
    assert response.headers["content-type"].startswith("text/html")
    policy = dict(
        directive.strip().split(" ", 1) for directive in CONTENT_SECURITY_POLICY.split(";")
    )
    assert {
        "default-src": "'none'",
        "script-src": "'self'",
        "style-src": "'self'",
        "img-src": "'self'",
        "connect-src": "'self'",
        "base-uri": "'none'",
        "form-action": "'none'",
        "frame-ancestors": "'none'",
        "require-trusted-types-for": "'script'",
        "trusted-types": "'none'",
    } == policy
    assert CONTENT_SECURITY_POLICY == response.headers["content-security-policy"]
    assert "nosniff" == response.headers["x-content-type-options"]
    assert "DENY" == response.headers["x-frame-options"]
    assert "no-referrer" == response.headers["referrer-policy"]


def test_the_page_has_no_inline_script_style_or_handler() -> None:
    """Every script is a file of this origin; no inline code, handlers or style attributes."""
    markup = _Markup()
    markup.feed(page_file(PAGE).decode())

    scripts = [attrs for tag, attrs in markup.tags if tag == "script"]
    assert [{"type": "module", "src": "/ui/page.js"}] == scripts
    assert "" == markup.script_text.strip()
    assert [] == [
        (tag, name)
        for tag, attrs in markup.tags
        for name in attrs
        if name.startswith("on") or name == "style"
    ]
    assert [] == [tag for tag, _ in markup.tags if tag == "style"]


@pytest.mark.parametrize("name", PAGE_FILES)
def test_no_page_file_refers_to_another_host(name: str) -> None:
    """No URL of another host (CDN, font, script) in any of the page's files."""
    # An SVG's namespace is a name, not a request.
    text = page_file(name).decode().replace('xmlns="http://www.w3.org/2000/svg"', "")

    assert [] == re.findall(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, flags=re.IGNORECASE)


@pytest.mark.parametrize("name", sorted(n for n in PAGE_FILES if n.endswith(".js")))
def test_the_scripts_never_write_html(name: str) -> None:
    """Text goes in as text: no innerHTML, outerHTML, insertAdjacentHTML, document.write, eval."""
    text = page_file(name).decode()

    sinks = r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function"
    assert [] == re.findall(sinks, text)


@pytest.mark.parametrize(
    ("name", "media_type"),
    [
        ("page.js", "text/javascript"),
        ("api.js", "text/javascript"),
        ("page.css", "text/css"),
        ("icon.svg", "image/svg+xml"),
    ],
)
def test_each_asset_is_served_with_its_type_and_the_same_headers(
    museum_app: TestClient, name: str, media_type: str
) -> None:
    """The page's files, nosniff and the policy on each."""
    response = museum_app.get(f"/ui/{name}")

    assert 200 == response.status_code
    assert response.headers["content-type"].startswith(media_type)
    assert page_file(name) == response.content
    assert "nosniff" == response.headers["x-content-type-options"]
    assert CONTENT_SECURITY_POLICY == response.headers["content-security-policy"]


@pytest.mark.parametrize(
    "path", ["/ui/index.html", "/ui/nope.js", "/ui/..%2Fapp.py", "/ui/%2E%2E%2Fpage.js", "/ui/"]
)
def test_nothing_else_is_served_from_the_page_folder(museum_app: TestClient, path: str) -> None:
    """Only the listed files: anything else is a JSON 404 (or no route at all)."""
    response = museum_app.get(path)

    assert 404 == response.status_code
    assert "not_found" == response.json().get("error", "not_found")


def test_an_unchanged_file_is_a_304(museum_app: TestClient) -> None:
    """The ETag revalidates: the browser keeps its copy until the file changes."""
    etag = museum_app.get("/ui/page.js").headers["etag"]

    response = museum_app.get("/ui/page.js", headers={"If-None-Match": etag})

    assert (304, b"") == (response.status_code, response.content)


def test_head_answers_like_get_without_a_body(museum_app: TestClient) -> None:
    """HEAD / is 200 with the same headers (what link checkers and probes send)."""
    response = museum_app.head("/")

    assert (200, b"") == (response.status_code, response.content)
    assert CONTENT_SECURITY_POLICY == response.headers["content-security-policy"]


def test_the_page_needs_no_credentials_and_holds_no_data(
    museum_app: TestClient, alice_headers: dict[str, str]
) -> None:
    """With a secret set, / is the same for anyone: the data comes later, from the API."""
    anonymous = museum_app.get("/")
    alice = museum_app.get("/", headers=alice_headers)

    assert (200, anonymous.content) == (alice.status_code, alice.content)
    assert b"Redocly" not in anonymous.content


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("OPTIONS", "/api/operations/search?q=tickets"),
        ("GET", "/api/operations/search"),  # a 422 before any search: the model stays unloaded
        ("GET", "/api/services"),
        ("OPTIONS", "/api/openapi/sync"),
        ("GET", "/"),
    ],
)
def test_no_cross_origin_access_is_granted(
    museum_app: TestClient, alice_headers: dict[str, str], method: str, path: str
) -> None:
    """No CORS headers, preflight or not: another site's script cannot read or call the API."""
    headers = alice_headers | {
        "Origin": "https://evil.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization",
    }

    response = museum_app.request(method, path, headers=headers)

    assert [] == [name for name in response.headers if name.lower().startswith("access-control")]


def test_the_page_files_ship_in_the_wheel() -> None:
    """None of them is git-ignored: hatch leaves ignored files out of wheels (and the image)."""
    folder = ROOT / "src" / "appsync" / "page"
    result = subprocess.run(  # noqa: S603 - fixed arguments
        ["git", "check-ignore", "--no-index", *(str(folder / n) for n in PAGE_FILES)],  # noqa: S607
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )

    assert all((folder / name).is_file() for name in PAGE_FILES)
    assert (1, "") == (result.returncode, result.stdout)  # 1: none ignored
