"""rx_itty.testing.memory: the in-memory relay yields the same events as the real relay."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from reactivex import operators as ops
from reactivex.testing import TestScheduler

from rx_itty import (
    Close,
    ConnectionState,
    Event,
    HandshakeRejected,
    IttySocket,
    Join,
    Leave,
    Message,
    ServerError,
    connect,
    iterate,
)
from rx_itty.relay import RelayThread
from rx_itty.testing import (
    MemoryRelay,
)
from tests.support import scaled


def refused(close: Close) -> bool:
    return close.rejected is not None


def is_closed(state: ConnectionState) -> bool:
    return state is ConnectionState.CLOSED


def sentinel(marker: dict[str, int]) -> Callable[[Message[Any]], bool]:
    return lambda m: m.message == marker


SCENARIO: list[tuple[str, str, dict[str, Any]]] = [
    ("connect", "ann", {"alias": "Ann", "announce": True, "list": True}),
    ("connect", "bo", {"echo": True}),
    ("send", "bo", {"message": {"type": "chat", "text": "hi"}}),
    ("dm", "ann", {"message": "psst", "to": "bo"}),
    ("dm", "ann", {"message": 1, "to": "nobody"}),
    ("connect", "cy", {"alias": "Cy", "announce": True, "send_key": "s"}),
    ("send", "cy", {"message": "cy speaks"}),
    ("close", "bo", {}),
    ("connect", "dee", {"join_key": "wrong", "channel": "vault"}),
    ("connect", "eve", {"join_key": "right", "channel": "vault"}),
    ("send", "ann", {"message": ["bye"]}),
    ("close", "cy", {}),
]


CONTROLS = {"room": {}, "vault": {"join_key": "right"}}  # present first, in both runs


def is_sentinel(event: Event | Close) -> bool:
    return (
        isinstance(event, Message)
        and isinstance(event.message, dict)
        and "sentinel" in event.message
    )


def normalise(event: Event | Close, names: dict[str, str]) -> tuple[Any, ...]:
    """An event without its dates, uids replaced by participant names."""

    def who(uid: str | None) -> str | None:
        return None if uid is None else names.get(uid, "?")

    if isinstance(event, Message):
        return ("message", who(event.uid), event.alias, event.message)
    if isinstance(event, Join):
        users = None if event.users is None else [(who(u.uid), u.alias) for u in event.users]
        return ("join", who(event.uid), event.alias, event.total, event.is_self, users)
    if isinstance(event, Leave):
        return ("leave", who(event.uid), event.alias, event.total)
    if isinstance(event, ServerError):
        return ("error", event.message)
    if isinstance(event, Close):
        return ("refused", event.rejected, event.reason)
    return ("other", repr(event))


class Participants:
    """Runs SCENARIO through ``connect`` on some transport, step by step."""

    def __init__(self, make: Callable[..., IttySocket]) -> None:
        self.make = make
        self.sockets: dict[str, IttySocket] = {}
        self.channels: dict[str, str] = {}
        self.logs: dict[str, list[Event | Close]] = {}
        self.controls = {channel: make(channel, **keys) for channel, keys in CONTROLS.items()}

    def ready(self, ch: IttySocket) -> None:
        """Wait until ``ch`` is open or refused."""
        raise NotImplementedError

    def settle(self) -> None:
        """Wait until everything the last step caused has been delivered."""
        raise NotImplementedError

    def close(self, ch: IttySocket, control: IttySocket) -> None:
        """Close ``ch``; return once the relay has told its channel (``control`` is in it)."""
        raise NotImplementedError

    def run(self) -> dict[str, list[tuple[Any, ...]]]:
        for ch in self.controls.values():
            self.ready(ch)
        for action, name, args in SCENARIO:
            args = dict(args)
            if action == "connect":
                channel = args.pop("channel", "room")
                ch = self.make(channel, reconnect=False, **args)
                log = self.logs[name] = []
                ch.events.subscribe(log.append)
                ch.closes.pipe(ops.filter(refused)).subscribe(log.append)
                self.sockets[name], self.channels[name] = ch, channel
                self.ready(ch)
            elif action in ("send", "dm"):
                to = args.get("to")
                uid = self.sockets[to].uid if to in self.sockets else to
                self.sockets[name].send(args["message"], to=uid)
            elif action == "close":
                self.close(self.sockets[name], self.controls[self.channels[name]])
            self.settle()
        names: dict[str, str] = {ch.uid: name for name, ch in self.controls.items() if ch.uid}
        for name, log in self.logs.items():
            for event in log:
                if isinstance(event, Join) and event.is_self and event.uid:
                    names[event.uid] = name
        for ch in [*self.sockets.values(), *self.controls.values()]:
            ch.dispose()
        return {
            name: [normalise(e, names) for e in log if not is_sentinel(e)]
            for name, log in self.logs.items()
        }


class InMemory(Participants):
    def __init__(self) -> None:
        self.scheduler = TestScheduler()
        memory = MemoryRelay()
        super().__init__(
            lambda channel, **o: connect(channel, transport=memory, scheduler=self.scheduler, **o)
        )

    def ready(self, ch: IttySocket) -> None:
        ch.open()
        self.settle()

    def settle(self) -> None:
        self.scheduler.advance_by(1.0)

    def close(self, ch: IttySocket, control: IttySocket) -> None:
        ch.close()
        self.settle()


class OverSockets(Participants):
    def __init__(self, relay: RelayThread) -> None:
        super().__init__(lambda channel, **o: connect(channel, server=relay.url, **o))
        self.round = 0

    def ready(self, ch: IttySocket) -> None:
        with contextlib.suppress(HandshakeRejected):
            ch.wait_open(scaled(5))

    def close(self, ch: IttySocket, control: IttySocket) -> None:
        # The socket closed is not the relay done with it: that is the leave it
        # sends the others, which every later frame to them follows.
        left = iterate(control.leaves.pipe(ops.first()), timeout=scaled(5))
        closed = iterate(ch.state.pipe(ops.first(is_closed)), timeout=scaled(5))
        ch.close()
        next(closed)
        next(left)

    def settle(self) -> None:
        # A sentinel from each channel's control socket; per-connection order
        # means that once an open socket has it, it has everything sent before.
        self.round += 1
        marker = {"sentinel": self.round}
        waits = []
        for ch in self.sockets.values():
            if ch.current_state is ConnectionState.READY:
                waits.append(ch.messages.pipe(ops.first(sentinel(marker))))
        pending = [iterate(w, timeout=scaled(5)) for w in waits]
        for control in self.controls.values():
            control.send(marker)
        for it in pending:
            next(it)


def test_the_memory_relay_and_the_real_relay_yield_the_same_events(
    itty_relay: RelayThread,
) -> None:
    in_memory = InMemory().run()
    over_sockets = OverSockets(itty_relay).run()
    assert over_sockets == in_memory
    ann = in_memory["ann"]
    assert ann[0] == ("join", "ann", "Ann", 2, True, [("ann", "Ann")])
    assert ("error", 'Recipient "nobody" is not in this channel.') in ann
    assert ("message", "bo", None, {"type": "chat", "text": "hi"}) in ann
    assert in_memory["dee"] == [
        ("refused", 403, "A valid joinKey is required to join this channel.")
    ]
    assert ("error", "A valid sendKey is required to send on this channel.") not in ann
    assert ("message", "ann", "Ann", "psst") in in_memory["bo"]
    assert ("message", "ann", "Ann", "psst") not in in_memory["cy"]
