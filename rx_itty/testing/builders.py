"""Build protocol events with sensible defaults, exactly as the wire would deliver them.

Each builder makes the frame a relay would send and decodes it with
:func:`rx_itty.wire.decode_frame`, so a built event equals a received one,
``raw`` included (``m["text"]`` works). :func:`frame` gives the wire text back.
"""

from __future__ import annotations

from typing import Any

from rx_itty import _json
from rx_itty.events import BadFrame, Event, Join, Leave, Message, ServerError, User
from rx_itty.exceptions import InvalidOptionError, SerializationError
from rx_itty.wire import decode_frame

__all__ = ["error", "frame", "join", "leave", "message"]


def _decoded(raw: dict[str, Any]) -> Event | BadFrame:
    try:
        text = _json.dumps(raw)
    except TypeError as exc:
        raise SerializationError(
            f"cannot build an event around a value that is not JSON ({exc}); "
            "use dicts, lists, str, int, float, bool or None"
        ) from exc
    return decode_frame(text)


def _identity(raw: dict[str, Any], uid: str | None, alias: str | None) -> None:
    if uid is not None:
        raw["uid"] = uid
    if alias is not None:
        raw["alias"] = alias


def message(
    payload: Any, *, uid: str | None = "peer", alias: str | None = None, date: int = 0
) -> Message[Any]:
    """A user message from ``uid`` (``None`` for an HTTP push, which has no sender)."""
    raw: dict[str, Any] = {"date": date}
    _identity(raw, uid, alias)
    raw["message"] = payload
    event = _decoded(raw)
    assert isinstance(event, Message)
    return event


def join(
    uid: str | None = None,
    *,
    alias: str | None = None,
    total: int = 1,
    is_self: bool = False,
    users: list[User] | None = None,
    date: int = 0,
) -> Join:
    """A join: someone else's by default (no uid unless they announced); ``is_self`` for ours."""
    raw: dict[str, Any] = {"type": "join"}
    if is_self:
        raw["self"] = True
    _identity(raw, uid, alias)
    raw["total"] = total
    if users is not None:
        raw["users"] = [
            {
                "uid": u.uid,
                **({"alias": u.alias} if u.alias else {}),
                **({"self": True} if u.is_self else {}),
            }
            for u in users
        ]
    raw["date"] = date
    event = _decoded(raw)
    assert isinstance(event, Join)
    return event


def leave(
    uid: str | None = None, *, alias: str | None = None, total: int = 0, date: int = 0
) -> Leave:
    """A leave (uid and alias only if the leaver had announced)."""
    raw: dict[str, Any] = {"type": "leave", "total": total}
    _identity(raw, uid, alias)
    raw["date"] = date
    event = _decoded(raw)
    assert isinstance(event, Leave)
    return event


def error(text: str, *, date: int = 0) -> ServerError:
    """An ``error`` event from the relay."""
    event = _decoded({"type": "error", "message": text, "date": date})
    assert isinstance(event, ServerError)
    return event


def frame(event: Event) -> str:
    """The wire text of an event built here (or received), for feeding a transport.

    Decoding the text gives the same event back: a received frame is written as
    it arrived (a number beyond double range included), and a message that came
    as a bare value, not in an envelope (a raw server's ``[1, 2, 3]``), stays bare.
    """
    if event.raw:
        return _json.stringify(dict(event.raw), exact=True)
    if isinstance(event, Message):
        bare = event.uid is None and event.alias is None and event.date is None
        if bare and type(event.message) is not dict:  # a dict frame would be an envelope
            return _json.stringify(event.message, exact=True)
        date = 0 if event.date is None else event.date
        built = message(event.message, uid=event.uid, alias=event.alias, date=date)
        return _json.stringify(dict(built.raw), exact=True)
    raise InvalidOptionError(
        f"cannot encode {event!r} without its raw frame; build it with rx_itty.testing"
    )
