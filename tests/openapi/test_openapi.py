"""Spec bytes → documents (`appsync.openapi`) and the sync's batching steps, on the real corpus."""

from __future__ import annotations

import functools
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appsync.openapi import Document, SpecDocuments, SpecError, parse_spec
from appsync.sync.batches import (
    MAX_BATCH_BYTES,
    Bin,
    batch_documents,
    document_json,
    load_documents,
    send_requests,
)
from harness.paths import SPECS_DIR, spec_files

SPEC_FILES = spec_files()
SPEC_IDS = [path.name for path in SPEC_FILES]
INFO = {"title": "T", "version": "1"}
METADATA_KEYS = {"tags", "service", "version", "method", "path", "deprecated"}
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
DEPRECATED = "This operation is deprecated."

# -- the corpus ------------------------------------------------------------------------------


@functools.cache
def sources_table() -> dict[str, dict[str, str]]:
    """The table of SOURCES.md as rows keyed by file name, cells keyed by column header."""
    text = (SPECS_DIR / "SOURCES.md").read_text(encoding="utf-8")
    lines = [line.strip() for line in text.splitlines() if line.strip().startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows: dict[str, dict[str, str]] = {}
    for line in lines[2:]:  # lines[1] is the |---| separator
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        row = dict(zip(header, cells, strict=True))
        rows[row["file"]] = row
    return rows


@functools.cache
def corpus(name: str) -> SpecDocuments:
    """The documents of one corpus file (parsed once per test session)."""
    return load_documents((SPECS_DIR / name).read_bytes())


def corpus_document(name: str, operation_id: str) -> Document:
    """The document of the operation `operation_id` in the corpus file `name`."""
    (document,) = [
        document
        for document in corpus(name).documents
        if document["metadata"].get("operationId") == operation_id
    ]
    return document


# -- small inline specs ----------------------------------------------------------------------


def openapi3(paths: object, *, version: str = "3.0.3", **extra: Any) -> bytes:
    """An OpenAPI 3 document (as JSON bytes) with `paths` (left out when None) and `extra`."""
    spec: dict[str, Any] = {"openapi": version, "info": INFO, **extra}
    if paths is not None:
        spec["paths"] = paths
    return json.dumps(spec).encode("utf-8")


def swagger2(paths: dict[str, Any], **extra: Any) -> bytes:
    """A Swagger 2.0 document (as JSON bytes) with `paths` and `extra`."""
    return json.dumps({"swagger": "2.0", "info": INFO, "paths": paths, **extra}).encode("utf-8")


def documents_of(raw: bytes) -> list[Document]:
    """The documents of spec bytes, as the sync makes them."""
    return load_documents(raw).documents


def by_uid(documents: list[Document]) -> dict[str, Document]:
    """Documents keyed by uid (the uids must be unique)."""
    return {document["uid"]: document for document in documents}


_PARAMETER = re.compile(
    r"`(?P<name>[^`]+)` is a property in the (?P<location>\w+) of the type (?P<type>.+?) "
    r"and is (?P<required>required|optional)"
)
_BODY = re.compile(r"It takes (?:a required|an optional) request body.*?\.(?= The |$)")


def parameters_of(document: Document) -> list[tuple[str, str, str, str]]:
    """The (name, in, type, required/optional) of each parameter the text describes."""
    return [
        (m["name"], m["location"], m["type"], m["required"])
        for m in _PARAMETER.finditer(document["text"])
    ]


def body_of(document: Document) -> str | None:
    """The request-body sentence of the text, or None."""
    match = _BODY.search(document["text"])
    return match[0] if match else None


# -- 1. one document per operation, deterministic --------------------------------------------


def test_sources_table_lists_exactly_the_corpus() -> None:
    """SOURCES.md has one row for every spec file in the corpus, and no other."""
    assert sorted(SPEC_IDS) == sorted(sources_table())


@pytest.mark.parametrize("path", SPEC_FILES, ids=SPEC_IDS)
def test_one_document_per_operation(path: Path) -> None:
    """A corpus file yields as many documents as SOURCES.md counts operations, uids unique."""
    row = sources_table()[path.name]
    documents = corpus(path.name).documents
    uids = [document["uid"] for document in documents]

    assert int(row["operations"]) == len(documents)
    assert len(uids) == len(set(uids))
    assert int(row["operations without operationId"]) == sum(
        "operationId" not in document["metadata"] for document in documents
    )


@pytest.mark.parametrize("path", SPEC_FILES, ids=SPEC_IDS)
def test_same_bytes_give_identical_documents(path: Path) -> None:
    """Loading the same bytes twice gives byte-identical documents."""
    raw = path.read_bytes()
    first = load_documents(raw)
    second = load_documents(raw)

    assert json.dumps(first.documents, ensure_ascii=False) == json.dumps(
        second.documents, ensure_ascii=False
    )
    assert (first.service, first.version) == (second.service, second.version)


# -- 2. what the documents say ---------------------------------------------------------------


def test_openapi3_parameter_types_come_from_schema_in_xero() -> None:
    """Xero's `If-Modified-Since` header is typed from its schema: 'string (date-time)'."""
    document = corpus_document("xero_accounting.yaml", "getAccounts")

    assert [
        ("xero-tenant-id", "header", "string", "required"),
        ("If-Modified-Since", "header", "string (date-time)", "optional"),
        ("where", "query", "string", "optional"),
        ("order", "query", "string", "optional"),
    ] == parameters_of(document)


def test_every_xero_if_modified_since_is_a_date_time() -> None:
    """Every xero operation that takes `If-Modified-Since` describes it as 'string (date-time)'."""
    types = Counter(
        kind
        for document in corpus("xero_accounting.yaml").documents
        for name, _, kind, _ in parameters_of(document)
        if name == "If-Modified-Since"
    )

    assert ["string (date-time)"] == list(types)


def test_xero_path_level_ref_parameter_is_merged_into_every_operation() -> None:
    """Xero's path-level `$ref` header `xero-tenant-id` appears, required, in all its operations."""
    documents = corpus("xero_accounting.yaml").documents
    expected = ("xero-tenant-id", "header", "string", "required")

    assert len(documents) * [expected] == [parameters_of(d)[0] for d in documents]


def test_openapi3_parameter_type_shapes() -> None:
    """OpenAPI 3 types come from `schema` (not a stray `type`), or from `content`'s schema."""
    parameters = [
        {"name": "when", "in": "header", "schema": {"type": "string", "format": "date-time"}},
        {"name": "n", "in": "query", "type": "integer", "schema": {"type": "string"}},
        {"name": "ids", "in": "query", "schema": {"type": "array", "items": {"type": "integer"}}},
        {"name": "either", "in": "query", "schema": {"oneOf": [{"type": "string"}, {}]}},
        {"name": "nullable", "in": "query", "schema": {"type": ["string", "null"]}},
        {
            "name": "f",
            "in": "query",
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
        {"name": "ref", "in": "cookie", "schema": {"$ref": "#/components/schemas/Id"}},
    ]
    raw = openapi3(
        {"/a": {"get": {"operationId": "a", "parameters": parameters}}},
        components={"schemas": {"Id": {"type": "integer", "format": "int64"}}},
    )

    assert [
        ("when", "header", "string (date-time)", "optional"),
        ("n", "query", "string", "optional"),
        ("ids", "query", "array of integer", "optional"),
        ("either", "query", "string or any", "optional"),
        ("nullable", "query", "string or null", "optional"),
        ("f", "query", "object", "optional"),
        ("ref", "cookie", "integer (int64)", "optional"),
    ] == parameters_of(documents_of(raw)[0])


def test_path_level_parameters_merge_and_operation_level_wins() -> None:
    """Path-level parameters reach every operation; an operation's own (name, in) replaces one."""
    path_item = {
        "parameters": [
            {"name": "id", "in": "path", "schema": {"type": "string"}},
            {"name": "q", "in": "query", "schema": {"type": "string"}},
        ],
        "get": {
            "operationId": "overrides",
            "parameters": [
                {"name": "id", "in": "path", "schema": {"type": "integer", "format": "int64"}},
                {"name": "q", "in": "header", "schema": {"type": "boolean"}},
            ],
        },
        "put": {
            "operationId": "overridesByRef",
            "parameters": [{"$ref": "#/components/parameters/Q"}],
        },
        "post": {"operationId": "inherits"},
    }
    q = {"name": "q", "in": "query", "required": True, "schema": {"type": "array", "items": {}}}
    raw = openapi3({"/p/{id}": path_item}, components={"parameters": {"Q": q}})
    documents = by_uid(documents_of(raw))

    assert [
        ("id", "path", "integer (int64)", "required"),
        ("q", "query", "string", "optional"),
        ("q", "header", "boolean", "optional"),
    ] == parameters_of(documents["OpenApi_T_1_overrides"])
    assert [
        ("id", "path", "string", "required"),
        ("q", "query", "array of any", "required"),
    ] == parameters_of(documents["OpenApi_T_1_overridesByRef"])
    assert [
        ("id", "path", "string", "required"),
        ("q", "query", "string", "optional"),
    ] == parameters_of(documents["OpenApi_T_1_inherits"])


def test_swagger2_parameters_and_shared_refs_in_harbor() -> None:
    """Harbor's `HEAD /projects` uses the shared `#/parameters/requestId`; types are from `type`."""
    document = corpus_document("harbor_swagger.yaml", "headProject")
    with_request_id = [
        document
        for document in corpus("harbor_swagger.yaml").documents
        if ("X-Request-Id", "header", "string", "optional") in parameters_of(document)
    ]

    assert [
        ("X-Request-Id", "header", "string", "optional"),
        ("project_name", "query", "string", "required"),
    ] == parameters_of(document)
    assert {
        "tags": ["project"],
        "service": "Harbor API",
        "version": "2.0",
        "method": "head",
        "path": "/projects",
        "deprecated": False,
        "operationId": "headProject",
    } == document["metadata"]
    assert None is body_of(document)
    assert 203 == len(with_request_id)


def test_swagger2_body_parameter_is_the_request_body() -> None:
    """A Swagger 2.0 `in: body` parameter → a request-body sentence with the `consumes` types."""
    body = {
        "name": "payload",
        "in": "body",
        "schema": {"type": "array", "items": {"type": "string"}},
    }
    raw = swagger2(
        {
            "/a": {
                "post": {
                    "operationId": "ownConsumes",
                    "consumes": ["application/xml", "text/plain"],
                    "parameters": [
                        {"name": "b", "in": "body", "required": True, "schema": {"type": "object"}},
                        {
                            "name": "ids",
                            "in": "query",
                            "type": "array",
                            "items": {"type": "integer"},
                        },
                    ],
                },
                "get": {"operationId": "noBody"},
            },
            "/b": {"parameters": [body], "put": {"operationId": "pathLevelBody"}},
        },
        consumes=["application/json"],
    )
    documents = by_uid(documents_of(raw))

    assert (
        "It takes a required request body of the type object, as application/xml or text/plain."
        == body_of(documents["OpenApi_T_1_ownConsumes"])
    )
    assert ("ids", "query", "array of integer", "optional") in parameters_of(
        documents["OpenApi_T_1_ownConsumes"]
    )
    assert (
        "It takes an optional request body of the type array of string, as application/json."
        == body_of(documents["OpenApi_T_1_pathLevelBody"])
    )
    assert None is body_of(documents["OpenApi_T_1_noBody"])


def test_swagger2_body_in_harbor() -> None:
    """Harbor's `createProject` body parameter is described with the global `consumes`."""
    document = corpus_document("harbor_swagger.yaml", "createProject")

    assert "It takes a required request body of the type object, as application/json." == body_of(
        document
    )


def test_openapi3_request_body_media_types() -> None:
    """An OpenAPI 3 `requestBody` (here a `$ref`) lists all its media types in the text."""
    request_body = {
        "required": True,
        "content": {
            "application/json": {"schema": {"type": "array", "items": {"type": "string"}}},
            "multipart/form-data": {},
        },
    }
    raw = openapi3(
        {
            "/a": {
                "post": {
                    "operationId": "a",
                    "requestBody": {"$ref": "#/components/requestBodies/R"},
                }
            }
        },
        components={"requestBodies": {"R": request_body}},
    )

    assert (
        "It takes a required request body of the type array of string, "
        "as application/json or multipart/form-data."
    ) == body_of(documents_of(raw)[0])


@pytest.mark.parametrize(
    ("name", "operation_id", "expected"),
    [
        (
            "xero_accounting.yaml",
            "createAccount",
            "It takes a required request body of the type object, as application/json.",
        ),
        (
            "stripe_spec3.json",
            "PostCustomers",
            (
                "It takes an optional request body of the type object, "
                "as application/x-www-form-urlencoded."
            ),
        ),
        (
            "redocly_museum.yaml",
            "createSpecialEvent",
            "It takes a required request body of the type object, as application/json.",
        ),
    ],
)
def test_openapi3_request_body_in_corpus(name: str, operation_id: str, expected: str) -> None:
    """Real OpenAPI 3 request bodies are described with their schema type and media types."""
    assert expected == body_of(corpus_document(name, operation_id))


@pytest.mark.parametrize(
    ("name", "expected"),
    [("stripe_spec3.json", 15), ("harbor_swagger.yaml", 3), ("adyen_checkout_v71.json", 1)],
)
def test_deprecated_operations(name: str, expected: int) -> None:
    """Deprecated operations say so in the text and in metadata; the others in neither."""
    documents = corpus(name).documents

    assert expected == sum(document["metadata"]["deprecated"] for document in documents)
    assert [d["metadata"]["deprecated"] for d in documents] == [
        DEPRECATED in d["text"] for d in documents
    ]


def test_deprecated_must_be_true_not_truthy() -> None:
    """Only `deprecated: true` marks an operation deprecated (not the string 'true')."""
    raw = openapi3(
        {
            "/a": {"get": {"operationId": "yes", "deprecated": True}},
            "/b": {"get": {"deprecated": "true"}},
        }
    )
    documents = documents_of(raw)

    assert [True, False] == [document["metadata"]["deprecated"] for document in documents]
    assert [True, False] == [DEPRECATED in document["text"] for document in documents]


def test_uid_with_operation_id() -> None:
    """With an operationId, the uid is `OpenApi_<title>_<version>_<operationId>`."""
    assert [
        "OpenApi_Swagger Petstore_1.0.0_listPets",
        "OpenApi_Swagger Petstore_1.0.0_createPets",
        "OpenApi_Swagger Petstore_1.0.0_showPetById",
    ] == [document["uid"] for document in corpus("oai_petstore_swagger2.json").documents]


def test_uid_without_operation_id_in_uber() -> None:
    """Without an operationId (Uber), the uid is `OpenApi_<title>_<version>_<method>_<path>`."""
    assert [
        "OpenApi_Uber API_1.0.0_get_/products",
        "OpenApi_Uber API_1.0.0_get_/estimates/price",
        "OpenApi_Uber API_1.0.0_get_/estimates/time",
        "OpenApi_Uber API_1.0.0_get_/me",
        "OpenApi_Uber API_1.0.0_get_/history",
    ] == [document["uid"] for document in corpus("oai_uber_swagger2.json").documents]


@pytest.mark.parametrize("path", SPEC_FILES, ids=SPEC_IDS)
def test_uid_and_metadata_shape_in_corpus(path: Path) -> None:
    """Each uid follows the rule, and metadata has its six keys plus operationId only if present."""
    spec = corpus(path.name)
    for document in spec.documents:
        meta = document["metadata"]
        operation_id = meta.get("operationId")
        tail = operation_id or f"{meta['method']}_{meta['path']}"

        assert f"OpenApi_{spec.service}_{spec.version}_{tail}" == document["uid"]
        assert METADATA_KEYS | ({"operationId"} if operation_id else set()) == set(meta)
        assert (spec.service, spec.version) == (meta["service"], meta["version"])
        assert meta["method"] in HTTP_METHODS
        assert all(isinstance(tag, str) for tag in meta["tags"])
        assert isinstance(meta["deprecated"], bool)


def test_metadata_without_operation_id() -> None:
    """An Uber operation's metadata has no operationId key at all (vector stores reject nulls)."""
    assert {
        "tags": ["Products"],
        "service": "Uber API",
        "version": "1.0.0",
        "method": "get",
        "path": "/products",
        "deprecated": False,
    } == corpus("oai_uber_swagger2.json").documents[0]["metadata"]


def test_metadata_with_operation_id() -> None:
    """A petstore operation's metadata carries its tags and operationId."""
    assert {
        "tags": ["pets"],
        "service": "Swagger Petstore",
        "version": "1.0.0",
        "method": "get",
        "path": "/pets",
        "deprecated": False,
        "operationId": "listPets",
    } == corpus("oai_petstore_swagger2.json").documents[0]["metadata"]


def test_yaml_date_version_becomes_text() -> None:
    """A YAML `version: 2020-08-27` (a date to YAML) is the text '2020-08-27' in the uid."""
    raw = b"openapi: 3.0.0\ninfo: {title: S, version: 2020-08-27}\npaths: {/a: {get: {}}}\n"
    spec = load_documents(raw)

    assert ("S", "2020-08-27") == (spec.service, spec.version)
    assert ["OpenApi_S_2020-08-27_get_/a"] == [document["uid"] for document in spec.documents]
    assert "2020-08-27" == corpus("stripe_spec3.json").version


def test_duplicated_operation_id_gives_unique_uids() -> None:
    """An operationId used twice adds the method and path to those uids, so none merge."""
    raw = openapi3(
        {
            "/a": {"get": {"operationId": "x"}},
            "/b": {"get": {"operationId": "x"}, "post": {"operationId": "x"}},
            "/c": {"get": {"operationId": "y"}},
        }
    )

    assert [
        "OpenApi_T_1_x~get_/a",
        "OpenApi_T_1_x~get_/b",
        "OpenApi_T_1_x~post_/b",
        "OpenApi_T_1_y",
    ] == [document["uid"] for document in documents_of(raw)]


@pytest.mark.parametrize(
    "paths",
    [
        pytest.param(
            {"/a": {"get": {"operationId": "x"}}, "/b": {"get": {"operationId": "x"}}},
            id="duplicated-operationId",
        ),
        pytest.param(
            {"/a": {"get": {"operationId": "get_/b"}}, "/b": {"get": {}}},
            id="operationId-equals-a-fallback-uid",
        ),
        pytest.param({"/a": {"get": {}, "GET": {}}}, id="get-and-GET-without-operationId"),
        pytest.param(
            {"/a": {"get": {"operationId": "x"}, "GET": {"operationId": "x"}}},
            id="get-and-GET-same-operationId",
        ),
        pytest.param(
            {
                "/a": {"get": {"operationId": "x"}},
                "/b": {"get": {"operationId": "x"}},
                "/c": {"get": {"operationId": "x~get_/a"}},
            },
            id="suffixed-uid-equals-another-uid",
        ),
    ],
)
def test_uids_are_unique_whatever_the_operation_ids(paths: dict[str, Any]) -> None:
    """No two documents of a spec share a uid (the uid is the vector id: one would be lost)."""
    uids = [document["uid"] for document in documents_of(openapi3(paths))]

    assert [] == [uid for uid, count in Counter(uids).items() if count > 1]


def test_museum_webhook_is_not_a_document() -> None:
    """Museum's `publishNewEvent` webhook is not a document; its path operations are."""
    spec = parse_spec((SPECS_DIR / "redocly_museum.yaml").read_bytes())
    documents = corpus("redocly_museum.yaml").documents
    operation_ids = {document["metadata"].get("operationId") for document in documents}

    assert "publishNewEvent" == spec["webhooks"]["publishNewEvent"]["post"]["operationId"]
    assert int(sources_table()["redocly_museum.yaml"]["operations"]) == len(documents)
    assert False is ("publishNewEvent" in operation_ids)
    assert sorted(spec["paths"]) == sorted({d["metadata"]["path"] for d in documents})


def test_webhook_only_31_spec_has_no_documents() -> None:
    """The OAI webhook example (3.1, no `paths`, only `webhooks`) gives 0 documents, no error."""
    spec = corpus("oai_webhook_example_v31.json")

    assert ("Webhook Example", "1.0.0", []) == (spec.service, spec.version, spec.documents)


def test_webhooks_and_callbacks_are_not_documents() -> None:
    """Operations under `webhooks` and under an operation's `callbacks` are not documents."""
    callbacks = {"onEvent": {"{$request.body#/url}": {"post": {"operationId": "callbackOp"}}}}
    raw = openapi3(
        {"/subscribe": {"post": {"operationId": "subscribe", "callbacks": callbacks}}},
        version="3.1.0",
        webhooks={"ping": {"post": {"operationId": "webhookOp"}}},
    )

    assert ["OpenApi_T_1_subscribe"] == [document["uid"] for document in documents_of(raw)]


@pytest.mark.parametrize(
    "instead",
    [
        pytest.param({"components": {}}, id="components"),
        pytest.param({"webhooks": {"ping": {"post": {"operationId": "ping"}}}}, id="webhooks"),
    ],
)
def test_31_without_paths_has_no_documents(instead: dict[str, Any]) -> None:
    """OpenAPI 3.1 may leave out `paths` when it has `components` or `webhooks`: 0 documents."""
    assert [] == documents_of(openapi3(None, version="3.1.0", **instead))


def test_path_item_ref_and_extensions() -> None:
    """A path item may be a local `$ref`; `x-` paths and non-method keys are not operations."""
    raw = openapi3(
        {
            "/a": {"$ref": "#/paths/~1b"},
            "/b": {"summary": "s", "servers": [], "get": {"operationId": "g"}},
            "x-internal": {"get": {"operationId": "hidden"}},
        }
    )

    assert [("get", "/a"), ("get", "/b")] == [
        (d["metadata"]["method"], d["metadata"]["path"]) for d in documents_of(raw)
    ]


def test_document_text_for_petstore_operation() -> None:
    """The whole text of one operation reads as fixed sentences in a fixed order."""
    assert (
        "The `showPetById` operation (GET /pets/{petId}) is Info for a specific pet. "
        "The important tags are pets. "
        "The parameters are: `petId` is a property in the path of the type string and is required. "
        "The responses are `200` (Expected response to a valid request), "
        "`default` (unexpected error). "
        "The description is not provided."
    ) == corpus_document("oai_petstore_swagger2.json", "showPetById")["text"]


def test_yaml_float_version_is_accepted() -> None:
    """YAML reads an unquoted `swagger: 2.0` as a float; it still counts as Swagger 2.0."""
    raw = b"swagger: 2.0\ninfo: {title: T, version: 1}\npaths:\n  /a:\n    get: {operationId: a}\n"

    assert ["OpenApi_T_1_a"] == [document["uid"] for document in documents_of(raw)]


# -- 3. bad input → SpecError ----------------------------------------------------------------


def _ops(parameters: list[Any], shared: dict[str, Any] | None = None) -> bytes:
    """A 3.0 spec whose one operation, `GET /a`, has `parameters`; `shared` are its components'."""
    return openapi3(
        {"/a": {"get": {"parameters": parameters}}}, components={"parameters": shared or {}}
    )


def _ref(name: str) -> dict[str, str]:
    """A `$ref` to the shared parameter `name`."""
    return {"$ref": f"#/components/parameters/{name}"}


_CHAIN = {f"P{i}": _ref(f"P{i + 1}") for i in range(40)} | {
    "P40": {"name": "p", "in": "query", "schema": {"type": "string"}}
}


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        pytest.param(
            b'{"openapi": "3.0.0",\n  "paths": }',
            re.escape("invalid JSON: Expecting value at line 2, column 12"),
            id="invalid-json",
        ),
        pytest.param(
            b'{"openapi": "3.0.0", "paths": {},}',
            r"invalid JSON: .* at line 1, column 34",
            id="invalid-json-trailing-comma",
        ),
        pytest.param(
            b"openapi: 3.0.0\npaths: [\n",
            r"invalid YAML: .* at line 3, column 1",
            id="invalid-yaml",
        ),
        pytest.param(
            b"openapi: 3.0.0\n\tpaths: {}\n",
            r"invalid YAML: found a tab character .* at line 2, column 1",
            id="invalid-yaml-tab",
        ),
        pytest.param(b"", "the document is empty", id="empty"),
        pytest.param(b" \n\t\n", "the document is empty", id="whitespace-only"),
        pytest.param(b"\xef\xbb\xbf", "the document is empty", id="bom-only"),
        pytest.param(b"[1, 2]", "the document must be an object, got an array", id="json-array"),
        pytest.param(
            b"hello",
            re.escape(
                "the document must be an object, got a string (is this an OpenAPI document?)"
            ),
            id="yaml-string-scalar",
        ),
        pytest.param(b"42", "the document must be an object, got a number", id="yaml-number"),
        pytest.param(b"~", "the document must be an object, got null", id="yaml-null"),
        pytest.param(
            b'{"info": {"title": "T"}, "paths": {}}',
            "neither an 'openapi' nor a 'swagger' version field",
            id="no-version",
        ),
        pytest.param(
            b'{"openapi": "4.0.0", "paths": {}}',
            re.escape("unsupported spec version '4.0.0': expected 2.0, 3.0 or 3.1"),
            id="unsupported-openapi-version",
        ),
        pytest.param(
            b"swagger: 1.2\npaths: {}\n",
            re.escape("unsupported spec version '1.2'"),
            id="unsupported-swagger-version",
        ),
        pytest.param(b"[" * 100_000, "nested too deeply", id="deep-json-array"),
        pytest.param(b'{"a":' * 100_000, "nested too deeply", id="deep-json-object"),
        pytest.param(b"x: " + b"[" * 100_000, "nest", id="deep-yaml-flow"),
    ],
)
def test_unparseable_bytes_raise_spec_error(raw: bytes, match: str) -> None:
    """Bytes that are not a JSON/YAML OpenAPI object raise SpecError saying why."""
    with pytest.raises(SpecError, match=match):
        parse_spec(raw)


