"""Scalars of a parsed spec as text, whatever YAML made of them."""

from __future__ import annotations

HEX_DIGITS = 200


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
