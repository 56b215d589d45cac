"""rx_itty.testing.builders: built events equal what the wire delivers."""

from __future__ import annotations

from rx_itty import (
    Join,
    Leave,
    ServerError,
    Uid,
    User,
    decode_frame,
)
from rx_itty.testing import (
    error,
    frame,
    join,
    leave,
    message,
)


def test_builders_make_exactly_what_the_wire_delivers() -> None:
    built = message({"type": "chat", "text": "hi"}, uid="ann", alias="Ann", date=5)
    assert built == decode_frame(frame(built))
    assert (built.type, built["text"], built.alias) == ("chat", "hi", "Ann")
    me = User(Uid("u1"), is_self=True)
    assert join("u1", is_self=True, users=[me]) == Join(
        total=1, uid=Uid("u1"), is_self=True, users=(me,), date=0
    )
    assert leave("u2", total=3) == Leave(total=3, uid=Uid("u2"), date=0)
    assert error("nope") == ServerError("nope", 0)


def test_a_pushed_message_has_no_sender() -> None:
    pushed = message(1, uid=None)
    assert (pushed.uid, pushed.message) == (None, 1)