def first_bad_utf8_offset(raw: bytes) -> int:
    """The offset in `raw` of the first byte that keeps it from being UTF-8 (a BOM is UTF-8)."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start
    pytest.fail(f"{raw!r} is UTF-8")


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b'{"openapi": "3.0.0", "x": "\xff"}', id="latin1-byte"),
        pytest.param(b'{"openapi": "3.0.0", "x": "caf\xc3"}', id="truncated-sequence"),
        pytest.param('{"openapi": "3.0.0"}'.encode("utf-16"), id="utf-16"),
        pytest.param(b'\xef\xbb\xbf{"openapi": "3.0.0", "x": "\xff"}', id="bom-then-bad-byte"),
    ],
)
def test_not_utf8_names_the_byte_and_its_offset(raw: bytes) -> None:
    """Bytes that are not UTF-8 raise SpecError naming the first bad byte and its offset."""
    offset = first_bad_utf8_offset(raw)
    expected = f"not UTF-8 text: byte 0x{raw[offset]:02x} at offset {offset} cannot be decoded"

    with pytest.raises(SpecError, match=re.escape(expected)):
        parse_spec(raw)


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        pytest.param(
            openapi3(None),
            "the document has no 'paths': there are no operations to document",
            id="no-paths-3.0",
        ),
        pytest.param(
            openapi3(None, version="3.1.0"), "the document has no 'paths'", id="no-paths-3.1-bare"
        ),
        pytest.param(
            json.dumps({"swagger": "2.0", "info": INFO}).encode(),
            "the document has no 'paths'",
            id="no-paths-2.0",
        ),
        pytest.param(openapi3([]), "paths must be an object, got an array", id="paths-array"),
        pytest.param(
            openapi3("/a"),
            "paths must be an object, got a string",
            id="paths-string",
        ),
        pytest.param(
            openapi3({"/a": "get"}),
            re.escape("paths['/a'] must be an object, got a string"),
            id="path-item-string",
        ),
        pytest.param(
            openapi3({"/a": [{"get": {}}]}),
            re.escape("paths['/a'] must be an object, got an array"),
            id="path-item-array",
        ),
        pytest.param(
            openapi3({"/a": {"get": None}}),
            re.escape("paths['/a'].get must be an object, got null"),
            id="operation-null",
        ),
        pytest.param(
            _ops([_ref("Missing")]),
            re.escape(
                "GET /a parameters[0]: $ref '#/components/parameters/Missing' "
                "points to nothing in this document"
            ),
            id="ref-to-nothing",
        ),
        pytest.param(
            openapi3({"/a": {"$ref": "#/components/pathItems/A"}}),
            re.escape("paths['/a']: $ref '#/components/pathItems/A' points to nothing"),
            id="path-item-ref-to-nothing",
        ),
        pytest.param(
            _ops([_ref("A")], shared={"A": _ref("B"), "B": _ref("A")}),
            re.escape(
                "$ref cycle #/components/parameters/A → #/components/parameters/B "
                "→ #/components/parameters/A"
            ),
            id="ref-cycle",
        ),
        pytest.param(
            _ops([_ref("A")], shared={"A": _ref("A")}),
            re.escape("$ref cycle #/components/parameters/A → #/components/parameters/A"),
            id="ref-to-itself",
        ),
        pytest.param(
            _ops([_ref("P0")], shared=_CHAIN),
            re.escape("$ref chain longer than 32 links"),
            id="ref-chain-too-long",
        ),
        pytest.param(
            _ops([{"$ref": "other.yaml#/x"}]),
            re.escape("external $ref 'other.yaml#/x' is not supported"),
            id="external-ref",
        ),
        pytest.param(
            _ops([{"$ref": "https://example.com/spec.json#/components/parameters/A"}]),
            r"external \$ref 'https://example\.com/.*' is not supported",
            id="external-url-ref",
        ),
        pytest.param(
            _ops([{"$ref": 7}]), re.escape("$ref must be a string, got int"), id="ref-not-string"
        ),
        pytest.param(
            _ops([{"$ref": "#components/parameters/A"}]),
            re.escape("is not a JSON pointer ('#/...')"),
            id="ref-not-a-pointer",
        ),
    ],
)
def test_invalid_spec_raises_spec_error(raw: bytes, match: str) -> None:
    """A parseable spec whose structure or `$ref`s cannot give documents raises SpecError."""
    with pytest.raises(SpecError, match=match):
        load_documents(raw)


def test_spec_error_is_a_value_error() -> None:
    """SpecError is a ValueError, so callers catching ValueError still see bad specs."""
    assert issubclass(SpecError, ValueError)


def _sync(raw: bytes) -> list[Bin[Document]]:
    """What the sync does with spec bytes before sending: load, then batch."""
    return batch_documents(load_documents(raw).documents)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(
            b'{"openapi": "3.0.0", "info": {"title": "T", "version": "1"},'
            b' "paths": {"/a": {"get": {"summary": "half \\ud83e an emoji"}}}}',
            id="json",
        ),
        pytest.param(
            b'openapi: 3.0.0\ninfo: {title: T, version: "1"}\n'
            b'paths: {/a: {get: {summary: "half \\ud83e an emoji"}}}\n',
            id="yaml",
        ),
    ],
)
def test_lone_surrogate_escape_is_a_spec_error(raw: bytes) -> None:
    """A lone-surrogate escape (text UTF-8 cannot encode) is a SpecError, in JSON as in YAML."""
    with pytest.raises(SpecError, match=r"invalid (JSON|YAML)"):
        _sync(raw)


def test_surrogate_pair_escape_is_an_emoji() -> None:
    """A JSON surrogate-pair escape is one non-BMP character, and survives packing."""
    raw = (
        b'{"openapi": "3.0.0", "info": {"title": "T", "version": "1"},'
        b' "paths": {"/a": {"get": {"summary": "a crab \\ud83e\\udd80"}}}}'
    )
    documents = documents_of(raw)

    assert "a crab \U0001f980." in documents[0]["text"]
    assert "a crab \U0001f980" in document_json(documents[0])


# -- 4. batching and sending -----------------------------------------------------------


def make_document(index: int, text: str = "x") -> Document:
    """A small valid document; same-width indexes give same-size documents."""
    return {
        "uid": f"doc-{index:05d}",
        "text": text,
        "metadata": {
            "tags": [],
            "service": "S",
            "version": "1",
            "method": "get",
            "path": f"/{index:05d}",
            "deprecated": False,
        },
    }


def encoded_size(document: Document) -> int:
    """What a batch counts for one document: its JSON in UTF-8, plus a separator."""
    return len(document_json(document).encode("utf-8")) + 1


def test_batches_hold_at_most_100_documents() -> None:
    """250 small documents → pages 1, 2, 3 of 100, 100 and 50 documents, in order."""
    documents = [make_document(i) for i in range(250)]
    batches = batch_documents(documents)

    assert [100, 100, 50] == [len(b.items) for b in batches]
    assert documents == [document for batch in batches for document in batch.items]


def test_batches_split_by_byte_size() -> None:
    """Documents that would push a page over `max_bytes` start the next page."""
    documents = [make_document(i, "x" * 1_000) for i in range(5)]
    size = encoded_size(documents[0])
    batches = batch_documents(documents, max_bytes=size * 2 + size // 2)

    assert [2, 2, 1] == [len(batch.items) for batch in batches]
    assert [2 * size, 2 * size, size] == [batch.size for batch in batches]
    assert documents == [document for batch in batches for document in batch.items]


def test_batch_size_counts_utf8_bytes() -> None:
    """A batch's size counts UTF-8 bytes, not characters ('€' is 3 bytes)."""
    document = make_document(0, "€" * 1_000)
    (batch,) = batch_documents([document])

    assert encoded_size(document) == batch.size
    assert batch.size > len(document_json(document)) + 1


