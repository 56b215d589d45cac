"""Logging helpers: keys never reach a log record.

A key travels as a query parameter (``joinKey``/``sendKey``), and the relay
reads the query with form decoding: names and values are percent-decoded, so
``join%4Bey=K`` is a ``joinKey``. :func:`redact` therefore decodes every
parameter name the same way (:func:`query_params` is the relay's own parser)
before deciding what to mask, and masks every occurrence, in the message and in
any traceback attached to the record. URLs that carry other credentials (a
backplane's Redis URL) are printed through :func:`without_credentials`, which
reads their query with the same parser.
"""

from __future__ import annotations

import logging
import re
from typing import Final
from urllib.parse import parse_qsl, unquote_plus, urlencode, urlsplit

__all__ = [
    "KEY_PARAMS",
    "PICOWS_PARSER_ERROR",
    "RedactKeys",
    "gives_join_key",
    "query_params",
    "redact",
    "wire_logger",
    "without_credentials",
    "without_query",
]

KEY_PARAMS: Final = frozenset(("joinKey", "sendKey"))
"""Query parameters whose values are secrets."""
PICOWS_PARSER_ERROR: Final = "WS parser error: %s, initiate disconnect"
"""The line ``picows`` logs at ERROR when its parser refuses a peer's frame, just before
it closes the connection; rx_itty logs it at DEBUG (the close says what went wrong)."""

_MASK = "***"
_LOWER_KEYS = frozenset(name.lower() for name in KEY_PARAMS)
# A parameter name: after '?' or '&', up to '='. Names never span a '?', so a
# second '?' in a URL ("...?x=1?sendKey=s") starts a new candidate.
_NAME = re.compile(r"[?&]([^=&?\s]*)=")
# A value runs to the next '&', as the relay's parser reads it: a tab or a vertical
# tab is part of it. Nothing parses a value past a line break, nor past the space
# before the protocol that ends a request line.
_VALUE_END = re.compile(r"&|[\r\n]| HTTP/")


def without_query(url: str) -> str:
    """``url`` without its query string, which may hold keys: the only form to log or print."""
    return url.split("?", 1)[0]


def query_params(query: str) -> list[tuple[str, str]]:
    """The query's ``(name, value)`` pairs, form-decoded, in order, repetitions kept.

    This is how the relay reads a handshake's query, and how :func:`redact` reads
    parameter names, so the two can never disagree about what is a key.
    """
    return parse_qsl(query, keep_blank_values=True, errors="replace")


def gives_join_key(url: str) -> bool:
    """Whether ``url``'s query gives a ``joinKey`` (a 403 then means the key was wrong)."""
    return any(name == "joinKey" for name, _ in query_params(urlsplit(url).query))


def _is_key_name(raw: str) -> bool:
    # Decoded as parse_qsl decodes names; any letter case is masked too (harmless).
    return unquote_plus(raw, errors="replace").lower() in _LOWER_KEYS


def redact(text: str) -> str:
    """``text`` with the value of every key parameter in it replaced by ``***``.

    Every ``?``/``&``-delimited ``name=value`` whose name decodes to ``joinKey`` or
    ``sendKey`` (``join%4Bey``, ``send%4bey``, ...) is masked, however often it repeats.
    """
    if "=" not in text:
        return text
    parts: list[str] = []
    done = 0  # text[:done] is already in parts
    for match in _NAME.finditer(text):
        start = match.end()
        if start < done or not _is_key_name(match.group(1)):
            continue
        end_match = _VALUE_END.search(text, start)
        end = len(text) if end_match is None else end_match.start()
        parts.append(text[done:start])
        parts.append(_MASK)
        done = end
    if not parts:
        return text
    parts.append(text[done:])
    return "".join(parts)


def without_credentials(url: str) -> str:
    """``url`` without a user name, password or ``password=`` parameter: the form to print.

    A password with an unencoded ``/``, ``?``, ``#`` or ``@`` in it (``redis://u:pa/ss@h``)
    is not where a URL parser looks for one, so everything before the last ``@`` goes:
    at worst the host goes with it, never part of a password.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    if "@" in rest:
        rest = rest.rpartition("@")[2]
    place, mark, query = rest.partition("?")
    pairs = query_params(query)
    kept = [(k, v) for k, v in pairs if k != "password"]
    if len(kept) != len(pairs):
        query = urlencode(kept)
        mark = "?" if kept else ""
    return f"{scheme}://{place}{mark}{query}"


class RedactKeys(logging.Filter):
    """Masks ``joinKey``/``sendKey`` values in a record's message and traceback.

    ``websockets`` logs request lines at DEBUG, and a malformed request line ends
    up in the text of an exception it logs, so both are checked.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = redact(message)
        if masked != message:
            record.msg = masked
            record.args = None
        if record.exc_info:
            trace = logging.Formatter().formatException(record.exc_info)
            masked = redact(trace)
            if masked != trace:
                # Handlers print exc_text when there is no exc_info to format.
                record.exc_text = masked
                record.exc_info = None
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class _InfoToDebug(logging.Filter):
    """Turns INFO records into DEBUG ones, shown only where DEBUG is enabled."""

    def __init__(self, logger: logging.Logger) -> None:
        super().__init__()
        self._logger = logger

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO:
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return self._logger.isEnabledFor(logging.DEBUG)


def wire_logger(name: str, *, quiet: bool = False) -> logging.Logger:
    """A logger for ``websockets`` to use, with key redaction installed once.

    Args:
        name: The logger's name.
        quiet: Also demote the library's INFO lines (one per connection opened,
            closed or refused) to DEBUG, for a server whose own INFO lines say
            what matters.
    """
    logger = logging.getLogger(name)
    if not any(isinstance(f, RedactKeys) for f in logger.filters):
        logger.addFilter(RedactKeys())
    if quiet and not any(isinstance(f, _InfoToDebug) for f in logger.filters):
        logger.addFilter(_InfoToDebug(logger))
    return logger
