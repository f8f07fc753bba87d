"""Operation cards (`appsync.openapi.cards`): what an assistant needs to call an operation."""

from __future__ import annotations

import datetime as dt
import functools
import json
from typing import Any

import pytest

from appsync.openapi import OperationCard, SpecDocuments, spec_documents
from appsync.openapi.cards import (
    MAX_CARD_BYTES,
    MAX_SCHEMA_BYTES,
    CardParameter,
    card_size,
    fitted,
)
from appsync.sync.batches import load_documents
from harness.paths import SPECS_DIR, spec_files
from harness.wire import through_the_server

MUSEUM_URL = "http://127.0.0.1:9/specs/redocly_museum.yaml"
INFO = {"title": "T", "version": "1"}


@functools.cache
def corpus(name: str, url: str | None = None) -> SpecDocuments:
    """The documents and cards of one corpus file, read from `url`."""
    return load_documents((SPECS_DIR / name).read_bytes(), url)


def card_of(loaded: SpecDocuments, operation_id: str) -> OperationCard:
    """The card of the operation with `operation_id`."""
    (card,) = [card for card in loaded.cards if card.operation_id == operation_id]
    return card


def only_card(spec: dict[str, Any], spec_url: str | None = None) -> OperationCard:
    """The card of a spec with one operation."""
    (card,) = spec_documents(spec, spec_url=spec_url).cards
    return card


def body_spec(schema: dict[str, Any], **components: Any) -> dict[str, Any]:
    """An OpenAPI 3.1 spec whose one operation takes a JSON body of `schema`."""
    return {
        "openapi": "3.1.0",
        "info": INFO,
        "servers": [{"url": "https://api.test/v1"}],
        "paths": {
            "/things": {
                "post": {
                    "operationId": "createThing",
                    "requestBody": {"content": {"application/json": {"schema": schema}}},
                    "responses": {"201": {"description": "Created."}},
                }
            }
        },
        "components": {"schemas": components},
    }


def test_the_museum_ticket_card_says_how_to_buy_tickets() -> None:
    """POST, the full URL, the body's fields (allOf merged, required marked), responses, auth."""
    card = card_of(corpus("redocly_museum.yaml", MUSEUM_URL), "buyMuseumTickets")

    assert ("POST", "/tickets") == (card.method, card.path)
    assert "https://redocly.com/_mock/docs/openapi/museum-api/tickets" == card.url
    assert "Purchase museum tickets for general entry or special events." == card.description
    assert card.request_body is not None
    assert ["application/json"] == card.request_body.media_types
    fields = {field.name: field for field in card.request_body.fields}
    assert ["email", "ticketId", "ticketDate", "ticketType", "eventId"] == list(fields)
    assert {"ticketDate", "ticketType"} == {name for name, f in fields.items() if f.required}
    assert "string (date)" == fields["ticketDate"].type
    assert fields["eventId"].description.startswith("Unique identifier for a special event.")
    assert {"201", "400", "404"} == set(card.responses)
    assert "confirmationCode" in card.responses["201"].fields
    assert ["MuseumPlaceholderAuth"] == card.security
    assert [] == card.notes


def test_the_body_schema_has_its_refs_inlined_without_examples() -> None:
    """The body's JSON Schema is self-contained: no $ref left, enums kept, examples dropped."""
    card = card_of(corpus("redocly_museum.yaml", MUSEUM_URL), "buyMuseumTickets")
    assert card.request_body is not None
    schema = card.request_body.json_schema
    text = json.dumps(schema)

    assert "$ref" not in text
    assert "example" not in text
    assert ["event", "general"] == schema["allOf"][1]["properties"]["ticketType"]["enum"]  # type: ignore[index]


def test_path_parameters_come_with_their_descriptions() -> None:
    """A `$ref`'d path parameter: name, where, required, type and description."""
    card = card_of(corpus("redocly_museum.yaml", MUSEUM_URL), "getSpecialEvent")

    assert [
        CardParameter(
            name="eventId",
            location="path",
            required=True,
            type="string (uuid)",
            description="Identifier for a special event.",
        )
    ] == card.parameters
    assert "https://redocly.com/_mock/docs/openapi/museum-api/special-events/{eventId}" == card.url


def test_a_swagger2_card_takes_scheme_host_base_path_and_the_body_parameter() -> None:
    """Swagger 2.0: scheme://host + basePath + path; the `in: body` parameter is the body."""
    loaded = corpus("oai_petstore_swagger2.json")
    create = card_of(loaded, "createPets")
    listing = card_of(loaded, "listPets")

    assert "http://petstore.swagger.io/v1/pets" == create.url
    assert "limit" == listing.parameters[0].name
    assert ["id", "name", "tag"] == listing.responses["200"].fields


def test_a_relative_server_resolves_against_the_spec_url() -> None:
    """`servers: [{url: /api}]` read from http://host/specs/x.json: http://host/api/...."""
    spec = body_spec({"type": "object"})
    spec["servers"] = [{"url": "/api"}]

    assert (
        "http://specs.test:8080/api/things"
        == only_card(spec, "http://specs.test:8080/specs/x.json").url
    )
    assert "/api/things" == only_card(spec).url


def test_server_variables_take_their_defaults_and_operation_servers_win() -> None:
    """`{region}` becomes its default; an operation's own `servers` overrides the spec's."""
    spec = body_spec({"type": "object"})
    spec["servers"] = [
        {"url": "https://{region}.api.test/v1", "variables": {"region": {"default": "eu"}}}
    ]
    assert "https://eu.api.test/v1/things" == only_card(spec).url

    spec["paths"]["/things"]["post"]["servers"] = [{"url": "https://upload.api.test"}]
    assert "https://upload.api.test/things" == only_card(spec).url


