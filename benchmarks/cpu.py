"""CPU time that the benchmark's processes spend, read from /proc (Linux; elsewhere: none).

Throughput on a shared 2-core machine moves with whatever else runs; CPU time per request does
not move much, and says where a request's cost goes: the load generator (this process), the
service, or the Inngest server.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

_PROC = Path("/proc")


def _stat(pid: int | str) -> list[str]:
    """The fields of /proc/<pid>/stat after the command name: state [0], ppid [1], utime [11]."""
    return (_PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children() -> dict[int, Path]:
    """This process's direct children, by pid."""
    found = {}
    for entry in _PROC.iterdir():
        if entry.name.isdigit():
            try:
                ppid = int(_stat(entry.name)[1])
            except (OSError, IndexError, ValueError):
                continue  # it ended meanwhile
            if ppid == os.getpid():
                found[int(entry.name)] = entry
    return found


def child_pid(matches: Callable[[list[str], Mapping[str, str]], bool]) -> int | None:
    """The pid of the child whose command line and environment `matches`, if /proc shows one."""
    if not _PROC.is_dir():
        return None
    for pid, entry in _children().items():
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
            pairs = (entry / "environ").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        environ = dict(pair.split("=", 1) for pair in pairs if "=" in pair)
        if matches(argv, environ):
            return pid
    return None


def server_pid(port: int) -> int | None:
    """The child Inngest server listening on `port`."""
    return child_pid(lambda argv, _: "--port" in argv and str(port) in argv)


def app_pid(port: int) -> int | None:
    """The child `appsync serve` listening on `port`."""
    return child_pid(lambda _, env: env.get("APPSYNC_PORT") == str(port))


class CpuMeter:
    """CPU seconds of named processes between two readings."""

    def __init__(self, pids: Mapping[str, int | None]) -> None:
        self.pids = {name: pid for name, pid in pids.items() if pid is not None}

    def read(self) -> dict[str, float]:
        """CPU seconds so far, by name."""
        return {name: cpu_seconds(pid) for name, pid in self.pids.items()}

    @staticmethod
    def per_request(
        before: Mapping[str, float], after: Mapping[str, float], requests: int
    ) -> dict[str, float]:
        """Milliseconds of CPU per request, by name, between two readings."""
        return {name: (after[name] - before[name]) * 1000 / requests for name in before}
