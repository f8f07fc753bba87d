"""Bytes → a spec mapping: JSON or YAML, Swagger 2.0 or OpenAPI 3.x, with clear errors."""

from __future__ import annotations

import json
from typing import Any

import yaml

from appsync.openapi.errors import SpecError

# PyYAML's C loader is several times faster than the pure-Python one; both are "safe".
_YamlLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SpecError(
            f"not UTF-8 text: byte 0x{raw[exc.start]:02x} at offset {exc.start} cannot be decoded"
        ) from None


def _parse_json(text: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecError(
            f"invalid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None


def _parse_yaml(text: str) -> object:
    try:
        return yaml.load(text, Loader=_YamlLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise SpecError(f"invalid YAML: {exc.problem or exc.context}{where}") from None
    except yaml.YAMLError as exc:
        raise SpecError(f"invalid YAML: {exc}") from None


def parse_spec(raw: bytes) -> dict[str, Any]:
    """Parse a Swagger 2.0 or OpenAPI 3.x document; raise `SpecError` saying what is wrong.

    JSON is recognised by its first character; anything else is read as YAML (a superset).
    """
    text = _decode(raw)
    head = text.lstrip()[:1]
    if not head:
        raise SpecError("the document is empty")
    try:
        document = _parse_json(text) if head in "{[" else _parse_yaml(text)
    except RecursionError:
        raise SpecError("the document is nested too deeply to parse") from None
    if not isinstance(document, dict):
        raise SpecError(
            f"the document must be an object, got {_kind(document)}"
            + (" (is this an OpenAPI document?)" if isinstance(document, str) else "")
        )
    version = document.get("openapi", document.get("swagger"))
    if version is None:
        raise SpecError(
            "neither an 'openapi' nor a 'swagger' version field: not an OpenAPI document"
        )
    if not str(version).startswith(("2.", "3.")):
        raise SpecError(f"unsupported spec version {str(version)[:40]!r}: expected 2.0, 3.0 or 3.1")
    return document


def _kind(value: object) -> str:
    if value is None:
        return "null"
    return {
        list: "an array",
        str: "a string",
        int: "a number",
        float: "a number",
        bool: "a boolean",
    }.get(type(value), type(value).__name__)
