"""The official JS client (npm ``itty-sockets`` 0.6.1) against our relay, over real sockets.

Each test runs a real :class:`~rx_itty.relay.Relay` on 127.0.0.1 and drives
``tests/interop/js/peer.mjs`` (the itty client, scripted over stdin/stdout with
JSON lines) alongside raw ``websockets`` peers on the Python side. Every wait is
an event wait with a timeout scaled by ``RX_ITTY_TIMEOUT_FACTOR``.

"Nothing else arrived" is proved with a sentinel broadcast: per-connection order
is guaranteed (PROTOCOL §6), so if a peer's next frame is the sentinel, nothing
was delivered to it before.

Needs ``node`` on PATH and ``npm ci --prefix tests/interop/js``; without them
the tests fail (they never skip).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import pytest
import pytest_asyncio
from websockets.asyncio.client import ClientConnection, connect

from rx_itty.events import BadFrame, Event, Join, Leave, Message, ServerError, Uid
from rx_itty.relay import Relay
from rx_itty.wire import decode_frame, encode_frame
from tests.interop.jspeer import EVENT_TIMEOUT, SpawnJs
from tests.support import scaled

pytestmark = pytest.mark.asyncio

E = TypeVar("E", Join, Leave, ServerError, Message[Any])


class PyPeer:
    """A raw ``websockets`` peer decoding frames with :func:`rx_itty.wire.decode_frame`."""

    def __init__(self, conn: ClientConnection, uid: Uid) -> None:
        self.conn = conn
        self.uid = uid

    async def recv(self, within: float = EVENT_TIMEOUT) -> Event:
        try:
            data = await asyncio.wait_for(self.conn.recv(), scaled(within))
        except TimeoutError:
            pytest.fail(f"Python peer {self.uid}: no frame within {scaled(within)}s")
        event = decode_frame(data)
        assert not isinstance(event, BadFrame), f"relay sent an undecodable frame: {event}"
        return event

    async def expect(self, kind: type[E]) -> E:
        """The next event, which must be a ``kind``."""
        event = await self.recv()
        assert isinstance(event, kind), f"expected {kind.__name__}, got {event!r}"
        return event

    async def send(self, message: Any, to: str | None = None) -> None:
        await self.conn.send(encode_frame(message, to=to))

    async def sentinel(self, *receivers: PyPeer) -> dict[str, str]:
        """Broadcast a sentinel; each receiver's next frame must be it (nothing came before)."""
        marker = {"sentinel": secrets.token_hex(4)}
        await self.send(marker)
        for peer in receivers:
            event = await peer.recv()
            assert isinstance(event, Message), f"expected the sentinel, got {event!r}"
            assert event.message == marker, f"expected the sentinel, got {event!r}"
        return marker


ConnectPy = Callable[[str], Awaitable[PyPeer]]


@pytest_asyncio.fixture
async def py(relay: Relay) -> AsyncIterator[ConnectPy]:
    """Connects Python peers (own join consumed); all are closed at test end."""
    conns: list[ClientConnection] = []

    async def open_peer(url: str) -> PyPeer:
        conn = await connect(url, open_timeout=scaled(10))
        conns.append(conn)
        join = decode_frame(await asyncio.wait_for(conn.recv(), scaled(EVENT_TIMEOUT)))
        assert isinstance(join, Join), f"first frame is not a join: {join!r}"
        assert join.is_self, f"first join is not our own: {join!r}"
        assert join.uid is not None
        return PyPeer(conn, join.uid)

    try:
        yield open_peer
    finally:
        await asyncio.gather(*(conn.close() for conn in conns))


# -- join ----------------------------------------------------------------------


async def test_js_client_opens_then_gets_its_own_join_with_self_uid_and_total(
    js: SpawnJs, url: str
) -> None:
    peer = await js()
    join = await peer.joined(url)
    assert peer.fired()[-2:] == ["open", "join"]
    assert join["type"] == "join"
    assert join["self"] is True
    assert isinstance(join["uid"], str)
    assert join["uid"]
    assert join["total"] == 1
    assert isinstance(join["date"], int)
    assert "alias" not in join