def test_a_cycle_is_cut_where_it_recurs_with_a_note() -> None:
    """A schema that contains itself is inlined once and cut, saying so."""
    node = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "child": {"$ref": "#/components/schemas/Node"}},
    }
    card = only_card(body_spec({"$ref": "#/components/schemas/Node"}, Node=node))
    assert card.request_body is not None
    schema = card.request_body.json_schema

    assert schema is not None
    assert {"$comment": "cycle: #/components/schemas/Node again (cut here)"} == schema[
        "properties"
    ]["child"]
    assert any("cycle through #/components/schemas/Node" in note for note in card.notes)


def test_deep_schemas_are_cut_at_a_depth_and_big_ones_to_a_size() -> None:
    """Nesting below the depth cap and schemas over MAX_SCHEMA_BYTES are cut, with notes."""
    deep: dict[str, Any] = {"type": "string"}
    for _ in range(12):
        deep = {"type": "object", "properties": {"inner": deep}}
    wide = {
        "type": "object",
        "properties": {
            f"field{n}": {"type": "object", "description": "x" * 290, "properties": {}}
            for n in range(100)
        },
    }
    deep_card = only_card(body_spec(deep))
    wide_card = only_card(body_spec(wide))

    assert any("levels below 6 left out" in note for note in deep_card.notes)
    assert wide_card.request_body is not None
    schema_json = json.dumps(
        wide_card.request_body.json_schema, ensure_ascii=False, separators=(",", ":")
    )
    assert len(schema_json.encode()) <= MAX_SCHEMA_BYTES
    assert wide_card.notes


def test_numbers_are_written_as_the_inngest_server_reads_them_back() -> None:
    """int64 max becomes its float, 1.0 becomes 1, YAML dates become text, infinity text."""
    schema = {
        "type": "object",
        "properties": {
            "count": {"type": "integer", "format": "int64", "maximum": 9223372036854775807},
            "ratio": {"type": "number", "default": 1.0, "minimum": 0.5},
            "when": {"type": "string", "default": dt.date(2020, 8, 27)},
            "cap": {"type": "number", "maximum": float("inf")},
        },
    }
    card = only_card(body_spec(schema))
    assert card.request_body is not None
    properties = card.request_body.json_schema["properties"]  # type: ignore[index]

    assert 9.223372036854776e18 == properties["count"]["maximum"]
    assert isinstance(properties["count"]["maximum"], float)
    assert (1, 0.5) == (properties["ratio"]["default"], properties["ratio"]["minimum"])
    assert isinstance(properties["ratio"]["default"], int)
    assert "2020-08-27" == properties["when"]["default"]
    assert "inf" == properties["cap"]["maximum"]


@pytest.mark.parametrize("path", spec_files(), ids=lambda path: path.name)
def test_every_corpus_card_is_aligned_bounded_and_survives_the_server(path: Any) -> None:
    """One card per document with its uid, each within MAX_CARD_BYTES and unchanged by Go's JSON."""
    loaded = corpus(path.name, f"http://127.0.0.1:9/specs/{path.name}")

    assert [d["uid"] for d in loaded.documents] == [card.uid for card in loaded.cards]
    for card in loaded.cards:
        assert card_size(card) <= MAX_CARD_BYTES
        wire = through_the_server(card.model_dump(mode="json"))
        assert card == OperationCard.model_validate(wire)


def test_an_operation_level_empty_security_means_none() -> None:
    """`security: []` on the operation overrides the spec's requirement."""
    spec = body_spec({"type": "object"})
    spec["security"] = [{"apiKey": []}, {"oauth": ["write"]}]
    assert ["apiKey", "oauth"] == only_card(spec).security

    spec["paths"]["/things"]["post"]["security"] = []
    assert [] == only_card(spec).security


def test_a_broken_ref_deep_in_a_body_is_a_note_not_a_failed_spec() -> None:
    """A property's `$ref` to nothing: the spec still syncs; the card says what it could not do."""
    schema = {"type": "object", "properties": {"x": {"$ref": "#/components/schemas/Missing"}}}
    card = only_card(body_spec(schema))

    assert card.request_body is not None
    assert ["x"] == [field.name for field in card.request_body.fields]
    assert any("points to nothing" in note for note in card.notes)


def test_a_card_over_the_byte_cap_is_trimmed_then_reduced_to_the_call() -> None:
    """Over MAX_CARD_BYTES: lists trimmed and the schema dropped; still over: only the call."""
    card = card_of(corpus("redocly_museum.yaml", MUSEUM_URL), "buyMuseumTickets")
    many = [
        CardParameter(
            name=f"p{n}", location="query", required=False, type="string", description="d"
        )
        for n in range(2_000)
    ]
    long_names = [p.model_copy(update={"name": "n" * 3_000}) for p in many[:30]]

    trimmed = fitted(card.model_copy(update={"parameters": many}))
    reduced = fitted(card.model_copy(update={"parameters": long_names * 2}))

    assert 30 == len(trimmed.parameters)
    assert card_size(trimmed) <= MAX_CARD_BYTES
    assert ([], None) == (reduced.parameters, reduced.request_body)
    assert (card.method, card.url) == (reduced.method, reduced.url)