def test_oversized_document_gets_a_page_of_its_own() -> None:
    """A document bigger than `max_bytes` still goes out, alone on its page."""
    documents = [make_document(0), make_document(1, "x" * 5_000), make_document(2)]
    batches = batch_documents(documents, max_bytes=1_000)

    assert [[0], [1], [2]] == [
        [documents.index(document) for document in batch.items] for batch in batches
    ]


def test_no_documents_no_batches() -> None:
    """No documents give no batches (a spec with only webhooks sends nothing)."""
    assert [] == batch_documents([])


@pytest.mark.parametrize(
    ("batch_size", "max_bytes"), [(100, MAX_BATCH_BYTES), (100, 50_000), (7, 20_000)]
)
def test_stripe_batches_stay_within_bounds(batch_size: int, max_bytes: int) -> None:
    """Stripe's 417 documents page within both bounds, each counted once, in order."""
    documents = corpus("stripe_spec3.json").documents
    batches = batch_documents(documents, batch_size=batch_size, max_bytes=max_bytes)

    assert documents == [document for batch in batches for document in batch.items]
    assert [] == [b for b in batches if len(b.items) > batch_size]
    assert [] == [b for b in batches if b.size > max_bytes and len(b.items) > 1]
    assert [sum(encoded_size(d) for d in b.items) for b in batches] == [b.size for b in batches]


