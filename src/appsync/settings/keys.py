"""Secrets as the code uses them: a `SecretStr`'s value, and the Inngest signing key's bytes."""

from __future__ import annotations

import re

from pydantic import SecretStr

_SIGNING_KEY_PREFIX = re.compile(r"^signkey-\w+-")


def signing_key_bytes(signing_key: str) -> bytes:
    """The key as bytes: hex after an optional `signkey-<env>-` prefix; else `ValueError`."""
    digits = _SIGNING_KEY_PREFIX.sub("", signing_key.strip())
    try:
        key = bytes.fromhex(digits)
    except ValueError:
        key = b""
    if not key:
        raise ValueError(
            "must be an even number of hex digits, optionally after a 'signkey-<env>-' prefix "
            "(e.g. the output of `openssl rand -hex 32`)"
        )
    return key


def reveal(secret: SecretStr | None) -> str | None:
    """A secret's value, or None when it is unset or empty."""
    return None if secret is None else secret.get_secret_value() or None
