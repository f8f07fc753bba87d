"""What JSON looks like after a trip through the Inngest server (Go, numbers as 64-bit floats)."""

from __future__ import annotations

import json
from typing import Any

# Go's encoding/json writes a float64 without an exponent below 1e21: integral ones as integers.
_GO_PLAIN_LIMIT = 1e21


def _as_go_writes(value: Any) -> Any:
    if isinstance(value, float):
        return int(value) if value.is_integer() and abs(value) < _GO_PLAIN_LIMIT else value
    if isinstance(value, dict):
        return {key: _as_go_writes(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_as_go_writes(item) for item in value]
    return value


def through_the_server(value: Any) -> Any:
    """`value` as JSON read back after the server parsed every number into a float64."""
    text = json.dumps(value)
    as_floats = json.loads(text, parse_int=float, parse_float=float)
    return json.loads(json.dumps(_as_go_writes(as_floats)))
