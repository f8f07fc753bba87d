"""Hermetic service settings for tests and benchmarks, and the app settings file they point at."""

from __future__ import annotations

import functools
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.jwk import OctKey

from appsync.search.embedding import Embedder
from appsync.services import ServicesFactory, start_services
from appsync.settings.service import ServiceSettings
from functions.sync_openapi import FUNCTION_ID

APP_ID = "appsync-test"
SLUG = f"{APP_ID}-{FUNCTION_ID}"

# The service's own variables, which no test inherits from the developer's environment...
OWN_VARIABLES = ("INNGEST_", "APPSYNC_", "NEXTAUTH_")
# ...except these, which configure the test tooling itself, not the service.
TOOLING_VARIABLES = frozenset(
    {
        "APPSYNC_INNGEST_BIN",
        "APPSYNC_COMPOSECHECK_BIN",
        "APPSYNC_SPECS_DIR",
        "APPSYNC_CACHE_DIR",
        "APPSYNC_CHROMIUM_BIN",
        "APPSYNC_ARTIFACTS_DIR",
        "APPSYNC_TEST_POSTGRES_URL",
        "APPSYNC_MCP_CLIENT_DIR",
    }
)


def make_settings(**values: Any) -> ServiceSettings:
    """Settings from `values` only: no `.env` of the working directory, no environment."""
    values.setdefault("app_id", APP_ID)
    values.setdefault("data_dir", Path(tempfile.mkdtemp(prefix="appsync-test-data-")))
    return ServiceSettings(_env_file=None, **values)


def write_spec_urls(env_file: Path, urls: list[str]) -> None:
    """Point the app settings at `urls` (the next POST reads them)."""
    env_file.write_text(f"APPSYNC_OPENAPI_URLS='{json.dumps(urls)}'\n")


def shared_model(embedder: Embedder) -> ServicesFactory:
    """The app's services with one embedding model (loaded once, not per app)."""
    return functools.partial(start_services, embedder=embedder)


def bearer(user_id: str, secret: str) -> dict[str, str]:
    """An Authorization header for `user_id` (an HS256 JWT of `secret`), valid for ten minutes."""
    claims = {"sub": user_id, "exp": int(time.time()) + 600}
    token = jwt.encode({"alg": "HS256"}, claims, OctKey.import_key(secret), algorithms=["HS256"])
    return {"Authorization": f"Bearer {token}"}
