"""How the command line shows events and reads messages: pure functions, no I/O.

``rx-itty listen`` prints one line per event, either readable text
(:func:`event_line`) or one JSON object (:func:`event_record`). The readable
columns are ``TIME KIND WHO DETAIL``::

    12:00:01.234 join    Alice (k3v9qa) [you]  total=1
    12:00:02.001 join    (anonymous)  total=2
    12:00:02.500 message Bob (p0x7zq)  {"type":"chat","text":"hi"}
    12:00:03.000 message p0x7zq  "psst"
    12:00:04.000 error   Recipient "nobody" is not in this channel.
    12:00:05.000 leave   (anonymous)  total=1

Each JSON kind has a fixed set of keys, present even when their value is
``null``, so ``jq`` filters never trip over a missing key:

- ``message``: ``event, date, uid, alias, type, message``
- ``join``: ``event, date, uid, alias, self, total, users``
- ``leave``: ``event, date, uid, alias, total``
- ``error``: ``event, date, message``
- ``signal``: ``event, date, type, frame``

Readable lines are safe to print on a terminal: control characters from the
network (C0, DEL, C1, ESC) are shown escaped (``\\x1b``), never interpreted, as
are the characters that reorder text (``\\u202e``, bidirectional overrides), and
a payload longer than :data:`DETAIL_CHARS` characters is cut, with its size
shown. JSON lines are exact: every payload whole, as the relay sent it.
"""

from __future__ import annotations

import contextlib
import itertools
from datetime import datetime
from typing import Any

from rx_itty import _json
from rx_itty.events import Event, Join, Leave, Message, ServerError, Signal
from rx_itty.exceptions import InvalidOptionError

__all__ = [
    "DETAIL_CHARS",
    "event_line",
    "event_record",
    "parse_message",
    "plural",
    "record_line",
    "sender",
    "terminal_safe",
]

DETAIL_CHARS = 300
"""Longest payload (or error text) a readable line shows before cutting it."""

# C0 controls (newline and tab included: every readable line is one line), DEL
# and C1, as the websockets CLI escapes them; ESC among them, so a peer cannot
# move the cursor, clear the screen or retitle the terminal of whoever listens.
# Also the characters that reorder or break text (bidirectional overrides,
# isolates and marks, line and paragraph separators), so a peer cannot make a
# line read differently from what it holds ("Trojan Source").
_REORDERING = (0x061C, 0x200E, 0x200F, 0x2028, 0x2029, *range(0x202A, 0x202F))
_ISOLATES = range(0x2066, 0x206A)
_TERMINAL_ESCAPES = str.maketrans(
    {
        **{i: repr(chr(i))[1:-1] for i in itertools.chain(range(32), range(127, 160))},
        **{i: f"\\u{i:04x}" for i in itertools.chain(_REORDERING, _ISOLATES)},
    }
)

# What JSON text starts with when it is an object, an array or a string: text
# starting so was meant as JSON, and sending it as a string would hide a typo.
_JSON_OPENERS = ("{", "[", '"')


def terminal_safe(text: str) -> str:
    """``text`` with every control and text-reordering character escaped, safe to print.

    ``\\x1b``, ``\\n``, ``\\u202e`` (right-to-left override) are shown as those escapes.
    """
    return text.translate(_TERMINAL_ESCAPES)


def parse_message(text: str, *, as_text: bool = False, line: int | None = None) -> Any:
    """The payload for ``rx-itty send``: ``text`` as JSON if it is valid JSON, else the string.

    ``'{"a": 1}'`` is an object, ``42`` a number, ``true`` a boolean, ``'"42"'``
    the string ``42``; ``hello`` is not JSON, so it is the string ``hello``.
    Text that starts like an object, array or string (``{``, ``[``, ``"``) but
    does not parse is refused, since sending it as a string would hide the
    mistake. ``as_text`` always gives the string.

    Args:
        text: The MESSAGE argument, or one line of stdin.
        as_text: Send ``text`` as a string, whatever it looks like (``--text``).
        line: The line of stdin ``text`` came from; ``None`` for the argument.

    Raises:
        InvalidOptionError: ``text`` looks like JSON but is not valid JSON; the
            message gives the line and column of the mistake.
    """
    if as_text:
        return text
    try:
        return _json.loads(text)
    except _json.JSONDecodeError as exc:
        if not text.lstrip().startswith(_JSON_OPENERS):
            return text
        where, lineno = ("MESSAGE", exc.lineno) if line is None else ("stdin", line)
        raise InvalidOptionError(
            f"{where} is not valid JSON at line {lineno}, column {exc.colno}: {exc.msg}; "
            "fix it, or pass --text to send it as a string"
        ) from None


