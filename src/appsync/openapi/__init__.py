"""OpenAPI specs → text documents and cards: parsing, local `$ref`s, the two builders."""

from appsync.openapi.cards import OperationCard
from appsync.openapi.documents import Document, Metadata, SpecDocuments, spec_documents
from appsync.openapi.errors import SpecError
from appsync.openapi.parsing import parse_spec

__all__ = [
    "Document",
    "Metadata",
    "OperationCard",
    "SpecDocuments",
    "SpecError",
    "parse_spec",
    "spec_documents",
]
