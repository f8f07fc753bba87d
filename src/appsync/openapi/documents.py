"""A parsed spec → one text document per operation, ready to embed.

Pure functions over plain data: no I/O, no Inngest. The same spec always gives the same documents,
byte for byte (document order, then the fixed rules below).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, NotRequired, TypedDict

from appsync.openapi.cards import CardBuilder, CardParameter, OperationCard, plain_text
from appsync.openapi.errors import SpecError
from appsync.openapi.refs import RefResolver
from appsync.openapi.scalars import scalar_text

HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})

# Parsed JSON and YAML are plain dicts and lists; `isinstance(x, dict)` is several times faster
# than checking against the `Mapping` ABC, and this module runs it on every node it reads.

# Bounds that keep a hostile spec (huge strings, alias or $ref amplification: one list shared by
# thousands of operations) from producing unbounded output or work: per field, per document, per
# operation's lists, and for one spec's documents altogether.
MAX_FIELD_CHARS = 4_000
MAX_TEXT_CHARS = 16_000
MAX_DOCUMENTS = 50_000
MAX_TOTAL_CHARS = 64 * 1024 * 1024
MAX_PARAMETERS = 256  # per list (path item, operation)
MAX_RESPONSES = 100
MAX_TAGS = 50
MAX_MEDIA_TYPES = 10
MAX_UID_BYTES = 512  # vector stores limit ids (Pinecone: 512 bytes)
_TYPE_DEPTH = 3
_ELLIPSIS = "…"


class Metadata(TypedDict):
    """Metadata stored next to a document's vector (no nulls: vector stores reject them)."""

    tags: list[str]
    service: str
    version: str
    operationId: NotRequired[str]
    method: str
    path: str
    deprecated: bool


class Document(TypedDict):
    """One operation as a text document: `{uid, text, metadata}`."""

    uid: str
    text: str
    metadata: Metadata


@dataclass(frozen=True, slots=True)
class SpecDocuments:
    """The documents of one spec, with what identifies it, and each document's card (same order)."""

    service: str
    version: str
    documents: list[Document]
    cards: list[OperationCard] = field(default_factory=list)