async def test_python_sees_an_announcing_js_clients_join_with_its_uid_and_alias(
    js: SpawnJs, py: ConnectPy, url: str
) -> None:
    watcher = await py(url)
    peer = await js()
    # URLSearchParams form-encodes this as "JS+%C3%9Cn%C3%AF%2B1+%7E*"; the relay must decode it.
    alias = "JS Ünï+1 ~*"
    own = await peer.joined(url, {"alias": alias, "announce": True})
    assert own["alias"] == alias
    assert own["total"] == 2

    join = await watcher.expect(Join)
    assert join.uid == own["uid"]
    assert join.alias == alias
    assert join.total == 2
    assert not join.is_self
    assert "self" not in join.raw


async def test_an_unannounced_js_client_is_anonymous_in_join_and_leave_but_not_in_messages(
    js: SpawnJs, py: ConnectPy, url: str
) -> None:
    watcher = await py(url)
    peer = await js()
    own = await peer.joined(url, {"as": "quiet"})

    join = await watcher.expect(Join)
    assert (join.uid, join.alias, join.total) == (None, None, 2)
    assert "uid" not in join.raw

    await peer.send("still signed")
    message = await watcher.expect(Message)
    assert (message.message, message.uid, message.alias) == ("still signed", own["uid"], "quiet")

    await peer.close()
    await peer.next("close")
    leave = await watcher.expect(Leave)
    assert (leave.uid, leave.alias, leave.total) == (None, None, 1)
    assert "uid" not in leave.raw


# -- broadcast -----------------------------------------------------------------


async def test_broadcasts_flow_from_js_to_python_and_from_python_to_js(
    js: SpawnJs, py: ConnectPy, url: str
) -> None:
    python = await py(url + "?as=py")
    peer = await js()
    own = await peer.joined(url, {"as": "js"})
    await python.expect(Join)

    await peer.send({"text": "from js", "n": [1, 2]})
    message = await python.expect(Message)
    assert message.message == {"text": "from js", "n": [1, 2]}
    assert (message.uid, message.alias, message["text"]) == (own["uid"], "js", "from js")
    assert isinstance(message.date, int)

    await python.send({"text": "from py"})
    event = await peer.event("message")
    assert event["message"] == {"text": "from py"}
    assert event["text"] == "from py"  # 0.6.1 spreads object payloads into the event
    assert (event["uid"], event["alias"]) == (python.uid, "py")
    assert isinstance(event["date"], int)
    assert "type" not in event

    await python.send("plain")
    assert (await peer.event("message"))["message"] == "plain"


async def test_a_typed_payload_fires_the_js_chat_listener_and_then_its_message_listener(
    js: SpawnJs, py: ConnectPy, url: str
) -> None:
    python = await py(url)
    peer = await js()
    await peer.connect(url, {}, "chat")
    await peer.event("join")
    await python.expect(Join)

    payload = {"type": "chat", "user": "py", "text": "hello js"}
    await python.send(payload)
    chat = await peer.next("chat")
    message = await peer.next("message")
    assert peer.seen[-2:] == [chat, message], "chat and message must fire back to back"
    for line in (chat, message):
        event = line["event"]
        assert event["message"] == payload
        assert (event["type"], event["text"], event["uid"]) == ("chat", "hello js", python.uid)


async def test_echo_true_sends_a_js_broadcast_back_to_the_js_client_too(
    js: SpawnJs, py: ConnectPy, url: str
) -> None:
    python = await py(url)
    peer = await js()
    own = await peer.joined(url, {"echo": True})
    await python.expect(Join)

    await peer.send({"ping": 1})
    echoed = await peer.event("message")
    assert (echoed["message"], echoed["uid"]) == ({"ping": 1}, own["uid"])
    relayed = await python.expect(Message)
    assert (relayed.message, relayed.uid, relayed.date) == ({"ping": 1}, own["uid"], echoed["date"])


# -- direct messages -----------------------------------------------------------


async def test_js_send_with_a_uid_delivers_a_dm_to_that_python_peer_only(
    js: SpawnJs, py: ConnectPy, url: str
) -> None:
    recipient = await py(url)
    bystander = await py(url)
    await recipient.expect(Join)
    peer = await js()
    own = await peer.joined(url, {"as": "js"})
    await recipient.expect(Join)
    await bystander.expect(Join)

    await peer.send({"secret": "for you"}, to=recipient.uid)
    dm = await recipient.expect(Message)
    assert (dm.message, dm.uid, dm.alias) == ({"secret": "for you"}, own["uid"], "js")
    await recipient.sentinel(bystander)


