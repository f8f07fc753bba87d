"""Searching the operations index: the embedding model and the searcher (query → hits)."""
