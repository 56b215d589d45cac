"""rx_itty.operators.presence: the roster from joins and leaves, on marbles and on a socket."""

from __future__ import annotations

from typing import Any

from rx_itty import (
    Uid,
    User,
)
from rx_itty import operators as itty_ops
from rx_itty.presence import Presence
from tests.operators.support import (
    EVENTS,
    World,
    check,
    record,
)


def test_presence_emits_the_roster_after_each_join_and_leave() -> None:
    me = User(Uid("u1"), "ann", is_self=True)
    lookup: dict[str | float, Any] = {
        **EVENTS,
        "P": Presence(me, 1, ()),
        "Q": Presence(me, 2, (User(Uid("u2"), "bob"),)),
        "R": Presence(me, 1, ()),
    }
    check("-J-c-B-E-L-|", itty_ops.presence(), "-P---Q---R-|", lookup)


def test_presence_follows_a_socket_event_stream(world: World) -> None:
    ann = world.socket(announce=True)
    seen = record(ann.events.pipe(itty_ops.presence()))
    bob = world.socket(announce=True, alias="bob").open()
    world.run()
    bob.dispose()
    world.run()
    assert [(p.total, [u.alias for u in p.users]) for p in seen] == [(1, []), (2, ["bob"]), (1, [])]
    assert seen[-1] == ann.current_presence
