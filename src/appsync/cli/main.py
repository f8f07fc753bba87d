"""The `appsync` command: `serve`, `dev`, `preview`, `search`, `sync` and `status`.

Each command imports what it uses when it runs, so that `appsync preview FILE` does not pay for
the web stack's imports (a third of a second).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from appsync.openapi import SpecError
from appsync.sync.batches import document_json, load_documents

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

    sync = commands.add_parser(
        "sync",
        help="ask the running service to sync the app's specs (POST /api/openapi/sync)",
        description="POST a sync to the service at --url and print its id; with --wait, follow "
        "it until it ends (a progress bar on a terminal). Exit 1 unless it completed.",
    )
    sync.add_argument("--wait", action="store_true", help="follow the sync until it ends")
    sync.add_argument(
        "--timeout", type=float, default=600.0, help="seconds to wait at most (default 600)"
    )
    _remote_arguments(sync)

    status = commands.add_parser(
        "status",
        help="show where a sync stands (GET /api/openapi/sync/ID)",
        description="Print the status of the sync with this id (what the POST answered), as JSON.",
    )
    status.add_argument("sync_id", metavar="ID", help="the sync's id")
    _remote_arguments(status)

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


def _remote_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url",
        default=os.environ.get("APPSYNC_URL", "http://127.0.0.1:8000"),
        help="the service (default: $APPSYNC_URL or http://127.0.0.1:8000)",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("APPSYNC_TOKEN"),
        help="a bearer JWT (default: $APPSYNC_TOKEN; none in dev mode without a secret)",
    )


def _sync(args: argparse.Namespace) -> int:
    from appsync.cli import remote

    sync_id = remote.start_sync(args.url, args.token)
    print(sync_id, flush=True)  # noqa: T201 - the command's output
    if not args.wait:
        return 0
    status = remote.wait_for(
        lambda: remote.sync_status(args.url, args.token, sync_id), sys.stderr, timeout=args.timeout
    )
    print(remote.render(status))  # noqa: T201 - the command's output
    return 0 if status["status"] == "completed" else 1


def _status(args: argparse.Namespace) -> int:
    from appsync.cli import remote

    print(remote.render(remote.sync_status(args.url, args.token, args.sync_id)))  # noqa: T201
    return 0


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from appsync.app import create_app
    from appsync.cli.http_server import build_config
    from appsync.settings.service import load_service_settings

    overrides: dict[str, Any] = {}
    if args.host is not None:
        overrides["host"] = args.host
    if args.port is not None:
        overrides["port"] = args.port
    settings = load_service_settings(**overrides)
    config = build_config(create_app(settings), settings, host=settings.host, port=settings.port)
    uvicorn.Server(config).run()
    return 0


def _dev(args: argparse.Namespace) -> int:
    import signal
    import tempfile
    import threading

    import uvicorn

    from appsync.app import create_app
    from appsync.cli.dev_server import (
        DevServer,
        InngestServerError,
        Ports,
        find_binary,
        port_is_free,
    )
    from appsync.cli.http_server import build_config
    from appsync.settings.service import load_service_settings, local_url

    binary = find_binary(args.inngest_bin)
    if not port_is_free(args.inngest_port):
        raise InngestServerError(
            f"port {args.inngest_port} is in use: stop what runs there or pass --inngest-port"
        )
    app_url = local_url(args.host, args.port)
    with tempfile.TemporaryDirectory(prefix="appsync-dev-") as workdir:
        server = DevServer(
            binary=binary,
            workdir=Path(workdir),
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
                build_config(create_app(settings), settings, host=args.host, port=args.port)
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

        from appsync.settings.service import load_service_settings
        from appsync.sync.fetching import HostPolicy, SpecFetcher

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

    from appsync.index.factory import open_index
    from appsync.search.embedding import Embedder
    from appsync.search.hits import OperationHit
    from appsync.search.searcher import Searcher
    from appsync.settings.service import load_service_settings

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
    # The MCP SDK logs each stateless /mcp request at INFO ("Terminating session: None").
    logging.getLogger("mcp").setLevel(logging.WARNING)
    handlers = {
        "serve": _serve,
        "dev": _dev,
        "preview": _preview,
        "search": _search,
        "sync": _sync,
        "status": _status,
    }
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
    from appsync.cli.dev_server import InngestServerError
    from appsync.cli.remote import RemoteError
    from appsync.index.base import StoreConfigError
    from appsync.search.embedding import ModelError
    from appsync.search.searcher import QueryError
    from appsync.settings.app_settings import AppSettingsError
    from appsync.settings.errors import SettingsError
    from appsync.sync.fetching import FetchError

    if isinstance(exc, SettingsError | AppSettingsError | StoreConfigError | QueryError):
        return 2
    if isinstance(exc, SpecError | FetchError | InngestServerError | ModelError | RemoteError):
        return 1
    return None


if __name__ == "__main__":
    sys.exit(main())
