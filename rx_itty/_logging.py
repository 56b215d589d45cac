"""Logging helpers: keys never reach a log record."""

from __future__ import annotations

import logging
import re

__all__ = ["RedactKeys", "wire_logger"]

_KEY_IN_TEXT = re.compile(r"((?:join|send)Key=)[^&\s]*", re.IGNORECASE)


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
