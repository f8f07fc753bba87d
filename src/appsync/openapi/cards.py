"""An operation's card: what an assistant needs to *call* it, built from the parsed spec.

Pure functions over plain data, like the documents beside them (`appsync.openapi.documents`
builds both in one pass, so a card has its document's uid). A card holds the method, the path, the
full URL template (the spec's `servers`, or Swagger 2.0's scheme + `host` + `basePath`, resolved
against the spec's own URL when relative), summary, plain-text description, parameters, the
request body (media types, its top-level fields and its JSON Schema with local `$ref`s inlined),
the responses (status → description and the schema's top-level fields), the names of the security
schemes that apply, and whether it is deprecated.

Bounded whatever the spec: each inlined schema stops at `MAX_SCHEMA_DEPTH` levels and
`MAX_SCHEMA_NODES` objects, a `$ref` that contains itself is cut where it recurs, and one spec's
cards together inline at most `MAX_SPEC_NODES` objects; every cut leaves a `$comment` in the
schema and a line in `notes`. Examples, `x-` extensions, `xml` and `externalDocs` are left out.

Cards travel inside batch events through the Inngest server, which reads JSON numbers as 64-bit
floats, so every value is made JSON-safe here: integers beyond 2**53 become floats (as the
server would make them), integral floats become integers, dates become ISO text, and values JSON
cannot carry (NaN, infinities, numbers beyond a float) become text. The card the sync function
builds is then the card the index stores, byte for byte.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from itertools import islice
from typing import Any
from urllib.parse import urljoin, urlsplit

import pydantic_core
from pydantic import BaseModel, ConfigDict, Field

from appsync.openapi.errors import SpecError
from appsync.openapi.refs import RefResolver
from appsync.openapi.scalars import clean_text, scalar_text

MAX_DESCRIPTION_CHARS = 2_000
MAX_SHORT_CHARS = 300  # a parameter's or a response's description, one in a schema
MAX_FIELD_DESCRIPTION_CHARS = 160
MAX_SCHEMA_DEPTH = 6
MAX_SCHEMA_NODES = 400
MAX_SCHEMA_BYTES = 16 * 1024  # one inlined schema's JSON; over it, shallower and terser
MAX_SPEC_NODES = 200_000
MAX_LIST_ITEMS = 50  # enum values, required names, list-valued keywords
MAX_KEYWORDS = 100  # keys of one schema object
MAX_FIELD_VISITS = 200  # schemas visited to find one schema's top-level fields
MAX_FIELDS = 100
MAX_NAME_CHARS = 200
MAX_SERVERS = 5
MAX_SECURITY = 10
MAX_MEDIA_TYPES = 10
MAX_RESPONSES = 50
MAX_URL_CHARS = 2_000
MAX_NOTES = 20
MAX_CARD_BYTES = 64 * 1024  # one card's JSON, whatever the spec (`fitted`)
_MAX_EXACT = 2**53  # the largest integer a 64-bit float holds exactly
_FIELD_DEPTH = 4  # allOf / oneOf / array levels followed to find a schema's top-level fields

# (depth, description characters) tried in turn until an inlined schema fits MAX_SCHEMA_BYTES.
_SCHEMA_LADDER: tuple[tuple[int, int], ...] = (
    (MAX_SCHEMA_DEPTH, MAX_SHORT_CHARS),
    (MAX_SCHEMA_DEPTH, 100),
    (4, 100),
    (3, 60),
    (2, 60),
    (1, 60),
)
# Keywords whose value is a schema, a list of schemas, or a map of names to schemas.
_SCHEMA_KEYWORDS = frozenset(
    {"items", "additionalProperties", "not", "if", "then", "else", "contains", "propertyNames"}
    | {"unevaluatedItems", "unevaluatedProperties", "additionalItems"}
)
_SCHEMA_LISTS = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
_SCHEMA_MAPS = frozenset({"properties", "patternProperties", "dependentSchemas", "$defs"})
# Keywords left out of a card's schemas: big, and not needed to make a call.
_DROPPED_KEYWORDS = frozenset({"example", "examples", "xml", "externalDocs", "$schema", "$id"})
_SERVER_VARIABLE = re.compile(r"\{([^{}]{1,100})\}")


class _CardPart(BaseModel):
    """Card models: strict, named on the wire as OpenAPI names them (`in`, `operationId`)."""

    model_config = ConfigDict(
        extra="ignore",
        strict=True,
        frozen=True,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
    )


class CardParameter(_CardPart):
    """A parameter of the operation."""

    name: str
    location: str = Field(alias="in", description="path, query, header, cookie or formData")
    required: bool
    type: str = Field(description="A short type phrase, e.g. 'string (uuid)', 'array of integer'.")
    description: str


class CardField(_CardPart):
    """A top-level field of a request body."""

    name: str
    type: str
    required: bool
    description: str


class CardBody(_CardPart):
    """The request body: its media types, its top-level fields and its JSON Schema."""

    required: bool
    media_types: list[str] = Field(alias="mediaTypes")
    fields: list[CardField]
    json_schema: dict[str, Any] | None = Field(
        alias="schema",
        description="The first media type's schema, local $refs inlined (depth- and size-capped).",
    )


class CardResponse(_CardPart):
    """One response: what it means and the top-level fields of its schema."""

    description: str
    media_types: list[str] = Field(alias="mediaTypes")
    fields: list[str]


class OperationCard(_CardPart):
    """Everything needed to call one operation."""

    uid: str
    service: str
    version: str
    method: str = Field(description="The HTTP method, upper case.")
    path: str
    url: str = Field(description="The full URL template: server + path, path parameters in {}.")
    operation_id: str | None = Field(default=None, alias="operationId")
    summary: str
    description: str = Field(description="Plain text, capped.")
    parameters: list[CardParameter]
    request_body: CardBody | None = Field(default=None, alias="requestBody")
    responses: dict[str, CardResponse] = Field(description="By status code (or 'default').")
    security: list[str] = Field(description="Names of the security schemes that apply.")
    deprecated: bool
    notes: list[str] = Field(description="What was cut to keep the card small, and where.")


class TooLargeError(ValueError):
    """A value with more nodes or deeper nesting than `json_safe` was allowed to copy."""


def json_safe(value: object, *, max_nodes: int = 10_000, max_depth: int = 64) -> object:
    """A parsed YAML or JSON value as JSON that survives a round trip through 64-bit floats.

    At most `max_nodes` values and `max_depth` levels are copied (YAML aliases can make a small
    document a huge tree): beyond them, `TooLargeError`.
    """
    budget = [max_nodes]

    def copy(item: object, depth: int) -> object:
        budget[0] -= 1
        if budget[0] < 0 or depth > max_depth:
            raise TooLargeError("the value is too large to copy")
        if isinstance(item, dict):
            return {scalar_text(k) or str(k): copy(v, depth + 1) for k, v in item.items()}
        if isinstance(item, list | tuple):
            return [copy(v, depth + 1) for v in item]
        return _wire_scalar(item)

    return copy(value, 0)


def _wire_scalar(value: object) -> object:
    """A scalar as a parser of 64-bit floats reads it back; text when JSON cannot carry it."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int) and abs(value) > _MAX_EXACT:
        try:
            value = float(value)
        except OverflowError:
            return scalar_text(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return int(value) if value.is_integer() and abs(value) <= _MAX_EXACT else value
    return value if isinstance(value, int) else scalar_text(value)  # dates become ISO text


def plain_text(value: object, limit: int) -> str:
    """A scalar of the spec as plain text (markup stripped) of at most `limit` characters."""
    return _short(_head(value, limit), limit)


def _head(value: object, chars: int = MAX_DESCRIPTION_CHARS) -> str:
    """The text of a scalar, cut before it is copied (a description may be megabytes)."""
    return scalar_text(value[: chars * 2] if isinstance(value, str) else value)


# Memoised: the same descriptions recur in the inline schemas of many operations (Stripe's 417
# cards clean 7,197 of them); 16k entries of at most 600 characters bound the memory.
@functools.lru_cache(maxsize=16_384)
def _short(text: str, limit: int = MAX_SHORT_CHARS) -> str:
    """`text` as plain text of at most `limit` characters (markup stripped)."""
    # Clipped before cleaning: a description may be megabytes, shared by every operation.
    text = clean_text(text[: limit * 2])
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


@dataclass(frozen=True, slots=True)
class _Inlined:
    """A `$ref` target inlined once, reused wherever the same target recurs at the same depth."""

    schema: object
    nodes: int
    notes: tuple[str, ...]


class _SpecState:
    """What one spec's cards share: the objects they may still inline, and inlined targets."""

    def __init__(self, nodes: int) -> None:
        self.nodes = nodes
        # (ref, levels left, description characters, at the root) → the target inlined without
        # a cycle cut or a size cut (so it is the same wherever it appears).
        self.inlined: dict[tuple[str, int, int, bool], _Inlined] = {}


class _Inliner:
    """One schema with its local `$ref`s inlined, within depth, node and spec budgets."""

    def __init__(
        self,
        refs: RefResolver,
        spec: _SpecState,
        where: str,
        *,
        max_depth: int = MAX_SCHEMA_DEPTH,
        description_chars: int = MAX_SHORT_CHARS,
    ) -> None:
        self.refs = refs
        self.spec = spec
        self.where = where
        self.max_depth = max_depth
        self.description_chars = description_chars
        self.nodes = 0
        self.cuts = 0  # cycle and size cuts: an inlined target with any is not reused
        self.notes: dict[str, None] = {}  # ordered, without duplicates

    def schema(self, node: object, depth: int, active: tuple[str, ...]) -> object:
        if isinstance(node, bool):  # `true` / `false` are schemas too
            return node
        if not isinstance(node, dict):
            return {}
        ref = node.get("$ref")
        if isinstance(ref, str):
            return self._ref(node, ref, depth, active)
        if depth >= self.max_depth:
            self.notes[f"levels below {self.max_depth} left out"] = None
            return self._stub(node, "deeper levels left out")
        if self.nodes >= MAX_SCHEMA_NODES or self.nodes >= self.spec.nodes:
            self.notes["left out in part: the schema is too large"] = None
            self.cuts += 1
            return self._stub(node, "left out: the schema is too large")
        self.nodes += 1
        out: dict[str, object] = {}
        for raw_key, value in islice(node.items(), MAX_KEYWORDS):
            key = scalar_text(raw_key)
            if not key or key.startswith("x-") or key in _DROPPED_KEYWORDS:
                continue
            out[key] = self._keyword(key, value, depth, active)
        return out

    def _keyword(self, key: str, value: object, depth: int, active: tuple[str, ...]) -> object:
        if key in _SCHEMA_KEYWORDS:
            return self.schema(value, depth + 1, active)
        if key in _SCHEMA_LISTS and isinstance(value, list):
            return [self.schema(v, depth + 1, active) for v in value[:MAX_LIST_ITEMS]]
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            return {
                scalar_text(name)[:MAX_NAME_CHARS]: self.schema(v, depth + 1, active)
                for name, v in islice(value.items(), MAX_FIELDS)
                if scalar_text(name)
            }
        if key in {"description", "title"} and isinstance(value, str):
            return _short(value, self.description_chars if depth else MAX_SHORT_CHARS)
        if isinstance(value, list):
            return _small_json(value[:MAX_LIST_ITEMS])
        return _small_json(value)

    def _ref(self, node: dict[Any, Any], ref: str, depth: int, active: tuple[str, ...]) -> object:
        if ref in active:
            self.notes[f"the cycle through {ref[:200]} is cut where it recurs"] = None
            self.cuts += 1
            return {"$comment": f"cycle: {ref[:200]} again (cut here)"}
        inlined = self._target(ref, depth, active)
        siblings = {k: v for k, v in node.items() if k != "$ref"}
        if not siblings or not isinstance(inlined, dict):
            return inlined
        # OpenAPI 3.1 lets a $ref carry its own description (and more): those win.
        extra = self.schema(siblings, depth, active)
        return {**inlined, **extra} if isinstance(extra, dict) else inlined

    def _target(self, ref: str, depth: int, active: tuple[str, ...]) -> object:
        key = (ref, self.max_depth - depth, self.description_chars, depth == 0)
        known = self.spec.inlined.get(key)
        if known is not None and self.nodes + known.nodes <= min(MAX_SCHEMA_NODES, self.spec.nodes):
            self.nodes += known.nodes
            self.notes.update(dict.fromkeys(known.notes))
            return known.schema
        try:
            target = self.refs.resolve({"$ref": ref}, ref)
        except SpecError as exc:
            self.notes[str(exc)] = None
            return {"$comment": f"unresolved $ref {ref[:200]}"}
        nodes, cuts, notes = self.nodes, self.cuts, self.notes
        self.cuts, self.notes = 0, {}
        inlined = self.schema(target, depth, (*active, ref))
        if not self.cuts:
            self.spec.inlined[key] = _Inlined(inlined, self.nodes - nodes, tuple(self.notes))
        self.cuts += cuts
        self.notes = notes | self.notes
        return inlined

    @staticmethod
    def _stub(node: Mapping[Any, Any], comment: str) -> dict[str, object]:
        kind = node.get("type")
        stub: dict[str, object] = {"$comment": comment}
        if isinstance(kind, str):
            stub["type"] = kind
        return stub


def _small_json(value: object) -> object:
    """A JSON value that is not a schema (a `default`, an `enum`): kept only when small."""
    if not isinstance(value, dict | list | tuple):
        if isinstance(value, str) and len(value) > MAX_SHORT_CHARS:
            return value[: MAX_SHORT_CHARS - 1] + "…"
        return _wire_scalar(value)
    try:
        safe = json_safe(value, max_nodes=MAX_LIST_ITEMS * 4, max_depth=8)
    except TooLargeError:
        return {"$comment": "a large value, left out"}
    if len(pydantic_core.to_json(safe)) <= MAX_SHORT_CHARS * 4:
        return safe
    return {"$comment": "a large value, left out"}


def card_size(card: OperationCard) -> int:
    """The bytes of a card's JSON."""
    return len(card.model_dump_json())


def fitted(card: OperationCard) -> OperationCard:
    """`card` within MAX_CARD_BYTES: trimmed lists and no body schema, else only what to call."""
    if card_size(card) <= MAX_CARD_BYTES:
        return card
    limit = f"to fit {MAX_CARD_BYTES // 1024} KiB"
    body = card.request_body
    trimmed = card.model_copy(
        update={
            "parameters": [
                p.model_copy(update={"description": p.description[:60]})
                for p in card.parameters[:30]
            ],
            "request_body": None
            if body is None
            else body.model_copy(
                update={
                    "json_schema": None,
                    "fields": [
                        f.model_copy(update={"description": f.description[:60]})
                        for f in body.fields[:30]
                    ],
                }
            ),
            "responses": {
                code: response.model_copy(update={"fields": response.fields[:10]})
                for code, response in islice(card.responses.items(), 10)
            },
            "notes": [*card.notes[:5], f"parameters, body and responses trimmed {limit}"],
        }
    )
    if card_size(trimmed) <= MAX_CARD_BYTES:
        return trimmed
    return card.model_copy(
        update={
            "parameters": [],
            "request_body": None,
            "responses": {},
            "security": card.security[:3],
            "description": card.description[:MAX_SHORT_CHARS],
            "notes": [f"parameters, body and responses left out {limit}"],
        }
    )


class CardBuilder:
    """Builds the cards of one spec's operations (`appsync.openapi.documents` drives it)."""

    def __init__(
        self,
        spec: Mapping[str, Any],
        refs: RefResolver,
        *,
        spec_url: str | None,
        type_phrase: Callable[[object, str], str],
    ) -> None:
        self.spec = spec
        self.refs = refs
        self.swagger2 = "swagger" in spec and "openapi" not in spec
        self.spec_url = spec_url
        self.type_phrase = type_phrase
        self.state = _SpecState(MAX_SPEC_NODES)
        self._responses_read: dict[tuple[int, int], dict[str, CardResponse]] = {}

    def card(  # noqa: PLR0913 - one operation's parts, all of them needed
        self,
        *,
        uid: str,
        service: str,
        version: str,
        method: str,
        path: str,
        operation: Mapping[str, Any],
        path_item: Mapping[str, Any],
        parameters: list[CardParameter],
    ) -> OperationCard:
        """The card of one operation."""
        where = f"{method.upper()} {path}"
        notes: dict[str, None] = {}
        body: CardBody | None = None
        responses: dict[str, CardResponse] = {}
        try:
            body = (
                self._swagger2_body(operation, path_item, where, notes)
                if self.swagger2
                else self._body(operation, where, notes)
            )
            responses = self._responses(operation, where, notes)
        except SpecError as exc:  # the document reports what it needs; the card notes the rest
            notes[str(exc)] = None
        summary = _short(_head(operation.get("summary"), MAX_SHORT_CHARS))
        description = _short(_head(operation.get("description")), MAX_DESCRIPTION_CHARS)
        card = OperationCard(
            uid=uid,
            service=service,
            version=version,
            method=method.upper(),
            path=path,
            url=self.url(operation, path_item, path)[:MAX_URL_CHARS],
            operation_id=scalar_text(operation.get("operationId"))[:MAX_NAME_CHARS] or None,
            summary=summary,
            description=description,
            parameters=[p for p in parameters if p.location != "body"],
            request_body=body,
            responses=responses,
            security=self._security(operation),
            deprecated=operation.get("deprecated") is True,
            notes=[note[:MAX_SHORT_CHARS] for note in islice(notes, MAX_NOTES)],
        )
        return fitted(card)

    # -- where to send it --------------------------------------------------------------------

    def url(self, operation: Mapping[str, Any], path_item: Mapping[str, Any], path: str) -> str:
        """The full URL template of `path`: its server (variables at their defaults) + path."""
        base = self._swagger2_base() if self.swagger2 else self._server(operation, path_item)
        if self.spec_url and not urlsplit(base).scheme:
            base = urljoin(self.spec_url, base or "/")
        return base.rstrip("/") + path

    def _server(self, operation: Mapping[str, Any], path_item: Mapping[str, Any]) -> str:
        for scope in (operation, path_item, self.spec):  # the innermost `servers` wins
            servers = scope.get("servers")
            if isinstance(servers, list) and servers and isinstance(servers[0], dict):
                server = servers[0]
                url = scalar_text(server.get("url"))
                variables = server.get("variables")
                return _SERVER_VARIABLE.sub(functools.partial(_variable, variables), url)
        return ""

    def _swagger2_base(self) -> str:
        schemes = self.spec.get("schemes")
        listed = [scalar_text(s) for s in schemes] if isinstance(schemes, list) else []
        own = urlsplit(self.spec_url or "")
        scheme = "https" if "https" in listed else (listed[0] if listed else own.scheme or "https")
        host = scalar_text(self.spec.get("host")) or own.netloc
        base_path = scalar_text(self.spec.get("basePath"))
        if not host:
            return base_path
        return f"{scheme}://{host}{base_path}"

    # -- what to send ------------------------------------------------------------------------

    def _body(
        self, operation: Mapping[str, Any], where: str, notes: dict[str, None]
    ) -> CardBody | None:
        body = self.refs.resolve(operation.get("requestBody"), f"{where} requestBody")
        if not isinstance(body, dict):
            return None
        content = body.get("content")
        content = content if isinstance(content, dict) else {}
        media_types = [scalar_text(m) for m in islice(content, MAX_MEDIA_TYPES) if scalar_text(m)]
        first = next(iter(content.values()), None)
        raw_schema = first.get("schema") if isinstance(first, dict) else None
        return self._card_body(
            body.get("required") is True, media_types, raw_schema, f"{where} requestBody", notes
        )

    def _swagger2_body(
        self,
        operation: Mapping[str, Any],
        path_item: Mapping[str, Any],
        where: str,
        notes: dict[str, None],
    ) -> CardBody | None:
        consumes = operation.get("consumes", self.spec.get("consumes"))
        media_types = (
            [scalar_text(m) for m in consumes[:MAX_MEDIA_TYPES] if scalar_text(m)]
            if isinstance(consumes, list)
            else []
        )
        for scope in (operation.get("parameters"), path_item.get("parameters")):
            listed = self.refs.resolve(scope, f"{where} parameters")
            for raw in listed[:MAX_FIELDS] if isinstance(listed, list) else []:
                node = self.refs.resolve(raw, f"{where} parameters")
                if isinstance(node, dict) and node.get("in") == "body":
                    return self._card_body(
                        node.get("required") is True,
                        media_types or ["application/json"],
                        node.get("schema"),
                        f"{where} body",
                        notes,
                    )
        return None

    def _card_body(
        self,
        required: bool,
        media_types: list[str],
        raw_schema: object,
        where: str,
        notes: dict[str, None],
    ) -> CardBody:
        schema = self._schema(raw_schema, where, notes) if raw_schema is not None else None
        return CardBody(
            required=required,
            media_types=media_types,
            fields=self._fields(raw_schema, where),
            json_schema=schema,
        )

    def _schema(self, raw: object, where: str, notes: dict[str, None]) -> dict[str, Any] | None:
        """`raw` inlined, shallower and terser until its JSON fits MAX_SCHEMA_BYTES."""
        for max_depth, description_chars in _SCHEMA_LADDER:
            inliner = _Inliner(
                self.refs,
                self.state,
                where,
                max_depth=max_depth,
                description_chars=description_chars,
            )
            inlined = inliner.schema(raw, 0, ())
            schema = inlined if isinstance(inlined, dict) else {}
            if len(pydantic_core.to_json(schema)) <= MAX_SCHEMA_BYTES:
                self.state.nodes -= inliner.nodes
                notes.update((f"{where}: {note}", None) for note in inliner.notes)
                if description_chars < MAX_SHORT_CHARS:
                    notes[f"{where}: nested descriptions cut to {description_chars} characters"] = (
                        None
                    )
                return schema
        notes[
            f"{where}: schema left out: over {MAX_SCHEMA_BYTES // 1024} KiB even one level deep"
        ] = None
        return None

    def _fields(self, raw_schema: object, where: str) -> list[CardField]:
        fields: dict[str, CardField] = {}
        for name, raw, required in self._properties(raw_schema, where):
            if name not in fields and len(fields) < MAX_FIELDS:
                # A description beside a $ref (OpenAPI 3.1) wins over the target's.
                resolved = self._resolved(raw, where)
                description = next(
                    (
                        scalar_text(node.get("description"))
                        for node in (raw, resolved)
                        if isinstance(node, dict) and scalar_text(node.get("description"))
                    ),
                    "",
                )
                fields[name] = CardField(
                    name=name,
                    type=self._type(raw, where),
                    required=required,
                    description=_short(description, MAX_FIELD_DESCRIPTION_CHARS),
                )
        return list(fields.values())

    def _properties(self, raw: object, where: str) -> list[tuple[str, object, bool]]:
        """(name, schema, required) of a schema's top-level properties, allOf and oneOf merged.

        An array's are its items'. A field required in one oneOf/anyOf member only is optional.
        """
        visits = [MAX_FIELD_VISITS]

        def walk(raw: object, depth: int) -> list[tuple[str, object, bool]]:
            visits[0] -= 1
            node = self._resolved(raw, where)
            if not isinstance(node, dict) or depth > _FIELD_DEPTH or visits[0] < 0:
                return []
            listed = node.get("required")
            required = (
                {scalar_text(r) for r in listed[:MAX_FIELDS]} if isinstance(listed, list) else set()
            )
            found: list[tuple[str, object, bool]] = []
            properties = node.get("properties")
            if isinstance(properties, dict):
                for raw_name, schema in islice(properties.items(), MAX_FIELDS):
                    name = scalar_text(raw_name)[:MAX_NAME_CHARS]
                    if name:
                        found.append((name, schema, name in required))
            for combinator in ("allOf", "oneOf", "anyOf"):
                members = node.get(combinator)
                for member in members[:MAX_LIST_ITEMS] if isinstance(members, list) else []:
                    found.extend(
                        (name, schema, (is_required and combinator == "allOf") or name in required)
                        for name, schema, is_required in walk(member, depth + 1)
                    )
            if node.get("type") == "array" and not found:
                found = walk(node.get("items"), depth + 1)
            return found

        return walk(raw, 0)

    def _resolved(self, schema: object, where: str) -> object:
        try:
            return self.refs.resolve(schema, where)
        except SpecError:
            return None

    def _type(self, schema: object, where: str) -> str:
        try:
            return self.type_phrase(schema, where)
        except SpecError:
            return "any"

    # -- what comes back, and who may call ---------------------------------------------------

    def _responses(
        self, operation: Mapping[str, Any], where: str, notes: dict[str, None]
    ) -> dict[str, CardResponse]:
        raw = self.refs.resolve(operation.get("responses"), f"{where} responses")
        if not isinstance(raw, dict):
            return {}
        produces = operation.get("produces", self.spec.get("produces")) if self.swagger2 else None
        # A responses object shared by many operations (a $ref, a YAML alias) is read once.
        key = (id(raw), id(produces))
        known = self._responses_read.get(key)
        if known is not None:
            return known
        found: dict[str, None] = {}
        responses = self._read_responses(raw, produces, where, found)
        if not found:  # notes name where they were found: those are not shared
            self._responses_read[key] = responses
        notes.update(found)
        return responses

    def _read_responses(
        self, raw: Mapping[Any, Any], produces: object, where: str, notes: dict[str, None]
    ) -> dict[str, CardResponse]:
        responses: dict[str, CardResponse] = {}
        for raw_code, value in islice(raw.items(), MAX_RESPONSES):
            code = scalar_text(raw_code)[:20]
            if not code or code.startswith("x-"):
                continue
            try:
                node = self.refs.resolve(value, f"{where} responses.{code}")
            except SpecError as exc:
                notes[str(exc)] = None
                continue
            node = node if isinstance(node, dict) else {}
            media_types: list[str] = []
            schema: object = node.get("schema")  # Swagger 2.0
            content = node.get("content")
            if isinstance(content, dict) and content:
                media_types = [
                    scalar_text(m) for m in islice(content, MAX_MEDIA_TYPES) if scalar_text(m)
                ]
                first = next(iter(content.values()))
                schema = first.get("schema") if isinstance(first, dict) else None
            elif isinstance(produces, list) and schema is not None:  # Swagger 2.0
                media_types = [scalar_text(m) for m in produces[:MAX_MEDIA_TYPES]]
            names = dict.fromkeys(
                name for name, _, _ in self._properties(schema, f"{where} responses.{code}")
            )
            responses[code] = CardResponse(
                description=_short(scalar_text(node.get("description"))),
                media_types=[m for m in media_types if m],
                fields=list(names)[:MAX_FIELDS],
            )
        return responses

    def _security(self, operation: Mapping[str, Any]) -> list[str]:
        requirements = operation.get("security", self.spec.get("security"))
        if not isinstance(requirements, list):
            return []
        names: dict[str, None] = {}
        for requirement in requirements[:MAX_SECURITY]:
            if isinstance(requirement, dict):
                names.update((scalar_text(name)[:MAX_NAME_CHARS], None) for name in requirement)
        return [name for name in names if name][:MAX_SECURITY]


def _variable(variables: object, match: re.Match[str]) -> str:
    variable = variables.get(match.group(1)) if isinstance(variables, dict) else None
    default = scalar_text(variable.get("default")) if isinstance(variable, dict) else ""
    return default or match.group(0)
