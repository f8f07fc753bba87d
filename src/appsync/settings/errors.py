"""Settings that cannot start the service, and messages that name each variable and why."""

from __future__ import annotations

from collections.abc import Collection

import pydantic
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError
from pydantic_settings import BaseSettings


class SettingsError(ValueError):
    """Settings that cannot start the service; the message names every bad variable."""


def init_details(error: ErrorDetails) -> InitErrorDetails:
    """An error of a failed validation, as one to raise again among others."""
    details: InitErrorDetails = {
        "type": error["type"],
        "loc": error["loc"],
        "input": error["input"],
    }
    if "ctx" in error:
        details["ctx"] = error["ctx"]
    return details


def custom_error(kind: str, problem: str, data: object) -> InitErrorDetails:
    """A model-level error of kind `kind` saying `problem` (for a wrap validator to raise)."""
    return {"type": PydanticCustomError(kind, problem), "loc": (), "input": data}


def describe_validation_error(
    exc: pydantic.ValidationError, model: type[BaseSettings], hidden: Collection[str] = ()
) -> str:
    """Turn a validation error into lines that name each variable and what is wrong with it.

    The values of the fields named in `hidden` (secrets) are never shown.
    """
    aliases = {
        name: field.validation_alias
        for name, field in model.model_fields.items()
        if isinstance(field.validation_alias, str)
    }
    hidden = {*hidden, *(aliases[name] for name in hidden if name in aliases)}
    lines = []
    for error in exc.errors(include_url=False):
        loc = [str(part) for part in error["loc"]]
        head = loc[0] if loc else ""
        variable = aliases.get(head, head.upper()) if head else ""
        where = ".".join([variable, *loc[1:]]) if variable else "settings"
        message = str(error["msg"]).removeprefix("Value error, ")
        shown = error.get("input")
        if variable and not isinstance(shown, dict) and head not in hidden:
            lines.append(f"{where}: {message} (got {shown!r})")
        else:
            lines.append(f"{where}: {message}" if variable else message)
    return "invalid settings:\n  " + "\n  ".join(lines)
