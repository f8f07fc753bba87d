"""Fixtures: the app with the museum spec's operations and cards in alice's index (no model)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from appsync.app import create_app
from appsync.cli.dev_server import free_port
from harness.mcp import MCP_HEADERS, seed_index, token_for
from harness.settings import make_settings, write_spec_urls

SECRET = "mcp-tests-secret-0123456789abcdef"


@pytest.fixture
def museum_url() -> str:
    """Where alice's museum spec was synced from."""
    return "http://127.0.0.1:9/specs/redocly_museum.yaml"


@pytest.fixture
def client(tmp_path: Path, museum_url: str) -> Iterator[TestClient]:
    """The app (JWT secret set, Inngest server down) with alice's museum operations indexed."""
    write_spec_urls(tmp_path / ".env", [museum_url])
    settings = make_settings(
        inngest_dev=f"http://127.0.0.1:{free_port()}",
        env_file_path=tmp_path / ".env",
        jwt_secret=SECRET,
        data_dir=tmp_path / "data",
    )
    seed_index(settings.resolved_index_url, "alice", "redocly_museum.yaml", museum_url)
    # The MCP transport answers only known Host values: loopback, as a local client sends.
    with TestClient(create_app(settings), base_url="http://127.0.0.1:8000") as test_client:
        yield test_client


@pytest.fixture
def alice() -> dict[str, str]:
    """MCP request headers with alice's bearer token."""
    return MCP_HEADERS | {"Authorization": f"Bearer {token_for(SECRET, 'alice')}"}


@pytest.fixture
def bob() -> dict[str, str]:
    """MCP request headers with bob's bearer token (he has synced nothing)."""
    return MCP_HEADERS | {"Authorization": f"Bearer {token_for(SECRET, 'bob')}"}
