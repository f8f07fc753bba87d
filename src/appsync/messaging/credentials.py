"""Authenticating to the Inngest server's REST API (`/v1/...`).

The storage poller and the sync status reader call it with the same credentials: the signing key,
hashed as Inngest's API expects it, or nothing (the dev server needs none).
"""

from __future__ import annotations

import hashlib

from appsync.settings.keys import signing_key_bytes


def hashed_signing_key(signing_key: str) -> str:
    """The signing key in the hashed form Inngest's API accepts as a bearer token."""
    return hashlib.sha256(signing_key_bytes(signing_key)).hexdigest()


def api_headers(signing_key: str | None) -> dict[str, str]:
    """Headers for the server's API: the hashed signing key as a bearer token, when there is one."""
    return {"Authorization": f"Bearer {hashed_signing_key(signing_key)}"} if signing_key else {}
