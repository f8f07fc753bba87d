"""OpenAPI specs → text documents: parsing, local `$ref`s, and the document builder."""

from appsync.openapi.documents import Document, Metadata, SpecDocuments, spec_documents
from appsync.openapi.errors import SpecError
from appsync.openapi.parsing import parse_spec

__all__ = ["Document", "Metadata", "SpecDocuments", "SpecError", "parse_spec", "spec_documents"]
