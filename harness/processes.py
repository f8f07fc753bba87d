"""What this test process started: server processes, and whether the embedding model loaded.

`pytest -m "not slow"` promises a subset that starts no server process and loads no model; the
session checks that promise against this record at its end (tests/conftest.py).
"""

from __future__ import annotations

import sys

_started: list[str] = []


def note_started(what: str) -> None:
    """Record that a server process (`what`) was started by this test process."""
    _started.append(what)


def started() -> list[str]:
    """Every server process started so far, in order."""
    return list(_started)


def model_loaded() -> bool:
    """Whether the embedding model was loaded (onnxruntime is imported only to load it)."""
    return "onnxruntime" in sys.modules
