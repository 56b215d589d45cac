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
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rx_itty import _json
from rx_itty.events import Event, Join, Leave, Message, ServerError, Signal

__all__ = [
    "event_line",
    "event_record",
    "parse_message",
    "record_line",
    "sender",
]


def parse_message(text: str, *, raw_string: bool = False) -> Any:
    """The payload for ``rx-itty send``: ``text`` as JSON if it is valid JSON, else the string.

    ``'{"a": 1}'`` is an object, ``42`` a number, ``true`` a boolean, ``'"42"'``
    the string ``42``; ``hello`` is not JSON, so it is the string ``hello``.
    ``raw_string`` always gives the string.
    """
    if raw_string:
        return text
    try:
        return _json.loads(text)
    except _json.JSONDecodeError:
        return text


def sender(uid: str | None, alias: str | None) -> str:
    """``Alice (k3v9qa)``, ``k3v9qa``, ``Alice``, or ``(anonymous)`` when neither is known."""
    if uid and alias:
        return f"{alias} ({uid})"
    return uid or alias or "(anonymous)"


def _clock(date: int | None) -> str:
    moment = datetime.now() if date is None else datetime.fromtimestamp(date / 1000)
    return moment.strftime("%H:%M:%S.%f")[:-3]


def event_line(event: Event) -> str:
    """One readable line for ``event``: ``TIME KIND WHO DETAIL`` (see the module docstring)."""
    if isinstance(event, Message):
        detail = f"{sender(event.uid, event.alias)}  {_json.stringify(event.message)}"
        return f"{_clock(event.date)} message {detail}"
    if isinstance(event, Join):
        who = sender(event.uid, event.alias) + (" [you]" if event.is_self else "")
        return f"{_clock(event.date)} join    {who}  total={event.total}"
    if isinstance(event, Leave):
        who = sender(event.uid, event.alias)
        return f"{_clock(event.date)} leave   {who}  total={event.total}"
    if isinstance(event, ServerError):
        return f"{_clock(event.date)} error   {event.message}"
    return f"{_clock(event.date)} signal  {event.type}  {_json.stringify(dict(event.raw))}"


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
