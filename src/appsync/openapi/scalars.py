"""Scalars of a parsed spec as text, whatever YAML made of them, and prose as plain text."""

from __future__ import annotations

import html
import re

HEX_DIGITS = 200

# Each pattern stops at the next delimiter of its kind, so cleaning stays linear in the text (a
# pattern that may run over its own opening delimiter backtracks: a megabyte of `[` cost seconds).
_TAG = re.compile(r"<[^<>]{0,2000}>")
_MD_LINK = re.compile(r"!?\[([^\[\]]{0,500})\]\([^()]{0,2000}\)")
_MD_MARKS = re.compile(r"[*_`#>|~]+")
_SPACE = re.compile(r"\s+")


def scalar_text(value: object) -> str:
    """A scalar as stripped text, and '' for other shapes.

    YAML turns `version: 2020-08-27` into a date and `200:` into an int; an int too long to print in
    decimal (Python refuses over 4,300 digits) is shown as clipped hex instead.
    """
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int):  # bool included: YAML's `yes` reads as True
        try:
            return str(value)
        except ValueError:
            return format(value, "#x")[:HEX_DIGITS]
    if isinstance(value, float) or hasattr(value, "isoformat"):
        return str(value)
    return ""


def clean_text(text: str) -> str:
    """Text without HTML tags, entities, markdown links and marks, in single spaces."""
    text = html.unescape(_TAG.sub(" ", text))
    text = _MD_LINK.sub(r"\1", text)
    text = _MD_MARKS.sub(" ", text)
    return _SPACE.sub(" ", text).strip()
