"""Where the repository and the shared test data are."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPECS_DIR = Path(os.environ.get("APPSYNC_SPECS_DIR", ROOT.parent / "shared" / "specs"))


def spec_files() -> list[Path]:
    """Every spec document in the shared corpus (JSON and YAML)."""
    return sorted(p for p in SPECS_DIR.iterdir() if p.suffix in {".json", ".yaml", ".yml"})


def inngest_version() -> str:
    """The pinned Inngest server version (one pin for the build script and docker-compose)."""
    return (ROOT / "scripts" / "inngest-version").read_text().strip()


def postgres_versions() -> dict[str, str]:
    """The pinned PostgreSQL server of scripts/postgres and docker-compose (KEY=value lines)."""
    text = (ROOT / "scripts" / "postgres-version").read_text()
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    return {line.partition("=")[0]: line.partition("=")[2] for line in lines}


def cluster_versions() -> dict[str, str]:
    """The Redis and nginx versions of scripts/redis, scripts/cluster and docker-compose."""
    text = (ROOT / "scripts" / "cluster-version").read_text()
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    return {line.partition("=")[0]: line.partition("=")[2] for line in lines}
