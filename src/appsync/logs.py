"""No secret in any log line: every record is scrubbed of the configured secrets.

Third-party loggers write secrets without meaning to: httpx logs each request URL, and the event
API's URL holds the event key (`/e/<key>`). Scrubbing where records are made covers every logger.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import Any

from appsync.sender import scrub

# Shorter values are too likely to appear by chance to be worth replacing.
_MIN_SECRET_LENGTH = 6

_lock = threading.Lock()
_secrets: list[str] = []
_installed = False


def _redact(record: logging.LogRecord, secrets: list[str]) -> None:
    try:
        message = record.getMessage()
    except (TypeError, ValueError):
        return
    if any(secret in message for secret in secrets):
        record.msg, record.args = scrub(message, secrets), None
    if record.exc_info and not record.exc_text:
        text = logging.Formatter().formatException(record.exc_info)
        if any(secret in text for secret in secrets):
            record.exc_text = scrub(text, secrets)


def redact_secrets_in_logs(secrets: Iterable[str]) -> None:
    """Replace these secrets with `***` in every log record made from now on, in this process."""
    global _installed  # noqa: PLW0603 - one record factory per process
    with _lock:
        _secrets.extend(s for s in secrets if len(s) >= _MIN_SECRET_LENGTH and s not in _secrets)
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:  # noqa: ANN401 - LogRecord's own signature
            record = previous(*args, **kwargs)
            if _secrets:
                _redact(record, _secrets)
            return record

        logging.setLogRecordFactory(factory)
        _installed = True
