"""The production topology as tests and the benchmark run it: `scripts/cluster up|down DIR`.

`Cluster.up()` starts (or keeps) everything and reads the KEY=VALUE lines the script prints;
calling it again after a fault starts again whatever is not running, on the same data. The
replicas get `environment` (APPSYNC_* settings) and nothing else of this process's.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import httpx
import psycopg
from joserfc import jwt
from joserfc.jwk import OctKey

from harness.inngest_api import InngestApi
from harness.paths import ROOT
from harness.processes import note_started
from harness.settings import OWN_VARIABLES, TOOLING_VARIABLES
from harness.waiting import wait_until

SCRIPT = ROOT / "scripts" / "cluster"


@dataclass(frozen=True)
class Topology:
    """What `scripts/cluster up` printed."""

    app_url: str
    inngest_url: str
    replica_urls: tuple[str, ...]
    replica_pids: tuple[int, ...]
    inngest_pid: int
    redis_pid: int
    postgres_url: str
    redis_url: str
    signing_key: str
    event_key: str
    jwt_secret: str

    @classmethod
    def parse(cls, output: str) -> Self:
        """The topology from the script's KEY=VALUE lines."""
        values = dict(line.split("=", 1) for line in output.splitlines() if "=" in line)
        return cls(
            app_url=values["APP_URL"],
            inngest_url=values["INNGEST_URL"],
            replica_urls=tuple(values["REPLICA_URLS"].split(",")),
            replica_pids=tuple(int(pid) for pid in values["REPLICA_PIDS"].split(",")),
            inngest_pid=int(values["INNGEST_PID"]),
            redis_pid=int(values["REDIS_PID"]),
            postgres_url=values["POSTGRES_URL"],
            redis_url=values["REDIS_URL"],
            signing_key=values["SIGNING_KEY"],
            event_key=values["EVENT_KEY"],
            jwt_secret=values.get("JWT_SECRET", ""),
        )


class Cluster:
    """`scripts/cluster` on `directory`, its replicas configured by `environment`."""

    def __init__(
        self,
        directory: Path,
        environment: Mapping[str, str],
        *,
        retry_interval: int = 0,
        nice: int = 0,
    ) -> None:
        self.directory = directory
        self.environment = dict(environment)
        self.retry_interval = retry_interval
        self.nice = nice
        self._topology: Topology | None = None

    @property
    def topology(self) -> Topology:
        """What the last `up` printed."""
        if self._topology is None:
            raise RuntimeError("the cluster is not up")
        return self._topology

    def up(self, replicas: int | None = None) -> Topology:
        """Start whatever part is not running (all of it, the first time); the topology."""
        note_started("scripts/cluster")
        flags = ["--retry-interval", str(self.retry_interval)]
        if replicas is not None:
            flags += ["--replicas", str(replicas)]
        self._topology = Topology.parse(self._script("up", *flags).stdout)
        return self._topology

    def down(self) -> None:
        """Stop everything; the data stays in the directory."""
        self._script("down")

    def _script(self, command: str, *flags: str) -> subprocess.CompletedProcess[str]:
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(OWN_VARIABLES) or name in TOOLING_VARIABLES
        } | self.environment
        # Every part inherits the niceness: a test suite's other tests keep their share of the CPU.
        niced = ["nice", "-n", str(self.nice)] if self.nice else []
        result = subprocess.run(  # noqa: S603 - our own script
            [*niced, str(SCRIPT), command, str(self.directory), *flags],
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
            env=env,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"scripts/cluster {command} failed ({result.returncode}):\n{result.stderr[-3000:]}"
            )
        return result

    def api(self) -> InngestApi:
        """A reader of the Inngest server's REST API (the signing key as bearer)."""
        return InngestApi(self.topology.inngest_url, signing_key=self.topology.signing_key)

    def token(self, user: str, ttl: int = 3600) -> str:
        """A bearer JWT for `user`, signed with the replicas' secret."""
        claims = {"sub": user, "email": f"{user}@example.com", "exp": int(time.time()) + ttl}
        return jwt.encode({"alg": "HS256"}, claims, OctKey.import_key(self.topology.jwt_secret))

    def headers(self, user: str) -> dict[str, str]:
        """The Authorization header of `user`."""
        return {"Authorization": f"Bearer {self.token(user)}"}

    @property
    def postgres_dir(self) -> Path:
        """scripts/postgres's data directory of the cluster."""
        return self.directory / "postgres"

    def stop_load_balancer(self) -> None:
        """Stop nginx, master and workers (`up` starts it again); the replicas keep running."""
        pid = int((self.directory / "nginx" / "nginx.pid").read_text())
        os.kill(pid, signal.SIGTERM)  # nginx's fast shutdown: its workers go with it
        wait_until(lambda: not alive(pid), timeout=10, what="nginx is stopped")

    def forget_run_state(self, run_id: str) -> list[str]:
        """Delete a run's state from Redis, as a server crash can leave it; the keys deleted.

        The run's queue items stay: the server then fails them with "run not found in state
        store" and the run never starts (docs/production.md, the server and Redis kills).
        """
        redis = ["redis-cli", "-u", self.topology.redis_url]
        found = subprocess.run(  # noqa: S603 - Debian's redis-cli, beside scripts/redis's server
            [*redis, "--scan", "--pattern", f"{{estate:{run_id}}}*"],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout.split()
        if found:
            subprocess.run([*redis, "del", *found], capture_output=True, check=True, timeout=30)  # noqa: S603
        return found

    def supervisor_pid(self) -> int:
        """The pid of the process that restarts the Inngest server when it exits."""
        return int((self.directory / "inngest" / "supervisor.pid").read_text())


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie does not count)."""
    try:
        os.kill(pid, 0)
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (ProcessLookupError, FileNotFoundError):
        return False
    except PermissionError:
        return True
    return stat.rpartition(")")[2].split()[0] != "Z"


def kill(pid: int) -> None:
    """SIGKILL `pid` and wait until it is gone."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not alive(pid), timeout=10, what=f"process {pid} is gone")


def post_sync(app_url: str, headers: Mapping[str, str], timeout: float = 30.0) -> httpx.Response:
    """POST /api/route as the original's clients did."""
    return httpx.post(
        f"{app_url}/api/route",
        json={"data": "data"},
        headers=dict(headers),
        timeout=timeout,
        trust_env=False,
    )


def sync_status(base_url: str, sync_id: str, headers: Mapping[str, str]) -> dict[str, object]:
    """GET /api/openapi/sync/{id} from one replica (or the load balancer)."""
    response = httpx.get(
        f"{base_url}/api/openapi/sync/{sync_id}",
        headers=dict(headers),
        timeout=30.0,
        trust_env=False,
    )
    response.raise_for_status()
    status: dict[str, object] = response.json()
    return status


def indexed_rows(postgres_url: str, user_prefix: str) -> dict[str, list[str]]:
    """The uids of every stored operation of the users whose ids start with `user_prefix`."""
    with psycopg.connect(postgres_url) as connection:
        exists = connection.execute("SELECT to_regclass('appsync_operations')").fetchone()
        if exists is None or exists[0] is None:
            return {}
        rows = connection.execute(
            "SELECT user_id, uid FROM appsync_operations WHERE starts_with(user_id, %s) "
            "ORDER BY user_id, uid",
            (user_prefix,),
        ).fetchall()
    found: dict[str, list[str]] = {}
    for user, uid in rows:
        found.setdefault(str(user), []).append(str(uid))
    return found
