"""Runs an ASGI app with uvicorn in a background thread on a loopback port."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import httpx
import uvicorn
from fastapi import FastAPI

from appsync.app import create_app
from appsync.cli.dev_server import Startable, free_port
from appsync.services import ServicesFactory, start_services
from appsync.settings.service import ServiceSettings
from harness.inngest_api import InngestApi
from harness.inngest_server import InngestServer
from harness.processes import note_started
from harness.settings import write_spec_urls
from harness.spec_server import SpecServer
from harness.waiting import wait_until


class AppServer(Startable):
    """One uvicorn server in a thread; `start()` returns once it accepts connections.

    The app is built by `factory` on the serving thread, as `appsync serve` builds it on the
    thread that runs the event loop: the Inngest SDK's async HTTP client only works on the
    thread that created the client, so the tests run the same send path as production.
    """

    def __init__(self, factory: Callable[[], FastAPI], port: int | None = None) -> None:
        self.port = port or free_port()
        self._factory = factory
        self._app: FastAPI | None = None
        self._server: uvicorn.Server | None = None
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def url(self) -> str:
        """`http://127.0.0.1:<port>`."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def app(self) -> FastAPI:
        """The app being served (once started)."""
        if self._app is None:
            raise RuntimeError("the app server has not started")
        return self._app

    @property
    def thread_id(self) -> int | None:
        """The serving thread's identity."""
        return self._thread.ident

    def _run(self) -> None:
        try:
            self._app = self._factory()
            config = uvicorn.Config(
                self._app, host="127.0.0.1", port=self.port, log_config=None, access_log=False
            )
            self._server = uvicorn.Server(config)
        except BaseException as exc:  # noqa: BLE001 - handed to the starting thread
            self._failure = exc
            return
        self._server.run()

    def start(self, timeout: float = 20.0) -> Self:
        """Start serving."""
        self._thread.start()

        def serving() -> bool:
            if self._failure is not None:
                raise self._failure
            if not self._thread.is_alive():
                raise RuntimeError(f"the app did not start on {self.url}")
            return self._server is not None and self._server.started

        wait_until(serving, timeout=timeout, what=f"the app serves on {self.url}", interval=0.02)
        return self

    def stop(self) -> None:
        """Stop serving (runs the lifespan's shutdown)."""
        if self._server is not None:
            self._server.should_exit = True
        self._thread.join(timeout=20)


def sync_app(app_url: str, api: InngestApi, app_id: str, timeout: float = 30.0) -> None:
    """Make the app register with the server (an unsigned PUT, as in dev mode), and check it did.

    The SDK answers the sync PUT with 200 even when registration failed, so the body is read and
    the server is asked which functions it knows.
    """
    response = httpx.put(f"{app_url}/api/inngest", timeout=timeout, trust_env=False)
    body = response.json()
    assert response.status_code == 200, body
    assert body.get("ok") is not False, f"sync failed: {body}"
    wait_registered(api, app_id, timeout)


def wait_registered(api: InngestApi, app_id: str, timeout: float = 30.0) -> None:
    """Wait until the server lists the functions of app `app_id`; fail after `timeout`."""
    wait_until(
        lambda: api.functions(app_id),
        timeout=timeout,
        what=f"app {app_id} is registered on {api.base_url}",
        interval=0.2,
    )


@contextmanager
def synced_app(
    settings: ServiceSettings,
    api: InngestApi,
    services: ServicesFactory = start_services,
) -> Iterator[tuple[AppServer, httpx.Client]]:
    """The app of `settings` on its port, synced with the server (checked), and a client of it."""
    with AppServer(lambda: create_app(settings, services=services), port=settings.port) as app:
        sync_app(app.url, api, settings.app_id)
        with httpx.Client(base_url=app.url, timeout=30.0, trust_env=False) as http:
            yield app, http


@contextmanager
def app_subprocess(
    inngest_url: str, spec_urls: list[str], workdir: Path, extra_env: dict[str, str] | None = None
) -> Iterator[str]:
    """`appsync serve` as deployed (its own process, dev mode, pointed at `inngest_url`).

    Yields the app's base URL; the process's output goes to `workdir/app.log`.
    """
    environment = {"APPSYNC_OPENAPI_URLS": json.dumps(spec_urls)} | (extra_env or {})
    with app_process(inngest_url, workdir, environment) as (url, _):
        yield url


@contextmanager
def app_process(
    inngest_url: str, workdir: Path, environment: dict[str, str]
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`appsync serve` in its own process, dev mode, with `environment` on top of the defaults.

    None of the caller's INNGEST_*/APPSYNC_* variables leak in; the output goes to
    `workdir/app.log`. Yields the base URL and the process once `/health` answers.
    """
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INNGEST_", "APPSYNC_"))}
    env |= {
        "INNGEST_DEV": inngest_url,
        "APPSYNC_PORT": str(port),
        "APPSYNC_ENV_FILE": str(workdir / "absent.env"),
        "APPSYNC_DATA_DIR": str(workdir / "data"),
    } | environment
    workdir.mkdir(parents=True, exist_ok=True)
    url = f"http://127.0.0.1:{port}"
    note_started("appsync serve")
    with (workdir / "app.log").open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 - our own console script
            [str(Path(sys.executable).parent / "appsync"), "serve"],
            env=env,
            cwd=workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_healthy(url, process, workdir)
            yield url, process
        finally:
            process.terminate()
            process.wait(30)


def _wait_healthy(url: str, process: subprocess.Popen[bytes], workdir: Path) -> None:
    def healthy() -> bool:
        if process.poll() is not None:
            log = (workdir / "app.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"appsync serve exited ({process.returncode}) on {url}:\n{log}")
        with contextlib.suppress(httpx.HTTPError):
            return httpx.get(f"{url}/health", trust_env=False).status_code == 200
        return False

    try:
        wait_until(healthy, timeout=60, what=f"appsync serve answers on {url}", interval=0.1)
    except AssertionError:
        log = (workdir / "app.log").read_text(errors="replace")[-3000:]
        raise RuntimeError(f"appsync serve did not start on {url}:\n{log}") from None


@dataclass
class Harness:
    """The app in dev mode, synced with a real dev server, with specs on loopback (a fixture)."""

    app: AppServer
    api: InngestApi
    server: InngestServer
    specs: SpecServer
    env_file: Path
    settings: ServiceSettings
    http: httpx.Client

    def set_spec_urls(self, urls: list[str]) -> None:
        """Change the app settings; the next POST picks them up."""
        write_spec_urls(self.env_file, urls)

    def post(self, path: str = "/api/route", **kwargs: Any) -> httpx.Response:
        """POST to the app, as the original's curl example does by default."""
        kwargs.setdefault("json", {"data": "data"})
        return self.http.post(path, **kwargs)