async def test_a_python_dm_reaches_the_js_client_and_not_a_python_bystander(
    js: SpawnJs, py: ConnectPy, url: str
) -> None:
    sender = await py(url + "?as=py")
    bystander = await py(url)
    await sender.expect(Join)
    peer = await js()
    own = await peer.joined(url)
    await sender.expect(Join)
    await bystander.expect(Join)

    frame = encode_frame("psst", to=own["uid"])
    assert frame == f"\x1f{own['uid']}\x1f" + '"psst"'
    await sender.conn.send(frame)
    dm = await peer.event("message")
    assert (dm["message"], dm["uid"], dm["alias"]) == ("psst", sender.uid, "py")

    marker = await sender.sentinel(bystander)
    assert (await peer.event("message"))["message"] == marker, "the DM arrived twice"


async def test_a_js_dm_to_an_unknown_uid_fires_error_naming_that_uid(js: SpawnJs, url: str) -> None:
    peer = await js()
    await peer.joined(url)
    ghost = f"ghost-{secrets.token_hex(3)}"

    await peer.send("anyone there?", to=ghost)
    error = await peer.event("error")
    assert error["type"] == "error"
    assert ghost in error["message"]
    assert isinstance(error["date"], int)
    assert "uid" not in error


# -- push, leave, keys -----------------------------------------------------------


async def test_js_push_before_open_connects_sends_and_closes_so_python_sees_message_then_leave(
    js: SpawnJs, py: ConnectPy, url: str
) -> None:
    python = await py(url)
    peer = await js()
    connect_command = {"op": "connect", "url": url, "options": {"as": "pusher", "announce": True}}
    # One JS tick: on() creates the socket (CONNECTING), so push() queues and arms the close.
    await peer.command(connect_command, {"op": "push", "message": {"text": "bye"}})
    await peer.next("open")
    await peer.next("close")

    join = await python.expect(Join)
    assert join.uid is not None
    assert (join.alias, join.total) == ("pusher", 2)
    message = await python.expect(Message)
    assert (message.message, message.uid, message.alias) == ({"text": "bye"}, join.uid, "pusher")
    leave = await python.expect(Leave)
    assert (leave.uid, leave.alias, leave.total) == (join.uid, "pusher", 1)


async def test_python_sees_an_announced_js_clients_leave_with_uid_alias_and_total(
    js: SpawnJs, py: ConnectPy, url: str
) -> None:
    python = await py(url)
    peer = await js()
    own = await peer.joined(url, {"as": "leaver", "announce": True})
    await python.expect(Join)

    await peer.close()
    await peer.next("close")
    leave = await python.expect(Leave)
    assert (leave.uid, leave.alias, leave.total) == (own["uid"], "leaver", 1)
    assert isinstance(leave.date, int)


async def test_js_client_with_a_wrong_join_key_closes_without_ever_opening(
    js: SpawnJs, py: ConnectPy, url: str
) -> None:
    owner = await py(url + "?joinKey=right-key")  # first joiner sets the ephemeral key
    refused = await js()
    await refused.connect(url, {"joinKey": "wrong-key"})
    await refused.next("close")
    assert "open" not in refused.fired()
    assert "join" not in refused.fired()

    admitted = await js()
    own = await admitted.joined(url, {"joinKey": "right-key"})
    assert own["total"] == 2
    join = await owner.expect(Join)  # the refused client never joined: this is the next frame
    assert join.total == 2


async def test_js_client_without_the_channels_send_key_gets_an_error_and_is_not_relayed(
    js: SpawnJs, py: ConnectPy, url: str
) -> None:
    owner = await py(url + "?sendKey=owner-key&echo=true")  # first joiner sets the send key
    peer = await js()
    await peer.joined(url, {"sendKey": "wrong-key"})
    await owner.expect(Join)

    await peer.send("let me talk")
    error = await peer.event("error")
    assert error["type"] == "error"
    assert "message" not in peer.fired()
    await owner.sentinel(owner)  # the relay dropped the frame before answering the error
