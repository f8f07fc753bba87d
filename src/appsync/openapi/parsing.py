"""Bytes → a spec mapping: JSON or YAML, Swagger 2.0 or OpenAPI 3.x, with clear errors."""

from __future__ import annotations

import codecs
import json
import re
from typing import Any

import yaml

from appsync.openapi.errors import SpecError
from appsync.openapi.scalars import scalar_text

# PyYAML's C loader is several times faster than the pure-Python one; both are "safe".
_YamlLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# A \uD800-\uDFFF escape: valid JSON, but alone (not in a pair) it is no character.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _decode(raw: bytes) -> str:
    body = raw.removeprefix(codecs.BOM_UTF8)
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = exc.start + len(raw) - len(body)
        raise SpecError(
            f"not UTF-8 text: byte 0x{raw[offset]:02x} at offset {offset} cannot be decoded"
        ) from None


def _parse_json(text: str) -> object:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecError(
            f"invalid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        raise SpecError(f"invalid JSON: {exc}") from None
    if _SURROGATE_ESCAPE.search(text):
        try:
            json.dumps(document, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise SpecError(
                "invalid JSON: a \\u escape is an unpaired surrogate (half a character)"
            ) from None
    return document


def _parse_yaml(text: str) -> object:
    try:
        return yaml.load(text, Loader=_YamlLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise SpecError(f"invalid YAML: {exc.problem or exc.context}{where}") from None
    except yaml.YAMLError as exc:
        raise SpecError(f"invalid YAML: {exc}") from None
    except (ValueError, KeyError, AttributeError, TypeError, OverflowError) as exc:
        # PyYAML's constructors raise these for values they cannot build: `!!int abc`,
        # `!!bool maybe`, a 2020-02-30 date, an integer of more than 4,300 digits.
        raise SpecError(f"invalid YAML: a value cannot be read ({type(exc).__name__})") from None


def parse_spec(raw: bytes) -> dict[str, Any]:
    """Parse a Swagger 2.0 or OpenAPI 3.x document; raise `SpecError` saying what is wrong.

    A document starting with `{` or `[` must be JSON: YAML would accept broken JSON (a trailing
    comma, a missing value) and silently sync less. Anything else is read as YAML.
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
    if isinstance(version, bool) or not isinstance(version, str | int | float):
        raise SpecError(f"the version field must be a string such as '3.0.3', got {_kind(version)}")
    shown = scalar_text(version)
    if not shown.startswith(("2.", "3.")):
        raise SpecError(f"unsupported spec version {shown[:40]!r}: expected 2.0, 3.0 or 3.1")
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