def plural(n: int | None, word: str, words: str | None = None) -> str:
    """``1 message``, ``3 messages``; ``words`` for an irregular plural (``replies``)."""
    return f"{n} {word}" if n == 1 else f"{n} {words or word + 's'}"


def sender(uid: str | None, alias: str | None) -> str:
    """``Alice (k3v9qa)``, ``k3v9qa``, ``Alice``, or ``(anonymous)`` when neither is known."""
    if uid and alias:
        return f"{alias} ({uid})"
    return uid or alias or "(anonymous)"


def _clock(date: int | None) -> str:
    """The local time of ``date`` (ms since the epoch); the time now if it has none or
    it is no moment a clock can show (a peer's ``1e300``)."""
    moment = None
    if date is not None:
        with contextlib.suppress(OverflowError, ValueError, OSError):
            moment = datetime.fromtimestamp(date / 1000)
    return (moment or datetime.now()).strftime("%H:%M:%S.%f")[:-3]


def _cut(text: str) -> str:
    """``text`` up to :data:`DETAIL_CHARS` characters, then its full size."""
    if len(text) <= DETAIL_CHARS:
        return text
    return f"{text[:DETAIL_CHARS]}… ({len(text.encode())} bytes in all; --json shows it whole)"


def _line(event: Event) -> str:
    if isinstance(event, Message):
        detail = f"{sender(event.uid, event.alias)}  {_cut(_json.stringify(event.message))}"
        return f"{_clock(event.date)} message {detail}"
    if isinstance(event, Join):
        who = sender(event.uid, event.alias) + (" [you]" if event.is_self else "")
        return f"{_clock(event.date)} join    {who}  total={event.total}"
    if isinstance(event, Leave):
        who = sender(event.uid, event.alias)
        return f"{_clock(event.date)} leave   {who}  total={event.total}"
    if isinstance(event, ServerError):
        return f"{_clock(event.date)} error   {_cut(event.message)}"
    return f"{_clock(event.date)} signal  {event.type}  {_cut(_json.stringify(dict(event.raw)))}"


def event_line(event: Event) -> str:
    """One readable, terminal-safe line for ``event``: ``TIME KIND WHO DETAIL``.

    See the module docstring for the columns; long payloads are cut and
    control characters escaped.
    """
    return terminal_safe(_line(event))


def event_record(event: Event) -> dict[str, Any]:
    """One JSON-ready object for ``event``, with the fixed keys of its kind."""
    if isinstance(event, Message):
        return {
            "event": "message",
            "date": event.date,
            "uid": event.uid,
            "alias": event.alias,
            "type": event.type,
            "message": event.message,
        }
    if isinstance(event, Join):
        users = (
            None
            if event.users is None
            else [{"uid": u.uid, "alias": u.alias, "self": u.is_self} for u in event.users]
        )
        return {
            "event": "join",
            "date": event.date,
            "uid": event.uid,
            "alias": event.alias,
            "self": event.is_self,
            "total": event.total,
            "users": users,
        }
    if isinstance(event, Leave):
        return {
            "event": "leave",
            "date": event.date,
            "uid": event.uid,
            "alias": event.alias,
            "total": event.total,
        }
    if isinstance(event, ServerError):
        return {"event": "error", "date": event.date, "message": event.message}
    assert isinstance(event, Signal)
    return {"event": "signal", "date": event.date, "type": event.type, "frame": dict(event.raw)}


def record_line(event: Event) -> str:
    """:func:`event_record` as one line of compact JSON."""
    return _json.stringify(event_record(event))
