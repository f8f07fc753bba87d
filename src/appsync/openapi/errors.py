"""The one error the spec → documents path raises."""

from __future__ import annotations


class SpecError(ValueError):
    """A spec that cannot be turned into documents; the message says where and why."""
