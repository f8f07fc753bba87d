"""Local `$ref` resolution (`#/components/...`, `#/parameters/...`), cycle-safe."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from appsync.openapi.errors import SpecError

# Longest chain of $ref → $ref → ... followed before giving up (a cycle is caught earlier).
MAX_REF_CHAIN = 32
# An array index in a JSON pointer: ASCII digits, no leading zero (`str.isdigit` accepts "²").
_INDEX = re.compile(r"0|[1-9][0-9]{0,17}")


class RefResolver:
    """Follows local JSON-pointer `$ref`s inside one document."""

    def __init__(self, root: Mapping[str, Any]) -> None:
        self._root = root
        self._cache: dict[str, object] = {}

    def resolve(self, node: object, where: str) -> object:
        """Return `node` with its `$ref` chain followed; raise `SpecError` naming `where`."""
        seen: list[str] = []
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            if not isinstance(ref, str):
                raise SpecError(f"{where}: $ref must be a string, got {type(ref).__name__}")
            if ref in seen:
                chain = " → ".join([*seen, ref])
                raise SpecError(f"{where}: $ref cycle {chain}")
            if len(seen) >= MAX_REF_CHAIN:
                raise SpecError(f"{where}: $ref chain longer than {MAX_REF_CHAIN} links")
            seen.append(ref)
            node = self._lookup(ref, where)
        return node

    def _lookup(self, ref: str, where: str) -> object:
        if ref in self._cache:
            return self._cache[ref]
        if not ref.startswith("#"):
            raise SpecError(
                f"{where}: external $ref {ref[:200]!r} is not supported; "
                "only local references ('#/...') are resolved: bundle the spec into one file"
            )
        pointer = ref[1:]
        if pointer and not pointer.startswith("/"):
            raise SpecError(f"{where}: $ref {ref[:200]!r} is not a JSON pointer ('#/...')")
        node: object = self._root
        for raw_token in pointer.split("/")[1:]:
            token = unquote(raw_token).replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and token in node:
                node = node[token]
            elif isinstance(node, list) and _INDEX.fullmatch(token) and int(token) < len(node):
                node = node[int(token)]
            else:
                raise SpecError(f"{where}: $ref {ref[:200]!r} points to nothing in this document")
        self._cache[ref] = node
        return node