def _clip(text: str, limit: int = MAX_FIELD_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + _ELLIPSIS


def _mapping(value: object, where: str) -> Mapping[Any, Any]:
    if not isinstance(value, dict):
        raise SpecError(f"{where} must be an object, got {_kind(value)}")
    return value


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    return type(value).__name__


@dataclass(frozen=True, slots=True)
class _Operation:
    path: str
    method: str
    node: Mapping[str, Any]
    item: Mapping[str, Any]

    @property
    def path_parameters(self) -> object:
        return self.item.get("parameters")


@dataclass(frozen=True, slots=True)
class _Parameter:
    name: str
    location: str
    type: str
    required: bool
    description: object  # as the spec has it: made plain text only for the card


class _Builder:
    """Holds one spec's resolver and dialect while its operations become documents."""

    def __init__(self, spec: Mapping[str, Any], spec_url: str | None) -> None:
        self.spec = spec
        self.refs = RefResolver(spec)
        self.swagger2 = "swagger" in spec and "openapi" not in spec
        self.total_chars = 0
        # Schema phrases by (node identity, depth): a schema shared through $refs or YAML
        # aliases is described once. Nodes live as long as the spec, so ids stay unique.
        self._types: dict[tuple[int, int], str] = {}
        self.cards = CardBuilder(spec, self.refs, spec_url=spec_url, type_phrase=self.schema_type)
        self._cards_parameters: dict[tuple[int, int], list[CardParameter]] = {}

    # -- types -------------------------------------------------------------------------------

    def schema_type(self, schema: object, where: str, depth: int = 0) -> str:
        """A short type phrase for a schema: 'string', 'array of integer', 'string or null'."""
        key = (id(schema), depth)
        phrase = self._types.get(key)
        if phrase is None:
            phrase = self._types[key] = self._schema_type(schema, where, depth)
        return phrase

    def _schema_type(self, schema: object, where: str, depth: int) -> str:  # noqa: PLR0911 - one return per schema shape
        node = self.refs.resolve(schema, where)
        if not isinstance(node, dict) or depth > _TYPE_DEPTH:
            return "any"
        kind = node.get("type")
        if isinstance(kind, list):
            names = [scalar_text(k) for k in kind[:8] if scalar_text(k)]
            return " or ".join(names) if names else "any"
        if kind == "array":
            return f"array of {self.schema_type(node.get('items'), where, depth + 1)}"
        if isinstance(kind, str) and kind:
            fmt = scalar_text(node.get("format"))
            return f"{kind} ({fmt})" if fmt else kind
        for combinator, joiner in (("oneOf", " or "), ("anyOf", " or "), ("allOf", " and ")):
            members = node.get(combinator)
            if isinstance(members, list) and members:
                names = [self.schema_type(m, where, depth + 1) for m in members[:8]]
                return joiner.join(dict.fromkeys(names))
        if isinstance(node.get("properties"), dict):
            return "object"
        if isinstance(node.get("enum"), list):
            return "enum"
        return "any"

    def parameter(self, raw: object, where: str) -> _Parameter | None:
        node = self.refs.resolve(raw, where)
        if not isinstance(node, dict):
            return None
        name = scalar_text(node.get("name"))
        location = scalar_text(node.get("in"))
        if not name or not location:
            return None
        if self.swagger2 and location != "body":
            kind = scalar_text(node.get("type")) or "any"
            if kind == "array":
                kind = f"array of {self.schema_type(node.get('items'), where)}"
        elif "schema" in node:
            kind = self.schema_type(node.get("schema"), where)
        elif isinstance(node.get("content"), dict) and node["content"]:
            media = next(iter(node["content"].values()))
            kind = self.schema_type(media.get("schema") if isinstance(media, dict) else None, where)
        else:
            kind = "any"
        required = node.get("required") is True or location == "path"
        return _Parameter(_clip(name, 200), location, kind, required, node.get("description"))

    def parameters(self, path_level: object, op_level: object, where: str) -> list[_Parameter]:
        """Path-level parameters merged with the operation's; the operation's win on (name, in)."""
        merged: dict[tuple[str, str], _Parameter] = {}
        for scope, raw_list in (("path item", path_level), ("operation", op_level)):
            listed = self.refs.resolve(raw_list, f"{where} ({scope} parameters)")
            if not isinstance(listed, list):
                continue
            for index, raw in enumerate(listed[:MAX_PARAMETERS]):
                param = self.parameter(raw, f"{where} parameters[{index}]")
                if param is not None:
                    merged[(param.name, param.location)] = param
        return list(merged.values())

    def _card_parameters(
        self, path_level: object, op_level: object, params: list[_Parameter]
    ) -> list[CardParameter]:
        """`params` as the card's; made once per (path-level, operation-level) pair of lists."""
        key = (id(path_level), id(op_level))  # the lists live as long as the spec
        known = self._cards_parameters.get(key)
        if known is None:
            known = self._cards_parameters[key] = [
                CardParameter(
                    name=p.name,
                    location=p.location,
                    required=p.required,
                    type=p.type[:200],
                    description=plain_text(p.description, 300),
                )
                for p in params
            ]
        return known

    # -- bodies and responses ----------------------------------------------------------------

    def request_body(self, op: Mapping[str, Any], path_params: object, where: str) -> str | None:
        if self.swagger2:
            return self._swagger2_body(op, path_params, where)
        body = self.refs.resolve(op.get("requestBody"), f"{where} requestBody")
        if not isinstance(body, dict):
            return None
        content = body.get("content")
        media_types = (
            [scalar_text(m) for m in islice(content, MAX_MEDIA_TYPES) if scalar_text(m)]
            if isinstance(content, dict)
            else []
        )
        schema_type = None
        if isinstance(content, dict) and content:
            first = next(iter(content.values()))
            if isinstance(first, dict) and "schema" in first:
                schema_type = self.schema_type(first["schema"], f"{where} requestBody")
        return _body_sentence(body.get("required") is True, media_types, schema_type)

    def _swagger2_body(self, op: Mapping[str, Any], path_params: object, where: str) -> str | None:
        consumes = op.get("consumes", self.spec.get("consumes"))
        media_types = (
            [scalar_text(m) for m in consumes[:MAX_MEDIA_TYPES] if scalar_text(m)]
            if isinstance(consumes, list)
            else []
        )
        for scope in (op.get("parameters"), path_params):
            listed = self.refs.resolve(scope, f"{where} parameters")
            for raw in listed[:MAX_PARAMETERS] if isinstance(listed, list) else []:
                node = self.refs.resolve(raw, f"{where} parameters")
                if isinstance(node, dict) and node.get("in") == "body":
                    kind = self.schema_type(node.get("schema"), f"{where} body")
                    return _body_sentence(node.get("required") is True, media_types, kind)
        return None

    def responses(self, op: Mapping[str, Any], where: str) -> list[str]:
        raw = self.refs.resolve(op.get("responses"), f"{where} responses")
        if not isinstance(raw, dict):
            return []
        phrases = []
        for raw_code, value in islice(raw.items(), MAX_RESPONSES):
            code = _clip(scalar_text(raw_code), 20)
            if not code or code.startswith("x-"):
                continue
            node = self.refs.resolve(value, f"{where} responses.{code}")
            description = scalar_text(node.get("description")) if isinstance(node, dict) else ""
            phrase = f"`{code}`"
            if description:
                phrase += f" ({_clip(_first_line(description), 200)})"
            phrases.append(phrase)
        return phrases

    # -- operations --------------------------------------------------------------------------

    def operations(self) -> Iterator[_Operation]:
        """Every operation under `paths`, in document order."""
        paths = _mapping(self.spec["paths"], "paths")
        for raw_path, raw_item in paths.items():
            path = _clip(scalar_text(raw_path))
            if not path or path.startswith("x-"):
                continue
            item = _mapping(self.refs.resolve(raw_item, f"paths[{path!r}]"), f"paths[{path!r}]")
            for method, op in item.items():
                # Field names are case-sensitive: `GET` is no method.
                if not isinstance(method, str) or method not in HTTP_METHODS:
                    continue
                node = _mapping(op, f"paths[{path!r}].{method}")
                yield _Operation(path, method, node, item)

    def document(
        self, service: str, version: str, operation: _Operation
    ) -> tuple[Document, OperationCard]:
        """The document of one operation, and its card."""
        path, method, op = operation.path, operation.method, operation.node
        path_params = operation.path_parameters
        where = f"{method.upper()} {path}"
        op_id = _clip(scalar_text(op.get("operationId")), 200)
        summary = _clip(scalar_text(op.get("summary")))
        description = _clip(scalar_text(op.get("description")))
        raw_tags = op.get("tags")
        tags = (
            [_clip(scalar_text(t), 200) for t in raw_tags[:MAX_TAGS] if scalar_text(t)]
            if isinstance(raw_tags, list)
            else []
        )
        deprecated = op.get("deprecated") is True
        params = self.parameters(path_params, op.get("parameters"), where)
        body = self.request_body(op, path_params, where)
        responses = self.responses(op, where)

        label = op_id or f"{method.upper()} {path}"
        sentences = [
            _sentence(
                f"The `{label}` operation ({method.upper()} {path}) is "
                + (summary or description or "not described")
            )
        ]
        if deprecated:
            sentences.append("This operation is deprecated.")
        sentences.append(
            f"The important tags are {', '.join(tags)}." if tags else "It has no tags."
        )
        if params:
            described = "; ".join(
                f"`{p.name}` is a property in the {p.location} of the type {p.type} and is "
                f"{'required' if p.required else 'optional'}"
                for p in params
            )
            sentences.append(f"The parameters are: {described}.")
        else:
            sentences.append("It takes no parameters.")
        if body:
            sentences.append(body)
        if responses:
            sentences.append(f"The responses are {', '.join(responses)}.")
        sentences.append(_sentence(f"The description is {description or 'not provided'}"))
        text = _clip(" ".join(sentences), MAX_TEXT_CHARS)

        self.total_chars += len(text) + len(path) + sum(len(tag) for tag in tags)
        if self.total_chars > MAX_TOTAL_CHARS:
            raise SpecError(
                f"the documents exceed {MAX_TOTAL_CHARS // (1024 * 1024)} MiB of text "
                "(the spec's aliases or $refs multiply its content)"
            )
        metadata: Metadata = {
            "tags": tags,
            "service": service,
            "version": version,
            "method": method,
            "path": path,
            "deprecated": deprecated,
        }
        if op_id:
            metadata["operationId"] = op_id
        uid = _bounded_uid(f"OpenApi_{service}_{version}_{op_id or method + '_' + path}")
        card = self.cards.card(
            uid=uid,
            service=service,
            version=version,
            method=method,
            path=path,
            operation=op,
            path_item=operation.item,
            parameters=self._card_parameters(path_params, op.get("parameters"), params),
        )
        return {"uid": uid, "text": text, "metadata": metadata}, card


def _bounded_uid(uid: str) -> str:
    """`uid`, or when over MAX_UID_BYTES its head and a digest of the whole (stable, unique)."""
    if len(uid.encode("utf-8")) <= MAX_UID_BYTES:
        return uid
    digest = hashlib.sha256(uid.encode("utf-8")).hexdigest()[:24]
    head = uid.encode("utf-8")[: MAX_UID_BYTES - len(digest) - 1].decode("utf-8", "ignore")
    return f"{head}~{digest}"


def _sentence(text: str) -> str:
    text = text.rstrip()
    return text if text.endswith((".", "!", "?", _ELLIPSIS)) else text + "."


def _first_line(text: str) -> str:
    return text.split("\n", 1)[0].strip()


def _body_sentence(required: bool, media_types: list[str], schema_type: str | None) -> str:
    sentence = f"It takes {'a required' if required else 'an optional'} request body"
    if schema_type and schema_type != "any":
        sentence += f" of the type {schema_type}"
    if media_types:
        sentence += f", as {' or '.join(_clip(m, 100) for m in media_types[:10])}"
    return sentence + "."


def spec_documents(spec: Mapping[str, Any], *, spec_url: str | None = None) -> SpecDocuments:
    """Turn a parsed spec into one document and one card per (path, method), or `SpecError`.

    `spec_url` is where the spec was read from: the cards' URLs resolve relative servers against
    it (without it they stay relative). `paths` is required by Swagger 2.0 and OpenAPI 3.0;
    OpenAPI 3.1 may leave it out when it has `webhooks` or `components` instead, and then there
    are no operations to document.
    """
    info = spec.get("info")
    info = info if isinstance(info, dict) else {}
    service = _clip(scalar_text(info.get("title")) or "Untitled API", 200)
    version = _clip(scalar_text(info.get("version")) or "unversioned", 100)

    if "paths" not in spec:
        is_31 = scalar_text(spec.get("openapi")).startswith("3.1")
        if is_31 and ("webhooks" in spec or "components" in spec):
            return SpecDocuments(service, version, [])
        raise SpecError("the document has no 'paths': there are no operations to document")
    if spec["paths"] is None:
        return SpecDocuments(service, version, [])

    builder = _Builder(spec, spec_url)
    documents: list[Document] = []
    cards: list[OperationCard] = []
    for operation in builder.operations():
        if len(documents) >= MAX_DOCUMENTS:
            raise SpecError(f"the spec has more than {MAX_DOCUMENTS} operations")
        document, card = builder.document(service, version, operation)
        documents.append(document)
        cards.append(card)

    # An operationId used twice (invalid, but seen) must not merge two documents: those uids
    # take the method and path too (unique in a spec), and a counter if even that is taken.
    counts = Counter(document["uid"] for document in documents)
    taken = set(counts)
    for document in documents:
        if counts[document["uid"]] > 1:
            meta = document["metadata"]
            base = _bounded_uid(f"{document['uid']}~{meta['method']}_{meta['path']}")
            uid, n = base, 1
            while uid in taken:
                n += 1
                uid = _bounded_uid(f"{base}~{n}")
            taken.add(uid)
            document["uid"] = uid
    cards = [
        card if card.uid == document["uid"] else card.model_copy(update={"uid": document["uid"]})
        for document, card in zip(documents, cards, strict=True)
    ]
    return SpecDocuments(service, version, documents, cards)
