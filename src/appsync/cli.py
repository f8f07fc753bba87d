"""The `appsync` command: `serve`, `dev`, `preview` and `search`.

Each command imports what it uses when it runs, so that `appsync preview FILE` does not pay for
the web stack's imports (a third of a second).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from appsync.openapi import SpecError
from appsync.sync import document_json, load_documents

if TYPE_CHECKING:
    import uvicorn

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="appsync",
        description="Sync an app's OpenAPI specs into vector-index documents through Inngest.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="run the service (routes and Inngest functions) against a configured Inngest server",
        description="Run the HTTP service: POST /api/openapi/sync, and the Inngest functions at "
        "/api/inngest. Configuration comes from the environment and .env (see README).",
    )
    serve.add_argument("--host", help="interface to bind (default: APPSYNC_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to bind (default: APPSYNC_PORT or 8000)")

    dev = commands.add_parser(
        "dev",
        help="run the service together with a local Inngest dev server",
        description="Start `inngest dev` on --inngest-port, synced with this service, then serve. "
        "The dev UI is at http://127.0.0.1:<inngest-port>.",
    )
    dev.add_argument("--host", default="127.0.0.1", help="interface to bind (default: 127.0.0.1)")
    dev.add_argument("--port", type=int, default=8000, help="service port (default: 8000)")
    dev.add_argument("--inngest-port", type=int, default=8288, help="dev server port (8288)")
    dev.add_argument("--inngest-bin", help="Inngest server binary (default: $APPSYNC_INNGEST_BIN)")

    preview = commands.add_parser(
        "preview",
        help="print the documents a sync would produce from one spec",
        description="Print the documents a sync would produce from SPEC, one JSON object per "
        "line ({uid, text, metadata}), using the same code as the Inngest function. SPEC is a "
        "file path or an http(s) URL (fetched with the service's size and time limits; "
        "redirects only within the same host).",
    )
    preview.add_argument("spec", metavar="SPEC", help="a spec file path or an http(s) URL")

    search = commands.add_parser(
        "search",
        help="search the synced operations in the local index",
        description="Hybrid search of the operations index this service keeps (APPSYNC_INDEX_URL, "
        "default <APPSYNC_DATA_DIR>/index.sqlite3), as GET /api/operations/search does. Prints one "
        "line per operation, best first.",
    )
    search.add_argument("query", metavar="QUERY", help="what the operation should do, in words")
    search.add_argument("--k", type=int, default=10, help="how many results, 1..100 (10)")
    search.add_argument("--service", help="only this service (the spec's title)")
    search.add_argument(
        "--user", help="whose operations (default: the id of APPSYNC_LOCAL_USER, local-dev)"
    )
    search.add_argument("--json", action="store_true", help="print the API's JSON instead")
    return parser


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from appsync.app import create_app
    from appsync.config import load_service_settings

    overrides: dict[str, Any] = {}
    if args.host is not None:
        overrides["host"] = args.host
    if args.port is not None:
        overrides["port"] = args.port
    settings = load_service_settings(**overrides)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None)
    return 0


def _dev(args: argparse.Namespace) -> int:
    import signal
    import tempfile
    import threading

    import uvicorn

    from appsync.app import create_app
    from appsync.config import load_service_settings
    from appsync.devserver import (
        InngestServer,
        InngestServerError,
        Ports,
        find_binary,
        port_is_free,
    )

    binary = find_binary(args.inngest_bin)
    if not port_is_free(args.inngest_port):
        raise InngestServerError(
            f"port {args.inngest_port} is in use: stop what runs there or pass --inngest-port"
        )
    app_url = f"http://{'127.0.0.1' if args.host in {'0.0.0.0', '::'} else args.host}:{args.port}"  # noqa: S104
    with tempfile.TemporaryDirectory(prefix="appsync-dev-") as workdir:
        server = InngestServer(
            binary=binary,
            workdir=Path(workdir),
            mode="dev",
            sdk_urls=(f"{app_url}/api/inngest",),
            ports=Ports.pick(args.inngest_port),
        )
        settings = load_service_settings(
            host=args.host, port=args.port, inngest_dev=server.url, public_url=app_url
        )
        # uvicorn re-raises SIGTERM after its shutdown; make that an exit that stops the server.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
        with server:
            log = logging.getLogger("appsync")
            log.info("Inngest dev server at %s (UI), log %s", server.url, server.log_path)
            app_server = uvicorn.Server(
                uvicorn.Config(
                    create_app(settings), host=args.host, port=args.port, log_config=None
                )
            )
            threading.Thread(
                target=_sync_when_started, args=(app_server, app_url, log), daemon=True
            ).start()
            app_server.run()
    return 0


def _sync_when_started(app_server: uvicorn.Server, app_url: str, log: logging.Logger) -> None:
    """Register the app as soon as it serves, so that the first POST already has a consumer."""
    import time

    import httpx

    deadline = time.monotonic() + 30
    while not app_server.started:
        if time.monotonic() > deadline or app_server.should_exit:
            return
        time.sleep(0.05)
    try:
        body = httpx.put(f"{app_url}/api/inngest", timeout=10, trust_env=False).json()
    except (httpx.HTTPError, ValueError) as exc:
        log.warning("could not sync the app with the dev server yet: %s", exc)
        return
    if body.get("ok") is False:
        log.warning("the dev server did not register the app yet: %s", body)
        return
    log.info(
        "ready: curl -X POST %s/api/route -H 'Content-Type: application/json' -d '{}'", app_url
    )


def _preview(args: argparse.Namespace) -> int:
    spec: str = args.spec
    if spec.startswith(("http://", "https://")):
        import asyncio

        from appsync.config import load_service_settings
        from appsync.fetching import HostPolicy, SpecFetcher

        settings = load_service_settings(inngest_dev="1")
        fetcher = SpecFetcher(
            max_bytes=settings.max_spec_bytes,
            timeout=settings.fetch_timeout,
            max_redirects=settings.max_redirects,
        )

        async def fetch() -> bytes:
            try:
                return await fetcher.fetch(spec, HostPolicy.for_urls([spec]))
            finally:
                await fetcher.aclose()

        raw = asyncio.run(fetch())
    else:
        try:
            raw = Path(spec).read_bytes()
        except OSError as exc:
            raise SpecError(f"cannot read {spec}: {exc.strerror}") from None
    documents = load_documents(raw).documents
    out = sys.stdout
    for document in documents:
        out.write(document_json(document))
        out.write("\n")
    out.flush()
    return 0


def _search(args: argparse.Namespace) -> int:
    import asyncio
    import json

    from appsync.api.routes.search import OperationHit
    from appsync.config import load_service_settings
    from appsync.embedding import Embedder
    from appsync.index.factory import open_index
    from appsync.search import Searcher

    settings = load_service_settings(inngest_dev="1")
    user = args.user or settings.local_user.id

    async def run() -> list[Any]:
        embedder = Embedder()
        index = await open_index(settings.resolved_index_url, dimensions=embedder.info.dimensions)
        try:
            searcher = Searcher(index=index, embedder=embedder)
            return list(await searcher.search(user, args.query, k=args.k, service=args.service))
        finally:
            await index.close()

    hits = asyncio.run(run())
    out = sys.stdout
    for hit in hits:
        if args.json:
            body = OperationHit.of(hit).model_dump(mode="json", by_alias=True)
            out.write(json.dumps(body, ensure_ascii=False) + "\n")
        else:
            label = hit.operation_id or hit.uid
            out.write(
                f"{hit.score:.4f}  {hit.service} · {hit.method.upper()} {hit.path}  {label}"
                f"{'  (deprecated)' if hit.deprecated else ''}\n          {hit.summary}\n"
            )
    if not hits:
        print(f"appsync: no operations found for user {user!r}", file=sys.stderr)  # noqa: T201 - the CLI's error channel
    out.flush()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `appsync` command line; the exit code says how it went."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, stream=sys.stderr)
    handlers = {"serve": _serve, "dev": _dev, "preview": _preview, "search": _search}
    try:
        return handlers[args.command](args)
    except Exception as exc:
        code = _exit_code(exc)
        if code is None:
            raise
        print(f"appsync: {exc}", file=sys.stderr)  # noqa: T201 - the CLI's error channel
        return code


def _exit_code(exc: Exception) -> int | None:
    """2 for bad settings, 1 for a bad spec, URL or Inngest server; None for a bug."""
    from appsync.app_settings import AppSettingsError
    from appsync.config import SettingsError
    from appsync.devserver import InngestServerError
    from appsync.embedding import ModelError
    from appsync.fetching import FetchError
    from appsync.index.base import StoreConfigError
    from appsync.search import QueryError

    if isinstance(exc, SettingsError | AppSettingsError | StoreConfigError | QueryError):
        return 2
    if isinstance(exc, SpecError | FetchError | InngestServerError | ModelError):
        return 1
    return None


if __name__ == "__main__":
    sys.exit(main())
