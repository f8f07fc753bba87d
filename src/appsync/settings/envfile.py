"""Reading a `.env` file strictly: every problem is an error naming the file and the line.

pydantic-settings reads `.env` files with python-dotenv, which skips a line it cannot parse with
only a logged warning, and raises `UnicodeDecodeError` on bytes that are not UTF-8. A skipped line
silently changes the settings (an unbalanced quote in `APPSYNC_OPENAPI_URLS` made a POST sync the
default URLs), so this module parses with the same parser (`dotenv.parser.parse_stream`, the
function `dotenv_values` is built on; python-dotenv is pinned) and refuses instead. Messages name
lines, never their content: a `.env` file holds secrets.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable
from pathlib import Path

from dotenv import dotenv_values
from dotenv.parser import Binding, parse_stream

_ASSIGNMENT = re.compile(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.]*)\s*=")


class EnvFileError(ValueError):
    """An env file that cannot be read as settings; the message names the file and line."""

    def __init__(self, path: Path, line: int | None, reason: str) -> None:
        where = f"{path} line {line}" if line is not None else str(path)
        super().__init__(f"{where}: {reason}")
        self.path = path
        self.line = line


def read_env_file(path: Path, watched: Iterable[str] = ()) -> dict[str, str]:
    """The variables `path` sets, as python-dotenv reads them; `{}` when it does not exist.

    Raises `EnvFileError` for a file that cannot be read, bytes that are not UTF-8, a line that
    cannot be parsed, and a line that assigns one of the `watched` names but was read as part of
    another variable's quoted value (a quote left open above it).
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise EnvFileError(path, None, f"cannot be read: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise EnvFileError(
            path, line, f"not valid UTF-8 text (byte {exc.start + 1} of the file)"
        ) from None
    bindings = [(_first_line(binding), binding) for binding in parse_stream(io.StringIO(text))]
    for line, binding in bindings:
        if binding.error:
            raise EnvFileError(
                path,
                line,
                "cannot be parsed (an unbalanced quote, or not NAME=value); "
                "python-dotenv would skip it",
            )
    _check_watched(path, text, bindings, {name.upper() for name in watched})
    values = dotenv_values(stream=io.StringIO(text))
    return {name: value for name, value in values.items() if value is not None}


def _first_line(binding: Binding) -> int:
    """The line where a binding's text starts (the parser counts from blank lines before it)."""
    text = binding.original.string
    leading = text[: len(text) - len(text.lstrip())]
    return binding.original.line + leading.count("\n")


def _check_watched(
    path: Path, text: str, bindings: list[tuple[int, Binding]], watched: set[str]
) -> None:
    if not watched:
        return
    starts = {line for line, binding in bindings if binding.key is not None}
    for number, content in enumerate(text.splitlines(), start=1):
        match = _ASSIGNMENT.match(content)
        if match is None or match.group(1).upper() not in watched or number in starts:
            continue
        owner = max((line for line in starts if line < number), default=None)
        raise EnvFileError(
            path,
            number,
            f"sets {match.group(1)}, but is read as part of the quoted value that starts on "
            f"line {owner}; close the quote there",
        )
