"""The `appsync` command as a person runs it: a subprocess of the installed console script."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

APPSYNC = Path(sys.executable).parent / "appsync"


def appsync(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `appsync ARGS`, without the developer's INNGEST_*/APPSYNC_* variables."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("INNGEST_", "APPSYNC_"))}
    return subprocess.run(  # noqa: S603 - our own console script
        [str(APPSYNC), *args],
        capture_output=True,
        text=True,
        env=clean | (env or {}),
        cwd=cwd,
        timeout=60,
        check=False,
    )
