"""No secret in any log line: a `logging.Filter` that scrubs the configured secrets from records.

Third-party loggers write secrets without meaning to: httpx logs each request URL, and the event
API's URL holds the event key (`/e/<key>`). Records of every logger end in the handlers of the
root logger, so the app's lifespan puts this filter on those handlers while it runs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

# Shorter values are too likely to appear by chance to be worth replacing.
_MIN_SECRET_LENGTH = 6


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret value replaced by `***`."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


class SecretsFilter(logging.Filter):
    """Replaces secret values with `***` in a record's message and traceback; drops nothing."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = sorted(
            {s for s in secrets if len(s) >= _MIN_SECRET_LENGTH}, key=len, reverse=True
        )

    def filter(self, record: logging.LogRecord) -> bool:
        """Scrub the record in place; always keep it."""
        if not self.secrets:
            return True
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True
        if any(secret in message for secret in self.secrets):
            record.msg, record.args = scrub(message, self.secrets), None
        if record.exc_info and not record.exc_text:
            text = logging.Formatter().formatException(record.exc_info)
            if any(secret in text for secret in self.secrets):
                record.exc_text = scrub(text, self.secrets)
        return True


@contextmanager
def secrets_scrubbed(
    secrets: Iterable[str], logger: logging.Logger | None = None
) -> Iterator[SecretsFilter]:
    """Put a `SecretsFilter` on the handlers of `logger` (the root) until the block ends."""
    target = logger if logger is not None else logging.getLogger()
    secrets_filter = SecretsFilter(secrets)
    handlers = list(target.handlers)
    for handler in handlers:
        handler.addFilter(secrets_filter)
    try:
        yield secrets_filter
    finally:
        for handler in handlers:
            handler.removeFilter(secrets_filter)
