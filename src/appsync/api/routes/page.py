"""`GET /` and `GET /ui/<file>`: the page for people, its scripts, style and icon.

The files ship in this package (`appsync/page/`): plain HTML, CSS and JavaScript modules, no build
step, nothing from another host. The page calls only this service's REST API, with the caller's
own credentials (docs/page.md). Every answer carries a strict Content-Security-Policy: scripts and
styles from this origin only (no inline code, no eval), no HTML sinks (Trusted Types), requests to
this origin only, no framing. No CORS headers: other sites still cannot read the API.
"""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import PurePosixPath

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from appsync.api.errors import ErrorBody

router = APIRouter(tags=["page"], include_in_schema=False)

PAGE = "index.html"
ASSETS = frozenset({"page.js", "api.js", "page.css", "icon.svg"})
_MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; "
    "require-trusted-types-for 'script'; trusted-types 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    # Revalidated on every load (a cheap 304): a new release's page is never mixed with old files.
    "Cache-Control": "no-cache",
}


def page_file(name: str) -> bytes:
    """The bytes of one of the page's files, from this package."""
    return (resources.files("appsync") / "page" / name).read_bytes()


def _serve(request: Request, name: str) -> Response:
    body = page_file(name)
    etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
    headers = SECURITY_HEADERS | {"ETag": etag}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    media_type = _MEDIA_TYPES[PurePosixPath(name).suffix]
    return Response(body, media_type=media_type, headers=headers)


@router.api_route("/", methods=["GET", "HEAD"])
async def page(request: Request) -> Response:
    """The page: search the synced operations, open one, sync and watch it."""
    return _serve(request, PAGE)


@router.api_route("/ui/{name}", methods=["GET", "HEAD"])
async def page_asset(name: str, request: Request) -> Response:
    """One of the page's files (scripts, style, icon); nothing else is served from here."""
    if name not in ASSETS:
        body = ErrorBody(error="not_found", message=f"no page file {name[:100]!r}")
        return JSONResponse(body.model_dump(), status_code=404, headers=SECURITY_HEADERS)
    return _serve(request, name)
