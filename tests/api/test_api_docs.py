"""`/docs`, `/redoc`, `/openapi.json` need no credentials: production serves them only if needed."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from appsync.app import create_app
from appsync.cli.dev_server import free_port
from harness.settings import make_settings, write_spec_urls

PAGES = ("/docs", "/redoc", "/openapi.json")


def statuses(
    tmp_path: Path, *, production: bool, spec_urls: list[str] | None, **values: str
) -> list[int]:
    """The status of each docs page, for an app with these app settings (None: the defaults)."""
    env_file = tmp_path / ".env"
    if spec_urls is None:
        env_file.write_text("")
    else:
        write_spec_urls(env_file, spec_urls)
    down = f"http://127.0.0.1:{free_port()}"
    mode = (
        {
            "inngest_base_url": down,
            "inngest_signing_key": secrets.token_hex(32),
            "inngest_event_key": "key",
            "jwt_secret": "secret-0123456789abcdef0123456789",
        }
        if production
        else {"inngest_dev": down}
    )
    settings = make_settings(env_file_path=env_file, **mode, **values)
    with TestClient(create_app(settings)) as client:
        return [client.get(page).status_code for page in PAGES]


@pytest.mark.parametrize(
    ("production", "spec_urls", "values", "expected"),
    [
        (True, ["http://specs.example/api.json"], {}, [404, 404, 404]),
        (True, None, {}, [200, 200, 200]),
        (True, ["http://specs.example/api.json"], {"api_docs": "true"}, [200, 200, 200]),
        (False, ["http://specs.example/api.json"], {}, [200, 200, 200]),
        (False, None, {"api_docs": "false"}, [404, 404, 404]),
    ],
    ids=["production", "production-syncing-itself", "production-asked", "dev", "dev-refused"],
)
def test_docs_pages_are_served_only_where_they_should_be(
    tmp_path: Path,
    production: bool,
    spec_urls: list[str] | None,
    values: dict[str, str],
    expected: list[int],
) -> None:
    """Production hides them unless asked or unless the sync reads the service's own spec."""
    assert expected == statuses(tmp_path, production=production, spec_urls=spec_urls, **values)