def test_stripe_default_batches() -> None:
    """With the defaults, Stripe's 417 documents make pages of 100, 100, 100, 100 and 17."""
    batches = batch_documents(corpus("stripe_spec3.json").documents)

    assert [100, 100, 100, 100, 17] == [len(batch.items) for batch in batches]


@pytest.mark.parametrize(
    ("sizes", "max_events", "max_bytes", "expected"),
    [
        pytest.param([1] * 25, 10, 1_000, [10, 10, 5], id="by-count"),
        pytest.param([4] * 5, 100, 10, [2, 2, 1], id="by-bytes"),
        pytest.param([5, 5, 5, 5], 100, 10, [2, 2], id="exactly-full"),
        pytest.param([100, 1, 1, 100], 100, 10, [1, 2, 1], id="oversized-alone"),
        pytest.param([], 10, 10, [], id="nothing"),
    ],
)
def test_send_requests(
    sizes: list[int], max_events: int, max_bytes: int, expected: list[int]
) -> None:
    """Send requests are bounded by event count and by bytes; order is kept."""
    items = [(f"event-{i}", size) for i, size in enumerate(sizes)]
    chunks = send_requests(items, max_events=max_events, max_bytes=max_bytes)

    assert expected == [len(chunk) for chunk in chunks]
    assert [event for event, _ in items] == [event for chunk in chunks for event in chunk]


@given(
    sizes=st.lists(st.integers(min_value=0, max_value=50), max_size=60),
    max_events=st.integers(min_value=1, max_value=10),
    max_bytes=st.integers(min_value=1, max_value=100),
)
def test_packed_bounds_hold(sizes: list[int], max_events: int, max_bytes: int) -> None:
    """Every item is packed once, in order; bins keep to the count, and to bytes unless alone."""
    items = list(enumerate(sizes))
    chunks = send_requests(items, max_events=max_events, max_bytes=max_bytes)

    assert list(range(len(sizes))) == [index for chunk in chunks for index in chunk]
    assert [] == [chunk for chunk in chunks if not 1 <= len(chunk) <= max_events]
    assert [] == [
        chunk
        for chunk in chunks
        if len(chunk) > 1 and sum(sizes[index] for index in chunk) > max_bytes
    ]
