"""Malformed and hostile specs through `load_documents`: documents and cards, or a `SpecError`.

The contract of `appsync.batches.load_documents`: for any bytes it returns documents or raises
`SpecError` with a message; no other exception, no hang, bounded memory. Six properties feed it
1,250 generated documents (mutated real specs, synthetic specs with wrong types everywhere,
`$ref` graphs, raw YAML text, byte soup, deep nesting and huge strings); a table keeps the minimal
hostile documents they shrink to; and the worst shapes (alias bombs, 50,000 levels of nesting,
20 MB strings, fan-out through shared nodes) run in a child process with a time and a memory
limit, so that a hang or a blow-up fails one test instead of the whole run.
"""

from __future__ import annotations

import copy
import functools
import json
import re
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
import yaml
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from appsync.openapi import SpecDocuments, SpecError, parse_spec
from appsync.openapi.cards import MAX_CARD_BYTES, card_size
from appsync.openapi.documents import MAX_TEXT_CHARS, MAX_TOTAL_CHARS
from appsync.sync.batches import load_documents
from harness.paths import ROOT, spec_files

# -- the contract ----------------------------------------------------------------------------


def load_or_refuse(raw: bytes) -> SpecDocuments | str:
    """The documents of `raw`, or the message of the `SpecError` it raised."""
    try:
        return load_documents(raw)
    except SpecError as exc:
        return str(exc)


def assert_contract(raw: bytes) -> SpecDocuments | None:
    """Load `raw`: a `SpecError` must say why; documents must be well formed, unique and JSON."""
    result = load_or_refuse(raw)
    if isinstance(result, str):
        assert result, "a SpecError must say what is wrong"
        return None
    assert isinstance(result.service, str)
    assert isinstance(result.version, str)
    uids: list[str] = []
    for document in result.documents:
        assert isinstance(document["uid"], str)
        assert isinstance(document["text"], str)
        assert len(document["text"]) <= MAX_TEXT_CHARS
        metadata = document["metadata"]
        assert isinstance(metadata, dict)
        for key in ("service", "version", "method", "path"):
            assert isinstance(metadata[key], str), (key, metadata)
        assert isinstance(metadata["tags"], list)
        assert all(isinstance(tag, str) for tag in metadata["tags"])
        uids.append(document["uid"])
    assert len(set(uids)) == len(uids), f"duplicate uids: {sorted(uids)}"
    json.dumps(result.documents)
    assert uids == [card.uid for card in result.cards]
    assert all(card_size(card) <= MAX_CARD_BYTES for card in result.cards)
    return result


# -- settings --------------------------------------------------------------------------------

# Deterministic (CI runs the same examples every time) and nothing written into the repository.
_BASE = settings(
    derandomize=True,
    database=None,
    print_blob=False,
    # One bug per property, shrunk: shrinking every distinct crash at once takes minutes.
    report_multiple_bugs=False,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)
# Generous: an example takes milliseconds; one that takes seconds is the beginning of a hang.
DEADLINE = timedelta(seconds=3)

# -- splices: text a serialiser cannot write (deep, huge, YAML-only, invalid) ----------------


@dataclass(frozen=True, slots=True, repr=False)
class Splice:
    """A value written verbatim into the serialised document, in its JSON and its YAML form."""

    json_text: str
    yaml_text: str

    def __repr__(self) -> str:
        text = self.yaml_text
        return f"Splice({text[:40]!r}{'...' if len(text) > 40 else ''}, {len(text)} chars)"


def _same(text: str) -> Splice:
    return Splice(text, text)


def deep_arrays(depth: int) -> Splice:
    """`depth` arrays inside each other."""
    return _same("[" * depth + "]" * depth)


def deep_objects(depth: int) -> Splice:
    """`depth` objects inside each other."""
    return Splice('{"a":' * depth + "1" + "}" * depth, "{a: " * depth + "1" + "}" * depth)


def huge_string(size: int) -> Splice:
    """A string of `size` characters, one line break in the middle."""
    half = "x" * (size // 2)
    return _same(f'"{half}\\n{half}"')


def huge_number(digits: int) -> Splice:
    """An integer with more digits than Python converts by default (4,300)."""
    return _same("9" * digits)


def huge_hex(digits: int) -> Splice:
    """A YAML hexadecimal integer (no digit limit to parse, but one to print)."""
    return Splice('"0x' + "f" * digits + '"', "0x" + "f" * digits)


# One-line YAML flow nodes with a hostile tag, value or structure (also tried inside JSON).
YAML_SNIPPETS = (
    "!!int abc",
    "!!float abc",
    "!!bool maybe",
    "!!timestamp never",
    "!!timestamp 2020-02-30",
    "2020-02-30",
    "2020-13-01",
    "2001-12-14t21:59:43.10-05:00",
    "12:30:45",
    "!!binary aGVsbG8=",
    "!!binary '%%%'",
    "!!set {a, b}",
    "!!omap [a: 1, b: 2]",
    "!!pairs [a: 1, a: 2]",
    "!!str",
    "!!null x",
    "!custom thing",
    "!!python/object:os.system {}",
    "!!python/name:os.system",
    "!!python/object/apply:os.system ['true']",
    "!!python/tuple [1, 2]",
    "!<tag:yaml.org,2002:python/object/new:os.system> []",
    "&rec [*rec]",
    "&recmap {x: *recmap, $ref: '#/paths'}",
    "*undefined",
    "{1: a, null: b, 2020-01-01: c, 1.5: d, true: e, ~: f}",
    "{? [a, b] : c}",
    "{a: 1, a: 2}",
    "{<<: {get: {}}, <<: [1]}",
    "{<<: *undefined}",
    ".nan",
    "-.inf",
    "0o777",
    "0b101",
    "1_000",
    "'\\ud800'",
    '"\\ud800"',
    '"\\0\\x85\\u2028"',
)


def yaml_only(text: str) -> Splice:
    """A YAML node; JSON has no such thing, so there it is that node's text as a string."""
    return Splice(json.dumps(text), text)


def weighted(*choices: tuple[int, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """One of `choices`, each as often as its weight (`st.one_of` weighs its branches equally)."""
    indices = [index for index, (weight, _) in enumerate(choices) for _ in range(weight)]
    return st.sampled_from(indices).flatmap(lambda index: choices[index][1])


SPLICES: st.SearchStrategy[Splice] = st.one_of(
    st.integers(1, 1_200).map(deep_arrays),
    st.integers(1, 1_200).map(deep_objects),
    st.integers(0, 2_000_000).map(huge_string),
    st.integers(4_000, 6_000).map(huge_number),
    st.integers(3_000, 5_000).map(huge_hex),
    st.sampled_from(YAML_SNIPPETS).map(yaml_only),
    st.just(Splice('"\\ud800"', '"\\ud800"')),
    st.just(Splice('"a\\u0000b"', '"a\\0b"')),
)

# -- JSON-like values of every type ----------------------------------------------------------

FIELD_NAMES = (
    "openapi",
    "swagger",
    "info",
    "title",
    "version",
    "paths",
    "webhooks",
    "components",
    "definitions",
    "parameters",
    "schemas",
    "responses",
    "requestBodies",
    "pathItems",
    "get",
    "put",
    "post",
    "delete",
    "patch",
    "head",
    "options",
    "trace",
    "GET",
    "operationId",
    "summary",
    "description",
    "tags",
    "deprecated",
    "requestBody",
    "content",
    "schema",
    "type",
    "items",
    "format",
    "oneOf",
    "anyOf",
    "allOf",
    "properties",
    "enum",
    "name",
    "in",
    "required",
    "consumes",
    "$ref",
    "x-ext",
)
TEXT = st.text(st.characters(codec="utf-8"), max_size=12)
KEYS = st.sampled_from(FIELD_NAMES) | TEXT
SCALARS: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    TEXT,
    st.sampled_from(
        (*FIELD_NAMES, "3.0.0", "3.1.0", "2.0", "query", "path", "body", "string", "array")
    ),
)
JSON_VALUES: st.SearchStrategy[Any] = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=4),
    max_leaves=10,
)

