"""Property tests of the relay core: any sequence of joins, frames and departures.

A model of who is where is kept beside the core; after every step the core's
output must agree with it: no exception escapes, every frame is valid JSON that
the client decodes, DMs reach only their uid, errors only their sender, and
every ``total`` is the channel's size.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from rx_itty.events import BadFrame, Join, Leave, Message, ServerError
from rx_itty.relay.config import Limits, RelayConfig
from rx_itty.relay.core import Delivery, Member, Refusal, RelayCore
from rx_itty.wire import decode_frame

CHANNELS = ("a", "b")
LIMITS = Limits(
    max_frame_bytes=2000,
    messages_per_window=6,
    window_seconds=1.0,
    warnings=2,
    ban_seconds=5.0,
    exempt_loopback=False,
)

payloads = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=10,
)
frames = st.one_of(
    payloads.map(json.dumps),
    st.tuples(st.integers(0, 9), payloads).map(lambda t: ("dm", t[0], json.dumps(t[1]))),
    st.sampled_from(["undefined", "{", "\x1fno-end", "\x1f\x1f1", "[" * 600 + "]" * 600]),
    st.just("x" * 2500),  # oversize
    st.binary(max_size=8),
    st.text(max_size=30),
)
steps = st.one_of(
    st.tuples(
        st.just("join"), st.sampled_from(CHANNELS), st.booleans(), st.booleans(), st.integers(0, 3)
    ),
    st.tuples(st.just("leave"), st.integers(0, 20)),
    st.tuples(st.just("send"), st.integers(0, 20), frames),
    st.tuples(st.just("wait"), st.floats(0.0, 3.0)),
)


@dataclass
class World:
    core: RelayCore[str] = field(default_factory=lambda: RelayCore(RelayConfig(limits=LIMITS)))
    members: dict[str, Member[str]] = field(default_factory=dict)  # conn -> member
    now: float = 1.0
    conns: itertools.count[int] = field(default_factory=itertools.count)

    def in_channel(self, channel: str) -> set[str]:
        return {conn for conn, m in self.members.items() if m.channel.name == channel}

    def pick(self, index: int) -> tuple[str, Member[str]] | None:
        if not self.members:
            return None
        conn = sorted(self.members)[index % len(self.members)]
        return conn, self.members[conn]


def decoded(delivery: Delivery[str]) -> Any:
    event = decode_frame(delivery.frame)
    assert not isinstance(event, BadFrame), delivery.frame
    assert len(set(delivery.to)) == len(delivery.to), "a frame went twice to one connection"
    return event


def check_join_or_leave(world: World, deliveries: list[Delivery[str]], channel: str) -> None:
    size = len(world.in_channel(channel))
    for delivery in deliveries:
        event = decoded(delivery)
        assert isinstance(event, Join | Leave)
        assert event.total == size
        assert set(delivery.to) <= world.in_channel(channel)


def join(world: World, channel: str, echo: bool, announce: bool, ip: int) -> None:
    query = f"?as=u{ip}" + ("&echo=true" if echo else "") + ("&announce=true" if announce else "")
    verdict = world.core.admit(f"/c/{channel}{query}", f"203.0.113.{ip}", world.now)
    if isinstance(verdict, Refusal):
        assert verdict.status == 429  # only a ban or the connection rate refuses here
        return
    conn = f"c{next(world.conns)}"
    joined = world.core.join(verdict, conn, world.now)
    assert not isinstance(joined, Refusal)
    member, deliveries = joined
    world.members[conn] = member
    assert list(deliveries[0].to) == [conn]  # own join first
    check_join_or_leave(world, deliveries, channel)


def leave(world: World, conn: str) -> None:
    member = world.members.pop(conn)
    check_join_or_leave(world, world.core.leave(member, world.now), member.channel.name)


def send(world: World, conn: str, member: Member[str], frame: Any) -> None:
    channel = member.channel.name
    if isinstance(frame, tuple):  # a DM to someone, maybe in another channel, maybe gone
        target = world.pick(frame[1])
        uid = target[1].uid if target else "nobody"
        frame = f"\x1f{uid}\x1f{frame[2]}"
    outcome = world.core.receive(member, frame, world.now)
    for delivery in outcome.deliveries:
        event = decoded(delivery)
        if isinstance(event, ServerError):
            assert list(delivery.to) == [conn]
            continue
        assert isinstance(event, Message)
        assert event.uid == member.uid
        assert set(delivery.to) <= world.in_channel(channel)
        if isinstance(frame, str) and frame.startswith("\x1f"):
            recipient = frame[1:].split("\x1f", 1)[0]
            assert [world.members[c].uid for c in delivery.to] == [recipient]
        else:
            expected = world.in_channel(channel) - ({conn} if not member.echo else set())
            assert set(delivery.to) == expected
    if outcome.close is not None:
        assert outcome.close[0] == 1008
        leave(world, conn)


@settings(max_examples=150, deadline=None)
@given(st.lists(steps, max_size=60))
def test_any_sequence_of_steps_keeps_the_relay_consistent(script: list[tuple[Any, ...]]) -> None:
    world = World()
    for step in script:
        if step[0] == "join":
            join(world, *step[1:])
        elif step[0] == "wait":
            world.now += step[1]
        elif (picked := world.pick(step[1])) is not None:
            conn, member = picked
            if step[0] == "leave":
                leave(world, conn)
            else:
                send(world, conn, member, step[2])
        for channel in CHANNELS:
            assert world.core.member_count(channel) == len(world.in_channel(channel))
        assert set(world.core.channel_names()) == {m.channel.name for m in world.members.values()}
