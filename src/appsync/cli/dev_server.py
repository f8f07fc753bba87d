"""Run a local `inngest dev` server binary on loopback, as `appsync dev` does.

The binary is built from Inngest's Go module by `scripts/build-inngest`. Every port is passed
explicitly and checked, because `inngest dev` silently moves to the next free port when one is
taken. The test harness (`harness/inngest_server.py`) extends this class with the self-hosted
`inngest start` and persistence.
"""

from __future__ import annotations

import abc
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Self

import httpx

BINARY_VARIABLE = "APPSYNC_INNGEST_BIN"


class InngestServerError(RuntimeError):
    """The server did not start, or started somewhere else than asked."""


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux to SIGTERM it when its parent dies."""
    if sys.platform == "linux":
        pr_set_pdeathsig = 1
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago on `host`."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether `host:port` can be bound now (by a server, which ignores TIME_WAIT leftovers)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def find_binary(explicit: str | None = None) -> Path:
    """The Inngest binary: `explicit`, else `$APPSYNC_INNGEST_BIN`; it must be executable."""
    value = explicit or os.environ.get(BINARY_VARIABLE)
    if not value:
        raise InngestServerError(
            f"no Inngest server binary: pass --inngest-bin or set {BINARY_VARIABLE} "
            "(scripts/build-inngest builds one and prints its path)"
        )
    path = Path(value)
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise InngestServerError(f"{BINARY_VARIABLE}={value} is not an executable file")
    return path


@dataclass(frozen=True, slots=True)
class Ports:
    """Every port an Inngest server opens."""

    api: int
    gateway: int
    gateway_grpc: int
    executor_grpc: int

    @classmethod
    def pick(cls, api: int | None = None) -> Ports:
        """Free ports, with the API port fixed when given."""
        return cls(api or free_port(), free_port(), free_port(), free_port())


class Startable(abc.ABC):
    """Something run for a while: `with` calls `start()` on entry and `stop()` on exit."""

    @abc.abstractmethod
    def start(self) -> Self:
        """Start it; return once it serves."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop it and release what it holds."""

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@dataclass
class DevServer(Startable):
    """One `inngest dev` process; `start()` returns once `/health` answers on its port."""

    binary: Path
    workdir: Path
    sdk_urls: tuple[str, ...] = ()
    ports: Ports = field(default_factory=Ports.pick)
    host: str = "127.0.0.1"
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _log: IO[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def mode(self) -> str:
        """The server command: `dev`."""
        return "dev"

    @property
    def url(self) -> str:
        """The server's base URL (event API, REST, GraphQL and the dev UI)."""
        return f"http://{self.host}:{self.ports.api}"

    @property
    def log_path(self) -> Path:
        """Where the server's output goes."""
        return self.workdir / "inngest.log"

    def command(self) -> list[str]:
        """The command line, every port explicit."""
        args = [
            str(self.binary),
            self.mode,
            "--host",
            self.host,
            "--port",
            str(self.ports.api),
            "--connect-gateway-port",
            str(self.ports.gateway),
            "--connect-gateway-grpc-port",
            str(self.ports.gateway_grpc),
            "--connect-executor-grpc-port",
            str(self.ports.executor_grpc),
        ]
        args += self.mode_arguments()
        for url in self.sdk_urls:
            args += ["--sdk-url", url]
        return args

    def mode_arguments(self) -> list[str]:
        """The arguments of this mode: no discovery (apps are synced explicitly)."""
        return ["--no-discovery"]

    def _environment(self) -> dict[str, str]:
        # Every INNGEST_* variable is also a flag of the server: keep the caller's out.
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("INNGEST_") and key != "DEBUG"
        }
        env.update(DO_NOT_TRACK="1", INNGEST_NO_UPDATE_NOTIFIER="1")
        return env

    def start(self, timeout: float = 60.0) -> Self:
        """Start the process and wait for `/health` on the expected port."""
        if self._process is not None and self._process.poll() is None:
            return self
        taken = [p for p in (self.ports.api, self.ports.gateway) if not port_is_free(p, self.host)]
        if taken:
            raise InngestServerError(f"ports {taken} on {self.host} are already in use")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        self._process = subprocess.Popen(  # noqa: S603 - our own binary and arguments
            self.command(),
            cwd=self.workdir,  # the server looks for inngest.json/yaml upward from here
            env=self._environment(),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - async-signal-safe: one prctl call
        )
        self._wait_healthy(timeout)
        return self

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2.0, trust_env=False) as http:
            while time.monotonic() < deadline:
                if self._process is not None and self._process.poll() is not None:
                    raise InngestServerError(
                        f"inngest {self.mode} exited with {self._process.returncode}:\n"
                        + self.log_tail()
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if http.get(f"{self.url}/health").status_code == 200:  # noqa: PLR2004
                        break
                time.sleep(0.1)
            else:
                self.stop()
                raise InngestServerError(
                    f"inngest {self.mode} did not answer on {self.url} within {timeout:g} s:\n"
                    + self.log_tail()
                )
        if "Port conflict" in self.log_path.read_text(errors="replace"):
            self.stop()
            raise InngestServerError(f"inngest {self.mode} moved ports:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of the server's output."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the process (SIGTERM, then SIGKILL) and close its log."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout)
        if self._log is not None:
            self._log.close()
            self._log = None