HOSTILE_REFS = (
    "",
    "#",
    "#/",
    "#//",
    "#a",
    "/paths",
    "#/paths",
    "#/nope",
    "#/info/title/x",
    "#/paths/~1pets",
    "#/paths/~1pets/get",
    "#/paths/~1pets/get/parameters/0",
    "#/paths/~0",
    "#/paths/~2",
    "#/paths/~",
    "#/paths/%25",
    "#/paths/%",
    "#/paths/%ZZ",
    "#/paths/%2F",
    "#/definitions/Pet",
    "#/definitions/Pet/properties/id",
    "#/components/schemas/Pet",
    "#/components/parameters/limit",
    "#/tags/0",
    "#/tags/-1",
    "#/tags/01",
    "#/tags/\u00b2",
    "#/tags/\u0663",
    "#/tags/" + "9" * 5_000,
    "#/servers/0/url",
    "http://example.com/spec.json#/a",
    "other.yaml#/components/schemas/A",
    "file:///etc/passwd",
    "#/" + "a/" * 5_000,
    "#/" + "x" * 100_000,
)
REF_VALUES: st.SearchStrategy[Any] = st.sampled_from(HOSTILE_REFS) | TEXT | JSON_VALUES
REF_OBJECTS: st.SearchStrategy[Any] = st.builds(
    lambda ref, extra: {**extra, "$ref": ref},
    REF_VALUES,
    st.dictionaries(KEYS, SCALARS, max_size=2),
)
HOSTILE: st.SearchStrategy[Any] = weighted((4, JSON_VALUES), (2, REF_OBJECTS), (2, SPLICES))


