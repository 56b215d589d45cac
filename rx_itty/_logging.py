"""Logging helpers: keys never reach a log record."""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qsl, urlencode, urlsplit

__all__ = ["RedactKeys", "wire_logger", "without_credentials", "without_query"]

_KEY_IN_TEXT = re.compile(r"((?:join|send)Key=)[^&\s]*", re.IGNORECASE)


def without_query(url: str) -> str:
    """``url`` without its query string, which may hold keys: the only form to log or print."""
    return url.split("?", 1)[0]


def without_credentials(url: str) -> str:
    """``url`` without a user name, password or ``password=`` parameter: the form to print."""
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    kept = [(k, v) for k, v in pairs if k != "password"]
    if "@" not in parts.netloc and len(kept) == len(pairs):
        return url
    query = f"?{urlencode(kept)}" if kept else ""
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}{query}"


class RedactKeys(logging.Filter):
    """Masks ``joinKey``/``sendKey`` values (``websockets`` logs request lines at DEBUG)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "key=" in message or "Key=" in message:
            record.msg = _KEY_IN_TEXT.sub(r"\1***", message)
            record.args = None
        return True


def wire_logger(name: str) -> logging.Logger:
    """A logger for ``websockets`` to use, with key redaction installed once."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, RedactKeys) for f in logger.filters):
        logger.addFilter(RedactKeys())
    return logger