def either(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly a valid value, else a hostile one of any type (so that parsing goes on deeper)."""
    return weighted((3, valid), (1, HOSTILE))


# -- serialising -----------------------------------------------------------------------------


def _token(index: int) -> str:
    return f"zqsplice{index}zq"


def serialise(document: object, as_yaml: bool) -> bytes:
    """`document` as JSON or YAML bytes, with its splices written verbatim."""
    splices: list[Splice] = []

    def swap(node: object) -> object:
        if isinstance(node, Splice):
            splices.append(node)
            return _token(len(splices) - 1)
        if isinstance(node, dict):
            return {swap(key): swap(value) for key, value in node.items()}
        if isinstance(node, list):
            return [swap(value) for value in node]
        return node

    plain = swap(document)
    if as_yaml:
        dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
        text = yaml.dump(plain, Dumper=dumper, allow_unicode=True, width=1 << 20, sort_keys=False)
        for index, splice in enumerate(splices):
            text = text.replace(_token(index), splice.yaml_text)
        text = unique_anchors(text)
    else:
        text = json.dumps(plain, ensure_ascii=False)
        for index, splice in enumerate(splices):
            text = text.replace(f'"{_token(index)}"', splice.json_text)
    return text.encode("utf-8", "surrogatepass")


# -- seeds: small real specs -----------------------------------------------------------------

SEED_NAMES = (
    "oai_petstore_swagger2.json",
    "oai_uber_swagger2.json",
    "redocly_museum.yaml",
    "oai_webhook_example_v31.json",
)


@functools.cache
def seed_bytes() -> tuple[bytes, ...]:
    """The seed specs' bytes, as published."""
    by_name = {path.name: path for path in spec_files()}
    return tuple(by_name[name].read_bytes() for name in SEED_NAMES)


@functools.cache
def seed_specs() -> tuple[dict[str, Any], ...]:
    """The seed specs as plain JSON data (YAML dates become strings)."""
    return tuple(json.loads(json.dumps(parse_spec(raw), default=str)) for raw in seed_bytes())


Location = tuple[str | int, ...]


def locations(node: object) -> list[Location]:
    """Every location in a JSON tree but the root, parents first."""
    found: list[Location] = []
    stack: list[tuple[Location, object]] = [((), node)]
    while stack:
        where, value = stack.pop()
        if where:
            found.append(where)
        if isinstance(value, dict):
            stack.extend(((*where, key), child) for key, child in value.items())
        elif isinstance(value, list):
            stack.extend(((*where, index), child) for index, child in enumerate(value))
    return found


def node_at(tree: Any, where: Location) -> Any:
    """The node at `where`."""
    for step in where:
        tree = tree[step]
    return tree


def pointer(where: Location, style: str) -> str:
    """A `$ref` to `where`: JSON-pointer escaped, percent-encoded too, or not escaped at all."""
    tokens = [str(step) for step in where]
    if style != "raw":
        tokens = [token.replace("~", "~0").replace("/", "~1") for token in tokens]
    if style == "percent":
        tokens = [quote(token, safe="") for token in tokens]
    return "#/" + "/".join(tokens)


_OPENAPI_FIELDS = frozenset(FIELD_NAMES)


def _mutate(draw: st.DrawFn, spec: dict[str, Any]) -> None:
    """Replace, delete, `$ref` or extend one random node of `spec` in place."""
    everywhere = locations(spec)
    if not everywhere:
        spec["paths"] = draw(HOSTILE)
        return
    named = [where for where in everywhere if where[-1] in _OPENAPI_FIELDS]
    where = draw(
        st.sampled_from(named) | st.sampled_from(everywhere)
        if named
        else st.sampled_from(everywhere)
    )
    parent, key = node_at(spec, where[:-1]), where[-1]
    action = draw(st.sampled_from(("replace", "delete", "ref-elsewhere", "ref-hostile", "add")))
    target = parent[key]
    if action == "replace":
        parent[key] = draw(HOSTILE)
    elif action == "delete":
        del parent[key]
    elif action == "add" and isinstance(target, dict):
        target[draw(KEYS)] = draw(HOSTILE)
    elif action == "ref-elsewhere" and isinstance(target, dict):
        # A $ref to any node, its own ancestors included: loops through real structure.
        elsewhere = draw(st.sampled_from(everywhere))
        target["$ref"] = pointer(elsewhere, draw(st.sampled_from(("escaped", "percent", "raw"))))
    else:
        parent[key] = draw(REF_OBJECTS)
    after = parent.get(key) if isinstance(parent, dict) else None
    note(f"{action} at {list(where)}: {after!r:.300}")


@st.composite
def mutated_specs(draw: st.DrawFn) -> bytes:
    """A small real spec with one to six random nodes made hostile, as JSON or YAML."""
    spec = copy.deepcopy(draw(st.sampled_from(seed_specs())))
    for _ in range(draw(st.integers(1, 6))):
        _mutate(draw, spec)
    return serialise(spec, as_yaml=draw(st.booleans()))


@settings(_BASE, max_examples=250, deadline=DEADLINE)
@given(raw=mutated_specs())
def test_mutated_real_specs_give_documents_or_spec_error(raw: bytes) -> None:
    """A real spec with hostile subtrees gives well-formed documents or a SpecError."""
    assert_contract(raw)


# -- synthetic specs: every field of every type ----------------------------------------------

METHOD_KEYS = ("get", "put", "post", "delete", "options", "head", "patch", "trace", "GET", "x-a")
SCHEMAS: st.SearchStrategy[Any] = st.recursive(
    st.fixed_dictionaries(
        {},
        optional={
            "type": either(
                st.sampled_from(("string", "integer", "array", "object", "null", ""))
                | st.lists(st.sampled_from(("string", "null")) | SCALARS, max_size=3)
            ),
            "format": either(TEXT),
            "enum": either(st.lists(SCALARS, max_size=3)),
            "$ref": REF_VALUES,
        },
    ),
    lambda children: st.fixed_dictionaries(
        {},
        optional={
            "type": either(st.sampled_from(("array", "object"))),
            "items": either(children),
            "oneOf": either(st.lists(either(children), max_size=4)),
            "anyOf": either(st.lists(either(children), max_size=4)),
            "allOf": either(st.lists(either(children), max_size=4)),
            "properties": either(st.dictionaries(TEXT, either(children), max_size=3)),
        },
    ),
    max_leaves=6,
)
MEDIA: st.SearchStrategy[Any] = st.dictionaries(
    st.sampled_from(("application/json", "text/plain", "")) | TEXT,
    either(st.fixed_dictionaries({}, optional={"schema": either(SCHEMAS)})),
    max_size=3,
)
PARAMETER: st.SearchStrategy[Any] = st.fixed_dictionaries(
    {},
    optional={
        "name": either(TEXT),
        "in": either(st.sampled_from(("query", "path", "header", "cookie", "body", "formData"))),
        "required": either(st.booleans()),
        "schema": either(SCHEMAS),
        "type": either(st.sampled_from(("string", "array", "file"))),
        "items": either(SCHEMAS),
        "content": either(MEDIA),
        "$ref": REF_VALUES,
    },
)
PARAMETERS: st.SearchStrategy[Any] = either(st.lists(either(PARAMETER), max_size=4))
OPERATION: st.SearchStrategy[Any] = st.fixed_dictionaries(
    {},
    optional={
        "operationId": either(TEXT),
        "summary": either(TEXT),
        "description": either(TEXT),
        "tags": either(st.lists(either(TEXT), max_size=4)),
        "deprecated": either(st.booleans()),
        "parameters": PARAMETERS,
        "consumes": either(st.lists(either(TEXT), max_size=3)),
        "requestBody": either(
            st.fixed_dictionaries(
                {}, optional={"content": either(MEDIA), "required": either(st.booleans())}
            )
        ),
        "responses": either(
            st.dictionaries(
                st.sampled_from(("200", "404", "default", "x-ext")) | TEXT,
                either(st.fixed_dictionaries({}, optional={"description": either(TEXT)})),
                max_size=4,
            )
        ),
    },
)
PATH_ITEM: st.SearchStrategy[Any] = st.fixed_dictionaries(
    {"get": either(OPERATION)},
    optional={
        **{method: either(OPERATION) for method in METHOD_KEYS[1:]},
        "parameters": PARAMETERS,
        "$ref": REF_VALUES,
    },
)
PATHS: st.SearchStrategy[Any] = either(
    st.dictionaries(
        st.sampled_from(("/a", "/a/{id}", "x-ext", "", "/")) | TEXT,
        either(PATH_ITEM),
        min_size=1,
        max_size=3,
    )
)
SHARED: st.SearchStrategy[Any] = either(st.dictionaries(TEXT, either(SCHEMAS), max_size=3))
VERSIONS: st.SearchStrategy[dict[str, Any]] = weighted(
    (3, st.fixed_dictionaries({"openapi": either(st.sampled_from(("3.0.3", "3.1.0")))})),
    (2, st.fixed_dictionaries({"swagger": either(st.just("2.0"))})),
    (
        1,
        st.fixed_dictionaries(
            {},
            optional={
                "openapi": either(st.sampled_from(("3.0.3", "3.1.0", "2.0", "3", "4.0"))),
                "swagger": either(st.sampled_from(("2.0", "3.0"))),
            },
        ),
    ),
)
SYNTHETIC_BODIES: st.SearchStrategy[dict[str, Any]] = st.fixed_dictionaries(
    {"paths": PATHS},
    optional={
        "info": either(
            st.fixed_dictionaries({}, optional={"title": either(TEXT), "version": either(TEXT)})
        ),
        "consumes": either(st.lists(either(TEXT), max_size=3)),
        "definitions": SHARED,
        "parameters": either(st.dictionaries(TEXT, either(PARAMETER), max_size=2)),
        "components": either(
            st.fixed_dictionaries(
                {},
                optional={
                    "schemas": SHARED,
                    "parameters": either(st.dictionaries(TEXT, either(PARAMETER), max_size=2)),
                    "pathItems": either(st.dictionaries(TEXT, either(PATH_ITEM), max_size=2)),
                },
            )
        ),
        "webhooks": either(st.dictionaries(TEXT, either(PATH_ITEM), max_size=2)),
    },
)


@settings(_BASE, max_examples=250, deadline=DEADLINE)
@given(version=VERSIONS, body=SYNTHETIC_BODIES, as_yaml=st.booleans())
def test_wrong_types_everywhere_give_documents_or_spec_error(
    version: dict[str, Any], body: dict[str, Any], as_yaml: bool
) -> None:
    """A spec whose every field may be of any type gives well-formed documents or a SpecError."""
    assert_contract(serialise(version | body, as_yaml))


# -- $ref graphs: self refs, loops, chains, dangling, external, escaped ----------------------

COMPONENT_NAMES = ("A", "B", "C", "a/b", "a~b", "100%", "%25", "~1", " ", "", "\u00fc", "0")


# Array indexes into `tags`: valid, out of range, leading zero, negative, non-ASCII digits, huge.
INDEX_TOKENS = ("0", "1", "2", "01", "-1", "", "1e3", "\u00b2", "\u0663", "\uff11", "9" * 5_000)


@st.composite
def ref_graph_specs(draw: st.DrawFn) -> bytes:
    """A spec whose components and operations `$ref` each other in loops, chains and dead ends."""
    swagger2 = draw(st.booleans())
    kinds = ("schemas", "parameters", "responses", "requestBodies", "pathItems")
    sections: list[Location] = (
        [("definitions",), ("parameters",), ("responses",)]
        if swagger2
        else [("components", kind) for kind in kinds]
    )
    names = draw(st.lists(st.sampled_from(COMPONENT_NAMES), min_size=1, max_size=5, unique=True))
    chain = draw(st.integers(0, 40))
    targets: list[Location] = [(*section, name) for section in sections for name in names]
    targets += [(*sections[0], f"chain{index}") for index in range(chain + 1)]
    kind_of_ref = st.sampled_from(
        ("component",) * 6 + ("chain", "chain", "index", "hostile", "non-string")
    )

    def ref() -> Any:
        kind = draw(kind_of_ref)
        if kind == "component":
            style = draw(st.sampled_from(("escaped", "escaped", "escaped", "percent", "raw")))
            return pointer(draw(st.sampled_from(targets)), style)
        if kind == "chain":
            return pointer((*sections[0], "chain0"), "escaped")
        if kind == "index":
            suffix = draw(st.sampled_from(("", "/name", "/name/x")))
            return f"#/tags/{draw(st.sampled_from(INDEX_TOKENS))}{suffix}"
        if kind == "hostile":
            return draw(st.sampled_from(HOSTILE_REFS))
        return draw(JSON_VALUES)

    def node(concrete: Any) -> Any:
        return {"$ref": ref()} if draw(st.integers(0, 2)) == 2 else concrete

    spec: dict[str, Any] = {"swagger": "2.0"} if swagger2 else {"openapi": "3.1.0"}
    spec["tags"] = [{"name": "t"}, {"name": "u"}]
    schema = {"type": "string"}
    parameter = {"name": "p", "in": "query", "type": "string", "schema": node(schema)}
    for section in sections:
        holder = spec
        for step in section[:-1]:
            holder = holder.setdefault(str(step), {})
        holder[str(section[-1])] = {
            name: node(parameter if section[-1] == "parameters" else schema) for name in names
        }
    first = node_at(spec, tuple(str(step) for step in sections[0]))
    for index in range(chain):
        first[f"chain{index}"] = {"$ref": pointer((*sections[0], f"chain{index + 1}"), "escaped")}
    first[f"chain{chain}"] = parameter
    operation = {
        "operationId": draw(st.sampled_from(("op", "op", "other"))),
        "parameters": node([node(parameter) for _ in range(draw(st.integers(0, 3)))]),
        "requestBody": node({"content": {"application/json": {"schema": node(schema)}}}),
        "responses": node({"200": node({"description": "ok"}), "404": node({})}),
    }
    paths = draw(
        st.lists(st.sampled_from(("/a", "/a/{id}", "/b")), min_size=1, max_size=3, unique=True)
    )
    spec["paths"] = node(
        {
            path: node(
                {method: node(operation) for method in ("get", "post")}
                | {"parameters": node([node(parameter)])}
            )
            for path in paths
        }
    )
    return serialise(spec, as_yaml=draw(st.booleans()))


@settings(_BASE, max_examples=200, deadline=DEADLINE)
@given(raw=ref_graph_specs())
def test_ref_graphs_give_documents_or_spec_error(raw: bytes) -> None:
    """Self refs, loops, long chains, dangling, external, non-string and escaped refs are safe."""
    assert_contract(raw)


# -- raw YAML text: tags, anchors, aliases, odd keys, duplicates, directives -----------------

YAML_SCALARS = (
    "a",
    "'quoted'",
    '"double"',
    "1",
    "-1",
    "0x1F",
    "1.5",
    "~",
    "null",
    "true",
    "yes",
    "off",
    "2020-01-01",
    "/pets",
    "query",
    "string",
    "array",
    "'#/paths'",
    "'#/x-anchors/0'",
    *YAML_SNIPPETS,
)
YAML_KEYS = (
    *METHOD_KEYS,
    "Get",
    "operationId",
    "tags",
    "parameters",
    "requestBody",
    "responses",
    "description",
    "summary",
    "name",
    "in",
    "schema",
    "type",
    "items",
    "oneOf",
    "content",
    "$ref",
    "<<",
    "1",
    "200",
    "~",
    "null",
    "true",
    "1.5",
    "2020-01-01",
    "/a",
    "'/a'",
    "!!binary aGVsbG8=",
    "!!python/name:os.system x",
    "*a ",
    "? [a, b] ",
    "&k key",
    "*k ",
)
NODE_PROPERTIES = (
    "&n",
    "&n !!map",
    "!!set",
    "!!omap",
    "!!pairs",
    "!!seq",
    "!!map",
    "!!str",
    "!custom",
    "!!python/object:os.system",
    "!!python/object/new:os.system",
    "!<tag:yaml.org,2002:python/object/apply:os.system>",
)


def _takes_properties(node: str) -> bool:
    """Whether a tag or an anchor may go before `node` (one of each, and none on an alias)."""
    return not node.startswith(("&", "!", "*"))


def unique_anchors(text: str) -> str:
    """`text` with anchors defined twice renamed (PyYAML refuses a duplicate anchor)."""
    seen: set[str] = set()

    def rename(match: re.Match[str]) -> str:
        name = match.group(1)
        while name in seen:
            name = f"{match.group(1)}{len(seen)}"
        seen.add(name)
        return f"&{name}"

    return re.sub(r"&([A-Za-z0-9_]+)", rename, text)


def _flow_sequence(items: list[str]) -> str:
    return "[" + ", ".join(items) + "]"


def _flow_mapping(pairs: list[tuple[str, str]]) -> str:
    return "{" + ", ".join(f"{key}: {value}" for key, value in pairs) + "}"


YAML_NODES: st.SearchStrategy[str] = st.recursive(
    st.sampled_from(YAML_SCALARS) | st.sampled_from(("*a", "*b", "*lol")),
    lambda children: st.one_of(
        st.lists(children, max_size=4).map(_flow_sequence),
        st.lists(st.tuples(st.sampled_from(YAML_KEYS), children), max_size=4).map(_flow_mapping),
        st.tuples(st.sampled_from(NODE_PROPERTIES), children.filter(_takes_properties)).map(
            " ".join
        ),
    ),
    max_leaves=10,
)
# The first anchor's node: no aliases but to itself (the others are not defined yet).
YAML_ANCHORED: st.SearchStrategy[str] = st.recursive(
    st.sampled_from(YAML_SCALARS) | st.just("*a"),
    lambda children: st.one_of(
        st.lists(children, max_size=4).map(_flow_sequence),
        st.lists(st.tuples(st.sampled_from(YAML_KEYS), children), max_size=4).map(_flow_mapping),
    ),
    max_leaves=6,
).filter(_takes_properties)
# Keys of a path item and of an operation: mostly what the builder looks for, else anything.
YAML_METHODS = weighted((3, st.sampled_from(METHOD_KEYS[:8])), (1, st.sampled_from(YAML_KEYS)))
OPERATION_KEYS = ("operationId", "tags", "parameters", "requestBody", "responses", "description")
YAML_FIELDS = weighted((3, st.sampled_from(OPERATION_KEYS)), (1, st.sampled_from(YAML_KEYS)))
YAML_OPERATIONS: st.SearchStrategy[str] = weighted(
    (1, YAML_NODES),
    (3, st.lists(st.tuples(YAML_FIELDS, YAML_NODES), max_size=5).map(_flow_mapping)),
)
YAML_PATH_ITEMS: st.SearchStrategy[str] = weighted(
    (1, YAML_NODES),
    (
        3,
        st.lists(st.tuples(YAML_METHODS, YAML_OPERATIONS), min_size=1, max_size=4).map(
            _flow_mapping
        ),
    ),
)
YAML_PREFIXES = (
    "",
    "",
    "",
    "",
    "\ufeff",
    "---\n",
    "%YAML 1.1\n---\n",
    "%YAML 2.0\n---\n",
    "%TAG !! tag:yaml.org,2002:python/\n---\n",
    "%TAG !e! tag:example.com,2000:\n---\n",
    "# a comment\n",
    "--- !!map\n",
    "--- !!python/object:os.system\n",
)
YAML_SUFFIXES = (
    "",
    "",
    "",
    "",
    "\n",
    "\n...\n",
    "\n# end",
    "\n---\nsecond: document\n",
    "\n\t- tab\n",
)
VERSION_LINES = (
    "openapi: 3.0.0",
    "openapi: 3.1.0",
    "swagger: '2.0'",
    "swagger: 2.0",
    "openapi: 3.0",
    "openapi: 2020-01-01",
    "openapi: *a",
    "openapi: *lol",
    "openapi: !!int abc",
    "openapi: [3.0.0]",
    "openapi: 0x" + "f" * 4_000,
    "openapi: 3.0.0\nopenapi: 3.0.0",
    "? openapi\n: 3.0.0",
    '"openapi": "3.0.0"',
)


@st.composite
def yaml_texts(draw: st.DrawFn) -> bytes:
    """A YAML spec written by hand: anchors, alias bombs, tags, odd and duplicate keys."""
    width = draw(st.integers(1, 9))
    lines = [
        draw(st.sampled_from(YAML_PREFIXES)) + "x-anchors:",
        f"  - &a {draw(YAML_ANCHORED)}",
        f"  - &b {_flow_sequence(['*a'] * width)}",
        f"  - &lol {_flow_sequence(['*b'] * width)}",
        draw(st.sampled_from(VERSION_LINES)),
    ]
    if draw(st.booleans()):
        lines.append(f"info: {draw(YAML_NODES)}")
    if draw(st.booleans()):
        lines.append(f"components: {draw(YAML_NODES)}")
    if draw(st.integers(0, 9)) == 9:
        lines.append(f"paths: {draw(YAML_NODES)}")
    else:
        lines.append("paths:")
        for _ in range(draw(st.integers(0, 4))):
            key = draw(st.sampled_from(YAML_KEYS) | st.sampled_from(("/a", "/b", "/a", "'/a'")))
            lines.append(f"  {key}: {draw(YAML_PATH_ITEMS)}")
    lines.append(draw(st.sampled_from(YAML_SUFFIXES)))
    return unique_anchors("\n".join(lines)).encode("utf-8", "surrogatepass")


@settings(_BASE, max_examples=250, deadline=DEADLINE)
@given(raw=yaml_texts())
def test_hostile_yaml_gives_documents_or_spec_error(raw: bytes) -> None:
    """YAML tags, aliases, non-string and duplicate keys give documents or a SpecError."""
    assert_contract(raw)


# -- bytes: random, corrupted real specs, other encodings ------------------------------------

PREFIXES = (b"", b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff", b"\x00", b"\x80")


@st.composite
def corrupted_seeds(draw: st.DrawFn) -> bytes:
    """A real spec's bytes with a few bytes inserted, deleted, overwritten or cut off."""
    raw = bytearray(draw(st.sampled_from(seed_bytes())))
    for _ in range(draw(st.integers(1, 8))):
        at = draw(st.integers(0, len(raw)))
        action = draw(st.sampled_from(("insert", "delete", "overwrite", "truncate", "copy")))
        if action == "insert":
            raw[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif action == "delete":
            del raw[at : at + draw(st.integers(1, 64))]
        elif action == "overwrite" and at < len(raw):
            raw[at] = draw(st.integers(0, 255))
        elif action == "truncate":
            del raw[at:]
        else:
            start = draw(st.integers(0, len(raw)))
            raw[at:at] = raw[start : start + draw(st.integers(1, 256))]
    return bytes(raw)


BYTES: st.SearchStrategy[bytes] = st.one_of(
    st.binary(max_size=512),
    corrupted_seeds(),
    st.text(max_size=200).map(lambda text: text.encode("utf-8", "surrogatepass")),
    st.text(max_size=200).map(lambda text: text.encode("utf-16")),
    st.tuples(st.sampled_from(PREFIXES), st.sampled_from(seed_bytes())).map(b"".join),
)


@settings(_BASE, max_examples=200, deadline=DEADLINE)
@given(raw=BYTES)
def test_arbitrary_bytes_give_documents_or_spec_error(raw: bytes) -> None:
    """Random bytes, non-UTF-8 and corrupted real specs give documents or a SpecError."""
    assert_contract(raw)


# -- depth and size ---------------------------------------------------------------------------

# Where the deep or huge value goes: a location in `_template()`, or a key of paths or responses.
_PLACES: dict[str, Location] = {
    "version": ("openapi",),
    "title": ("info", "title"),
    "paths": ("paths",),
    "path-item": ("paths", "/a"),
    "operation": ("paths", "/a", "post"),
    "description": ("paths", "/a", "get", "description"),
    "operationId": ("paths", "/a", "get", "operationId"),
    "tags": ("paths", "/a", "get", "tags"),
    "parameters": ("paths", "/a", "get", "parameters"),
    "parameter-name": ("paths", "/a", "get", "parameters", 0, "name"),
    "schema": ("paths", "/a", "get", "parameters", 0, "schema"),
    "ref": ("paths", "/a", "get", "parameters", 0, "$ref"),
    "responses": ("paths", "/a", "get", "responses"),
    "path-key": ("paths",),
    "code-key": ("paths", "/a", "get", "responses"),
}


def _template() -> dict[Any, Any]:
    operation = {
        "operationId": "op",
        "parameters": [{"name": "p", "in": "query"}],
        "responses": {"200": {"description": "ok"}},
    }
    return {"openapi": "3.0.3", "info": {"title": "T"}, "paths": {"/a": {"get": operation}}}


@st.composite
def deep_or_huge_specs(draw: st.DrawFn) -> bytes:
    """A spec with thousands of nesting levels, or a string of up to 3 MB, at one place."""
    if draw(st.booleans()):
        depth = draw(st.integers(500, 6_000))
        value = deep_arrays(depth) if draw(st.booleans()) else deep_objects(depth)
    else:
        value = huge_string(draw(st.integers(1_000_000, 3_000_000)))
    if draw(st.integers(0, 9)) == 9:
        return (value.json_text if draw(st.booleans()) else value.yaml_text).encode()
    place = draw(st.sampled_from(sorted(_PLACES)))
    spec = _template()
    where = _PLACES[place]
    if place.endswith("-key"):
        entry: dict[str, Any] = {"get": {}} if place == "path-key" else {"description": "d"}
        node_at(spec, where)[value] = entry
    else:
        node_at(spec, where[:-1])[where[-1]] = value
    return serialise(spec, as_yaml=draw(st.booleans()))


@settings(_BASE, max_examples=100, deadline=DEADLINE)
@given(raw=deep_or_huge_specs())
def test_deep_or_huge_specs_give_documents_or_spec_error(raw: bytes) -> None:
    """Thousands of nesting levels or MBs of string anywhere give documents or a SpecError."""
    assert_contract(raw)


def _json_ref_into_tags(token: str) -> bytes:
    """A JSON spec whose one parameter is a `$ref` to `#/tags/<token>` (`tags` is an array)."""
    spec = {
        "openapi": "3.0.0",
        "tags": [{"name": "t"}],
        "paths": {"/a": {"get": {"parameters": [{"$ref": f"#/tags/{token}"}]}}},
    }
    return json.dumps(spec).encode()


# -- minimal hostile documents (what the properties shrink to, kept as plain examples) --------

_DIGITS = "9" * 5_000
_HEX = "0x" + "f" * 4_000


def _yaml(text: str) -> bytes:
    return textwrap.dedent(text).lstrip().encode()


MINIMAL_CASES = [
    pytest.param(b"openapi: !!int abc\npaths: {}\n", id="yaml-int-tag-not-a-number"),
    pytest.param(b"openapi: !!float abc\npaths: {}\n", id="yaml-float-tag-not-a-number"),
    pytest.param(b"openapi: !!bool maybe\npaths: {}\n", id="yaml-bool-tag-not-a-boolean"),
    pytest.param(b"openapi: !!timestamp never\npaths: {}\n", id="yaml-timestamp-tag-not-a-date"),
    pytest.param(
        b"openapi: 3.0.0\ninfo: {version: 2020-02-30}\npaths: {}\n", id="yaml-impossible-date"
    ),
    pytest.param(f"openapi: 3.0.0\npaths: {{}}\nx: {_DIGITS}\n".encode(), id="yaml-5000-digits"),
    pytest.param(
        f'{{"openapi": "3.0.0", "paths": {{}}, "x": {_DIGITS}}}'.encode(), id="json-5000-digits"
    ),
    pytest.param(f"openapi: {_HEX}\npaths: {{}}\n".encode(), id="yaml-huge-hex-version"),
    pytest.param(
        f"openapi: 3.0.0\ninfo: {{version: {_HEX}}}\npaths: {{}}\n".encode(),
        id="yaml-huge-hex-info-version",
    ),
    pytest.param(
        _yaml(
            f"""
            openapi: 3.0.0
            paths:
              ? {_HEX}
              : {{get: {{}}}}
            """
        ),
        id="yaml-huge-hex-path-key",
    ),
    pytest.param(
        _yaml(
            f"""
            openapi: 3.0.0
            paths:
              /a:
                get:
                  responses:
                    ? {_HEX}
                    : {{description: d}}
            """
        ),
        id="yaml-huge-hex-response-code",
    ),
    pytest.param(
        b"openapi: " + b"[" * 990 + b"]" * 990 + b"\npaths: {}\n", id="yaml-990-deep-version"
    ),
    pytest.param(
        _json_ref_into_tags("\u00b2"),
        id="ref-superscript-digit-index",
    ),
    pytest.param(_json_ref_into_tags(_DIGITS), id="ref-5000-digit-index"),
    pytest.param(_json_ref_into_tags("\u0663"), id="ref-arabic-digit-index"),
    pytest.param(
        b'{"openapi": "3.0.0", "paths": {"/a": {"get": {}, "GET": {}}}}', id="get-and-GET"
    ),
    pytest.param(b'openapi: 3.0.0\npaths: {1: {get: {}}, "1": {get: {}}}\n', id="path-1-and-'1'"),
    pytest.param(
        b"openapi: 3.0.0\npaths: {~: {get: {}}, None: {get: {}}, 2020-01-01: {get: {}}}\n",
        id="null-and-date-path-keys",
    ),
    pytest.param(
        b"openapi: 3.0.0\npaths: !!python/object/apply:os.system [echo]\n", id="python-tag"
    ),
    pytest.param(b"openapi: 3.0.0\npaths: &p {/a: {get: {tags: *p}}}\n", id="recursive-alias"),
]


@pytest.mark.parametrize("raw", MINIMAL_CASES)
def test_minimal_hostile_document_gives_documents_or_spec_error(raw: bytes) -> None:
    """Each minimal hostile document gives well-formed documents or a SpecError."""
    assert_contract(raw)


# -- deterministic worst cases, in a child process with time and memory limits ---------------

LIMIT_SECONDS = 10.0
KILL_SECONDS = 15.0
# The documents' texts are bounded to 64 MiB altogether; their JSON may add uids and metadata.
MAX_JSON_CHARS = 4 * MAX_TOTAL_CHARS
MEMORY_LIMIT = 2 * 1024**3

_CHILD = textwrap.dedent(
    """
    import json, resource, sys, time
    limit = int(sys.argv[1])
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    from appsync.openapi import SpecError
    from appsync.sync.batches import load_documents
    raw = sys.stdin.buffer.read()
    start = time.monotonic()
    try:
        result = load_documents(raw)
        uids = [document["uid"] for document in result.documents]
        outcome = {"outcome": "documents", "count": len(uids), "unique": len(set(uids))}
        outcome["json_chars"] = len(json.dumps(result.documents))
        outcome["card_uids"] = [card.uid for card in result.cards] == uids
        outcome["card_bytes"] = max((len(c.model_dump_json()) for c in result.cards), default=0)
    except SpecError as exc:
        outcome = {"outcome": "SpecError", "message": str(exc)[:300]}
    except BaseException as exc:
        outcome = {"outcome": type(exc).__name__, "message": str(exc)[:300]}
    outcome["seconds"] = time.monotonic() - start
    print(json.dumps(outcome))
    """
)


def load_isolated(raw: bytes) -> dict[str, Any]:
    """What `load_documents(raw)` does in a child process limited to 2 GiB and 15 s."""
    started = time.monotonic()
    try:
        done = subprocess.run(  # noqa: S603 - our own interpreter on our own script
            [sys.executable, "-c", _CHILD, str(MEMORY_LIMIT)],
            input=raw,
            capture_output=True,
            timeout=KILL_SECONDS,
            cwd=ROOT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"load_documents hung: killed after {time.monotonic() - started:.0f} s")
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]
    outcome: dict[str, Any] = json.loads(done.stdout)
    return outcome


def _alias_levels(levels: int, width: int, first: str = '"lol"') -> str:
    """YAML anchors `l0`..`l<levels>`, each a list of `width` aliases to the one before."""
    lines = [f"  - &l0 {first}"]
    lines += [f"  - &l{n} [{', '.join([f'*l{n - 1}'] * width)}]" for n in range(1, levels + 1)]
    return "x-bomb:\n" + "\n".join(lines) + "\n"


def _all_methods(alias: str) -> str:
    methods = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
    return "{" + ", ".join(f"{method}: {alias}" for method in methods) + "}"


def billion_laughs_everywhere() -> bytes:
    """9^9 'lol's behind every field of every operation (each field is one alias)."""
    bomb = "*l9"
    operation = (
        f"{{operationId: {bomb}, summary: {bomb}, description: {bomb}, tags: {bomb}, "
        f"parameters: {bomb}, requestBody: {bomb}, responses: {bomb}}}"
    )
    paths = "".join(f"  /p{n}: *item\n" for n in range(100))
    text = (
        "openapi: 3.0.0\n"
        + _alias_levels(9, 9)
        + f"x-op: &op {operation}\n"
        + f"x-item: &item {_all_methods('*op')}\n"
        + f"info: {{title: {bomb}, version: {bomb}}}\n"
        + "paths:\n"
        + paths
    )
    return text.encode()


def billion_laughs_version() -> bytes:
    """The version field is the alias bomb itself."""
    return (_alias_levels(9, 9) + "openapi: *l9\npaths: {}\n").encode()


def _fan_out(shared: str, operation: str, paths: int = 250) -> bytes:
    """A YAML spec: `shared` anchors, and `paths` path items whose 8 methods are `operation`."""
    lines = [
        "openapi: 3.0.0",
        shared,
        f"x-item: &item {_all_methods(operation)}",
        "paths:",
        *(f"  /p{n}: *item" for n in range(paths)),
    ]
    return "\n".join(lines).encode()


def parameter_fan_out() -> bytes:
    """10,000 aliases of one parameter, shared by 2,000 operations (~60 KB of YAML)."""
    aliases = ", ".join(["*p"] * 10_000)
    shared = f"x-p: &p {{name: p, in: query, schema: {{type: string}}}}\nx-list: &list [{aliases}]"
    return _fan_out(shared, "{parameters: *list}")


def schema_fan_out() -> bytes:
    """200 parameters whose schema is a `oneOf` of 8 `oneOf`s of 8..., four levels deep."""
    levels = _alias_levels(4, 8, "{type: string}").replace("[", "{oneOf: [").replace("]", "]}")
    aliases = ", ".join(["*p"] * 200)
    shared = f"{levels}x-p: &p {{name: p, in: query, schema: *l4}}\nx-list: &list [{aliases}]"
    return _fan_out(shared, "{parameters: *list}", paths=25)


def tag_fan_out() -> bytes:
    """100,000 tags (200 KB of YAML), shared by 2,000 operations."""
    return _fan_out("x-tags: &tags [" + ", ".join(["t"] * 100_000) + "]", "{tags: *tags}")


def response_fan_out() -> bytes:
    """10,000 responses, shared by 2,000 operations."""
    responses = ", ".join(f"'{n}': {{description: d}}" for n in range(10_000))
    return _fan_out(f"x-responses: &responses {{{responses}}}", "{responses: *responses}")


def huge_description_shared() -> bytes:
    """A 2 MB description (padded: stripping copies it) shared by 2,000 operations."""
    description = " " + "x" * 2_000_000 + " "
    return _fan_out(f'x-d: &d "{description}"', "{description: *d, summary: *d}")


def json_spec(operation: str, path: str = '"/a"') -> bytes:
    """A JSON 3.0 spec with one operation (JSON text) at `path` (JSON text)."""
    return ('{"openapi": "3.0.3", "paths": {' + path + ': {"get": ' + operation + "}}}").encode()


def yaml_spec(description: str) -> bytes:
    """A YAML 3.0 spec with one operation whose description is `description` (YAML text)."""
    return f"openapi: 3.0.3\npaths: {{/a: {{get: {{description: {description}}}}}}}\n".encode()


def many_operations(count: int) -> bytes:
    """A JSON spec with `count` paths of one operation each."""
    paths = ", ".join(f'"/p{n}": {{"get": {{}}}}' for n in range(count))
    return ('{"openapi": "3.0.3", "paths": {' + paths + "}}").encode()


def yaml_block_nesting(depth: int) -> bytes:
    """A YAML block sequence nested `depth` times (`- - - ... 1`)."""
    return ("openapi: 3.0.3\npaths: {}\nx:\n" + "- " * depth + "1\n").encode()


DEEP = 50_000
HUGE = 20 * 1024 * 1024
HOSTILE_CASES: dict[str, Callable[[], bytes]] = {
    "billion-laughs-everywhere": billion_laughs_everywhere,
    "billion-laughs-version": billion_laughs_version,
    "json-arrays-50k-deep": lambda: json_spec(f'{{"description": {deep_arrays(DEEP).json_text}}}'),
    "json-objects-50k-deep": lambda: json_spec(deep_objects(DEEP).json_text),
    "json-document-50k-deep": lambda: b"[" * DEEP + b"]" * DEEP,
    "yaml-arrays-50k-deep": lambda: yaml_spec(deep_arrays(DEEP).yaml_text),
    "yaml-objects-50k-deep": lambda: yaml_spec(deep_objects(DEEP).yaml_text),
    "yaml-block-50k-deep": lambda: yaml_block_nesting(DEEP),
    "json-20mb-description": lambda: json_spec(f'{{"description": {huge_string(HUGE).json_text}}}'),
    "yaml-20mb-description": lambda: yaml_spec(huge_string(HUGE).yaml_text),
    "json-20mb-path-key": lambda: json_spec("{}", path=huge_string(HUGE).json_text),
    "json-20mb-operation-id": lambda: json_spec(
        f'{{"operationId": {huge_string(HUGE).json_text}}}'
    ),
    "json-60k-operations": lambda: many_operations(60_000),
    "parameter-fan-out": parameter_fan_out,
    "schema-fan-out": schema_fan_out,
    "tag-fan-out": tag_fan_out,
    "response-fan-out": response_fan_out,
    "huge-description-shared": huge_description_shared,
}


@pytest.mark.parametrize("name", list(HOSTILE_CASES))
def test_worst_case_finishes_in_bounded_time_and_memory(name: str) -> None:
    """Alias bombs, 50k-deep nesting, 20 MB strings and fan-out end within 10 s and 2 GiB."""
    outcome = load_isolated(HOSTILE_CASES[name]())
    assert outcome["outcome"] in {"documents", "SpecError"}, outcome
    assert outcome["seconds"] < LIMIT_SECONDS, outcome
    if outcome["outcome"] == "documents":
        assert outcome["unique"] == outcome["count"], outcome
        assert outcome["json_chars"] <= MAX_JSON_CHARS, outcome
        assert outcome["card_uids"], outcome
        assert outcome["card_bytes"] <= MAX_CARD_BYTES, outcome
    else:
        assert outcome["message"], outcome
