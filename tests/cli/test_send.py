"""``rx-itty send``, run as a real subprocess against a real relay."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.asyncio.server import ServerConnection, serve

from rx_itty.relay import Relay
from tests.cli.support import run
from tests.support import Peer


async def received(peer: Peer) -> dict[str, object]:
    """The next message envelope ``peer`` receives, skipping joins and leaves."""
    while True:
        frame = await peer.recv(within=10)
        if "type" not in frame:
            return frame


@pytest.mark.parametrize(
    ("args", "payload"),
    [
        (['{"type": "chat", "text": "hi"}'], {"type": "chat", "text": "hi"}),
        (["42"], 42),
        (["hello world"], "hello world"),
        (["NaN"], "NaN"),
        (["--raw-string", "42"], "42"),
        (['"quoted"'], "quoted"),
    ],
)
@pytest.mark.asyncio
async def test_send_delivers_json_or_else_a_string_and_exits_0(
    relay: Relay, args: list[str], payload: object
) -> None:
    async with await Peer.connect(relay.url + "room") as peer:
        await peer.joined()
        code, out, err = await run(["send", "room", "--server", relay.url, "--as", "cli", *args])
        assert (code, out) == (0, ""), err
        frame = await received(peer)
        assert (frame["message"], frame["alias"]) == (payload, "cli")
    assert err.splitlines() == [
        f"rx-itty: connecting to {relay.url}room",
        f"rx-itty: sent to {relay.url}room (1 other connection here)",
    ]


@pytest.mark.asyncio
async def test_send_to_a_uid_delivers_a_direct_message_to_it_alone(relay: Relay) -> None:
    async with (
        await Peer.connect(relay.url + "room") as target,
        await Peer.connect(relay.url + "room") as bystander,
    ):
        uid = (await target.joined())["uid"]
        await bystander.joined()
        code, _, err = await run(["send", "room", "psst", "--to", uid, "--server", relay.url])
        assert code == 0, err
        assert (await received(target))["message"] == "psst"
        assert err.splitlines()[-1] == f"rx-itty: sent to {uid} in {relay.url}room"
        await bystander.send("after")  # the bystander's next message is the first it sees
        assert (await received(target))["message"] == "after"


@pytest.mark.asyncio
async def test_send_to_an_unknown_uid_exits_1_with_the_relays_error(relay: Relay) -> None:
    code, out, err = await run(["send", "room", "x", "--to", "nobody", "--server", relay.url])
    assert (code, out) == (1, "")
    assert err.splitlines()[-1] == (
        'rx-itty: error: the relay refused the message: Recipient "nobody" is not in this channel.'
    )


@pytest.mark.asyncio
async def test_send_without_the_send_key_exits_1_and_with_it_delivers(relay: Relay) -> None:
    async with await Peer.connect(relay.url + "feed?sendKey=S") as owner:  # claims the keys
        await owner.joined()
        code, _, err = await run(["send", "feed", "x", "--server", relay.url])
        assert code == 1
        assert err.splitlines()[-1] == (
            "rx-itty: error: the relay refused the message: "
            "A valid sendKey is required to send on this channel."
        )
        code, _, err = await run(["send", "feed", "y", "--send-key", "S", "--server", relay.url])
        assert code == 0, err
        assert (await received(owner))["message"] == "y"


@pytest.mark.asyncio
async def test_send_to_a_join_keyed_channel_needs_the_key(relay: Relay) -> None:
    async with await Peer.connect(relay.url + "vault?joinKey=J") as owner:
        await owner.joined()
        code, _, err = await run(["send", "vault", "x", "--server", relay.url])
        assert code == 1
        assert len(err.splitlines()) == 2  # connecting, then the one-line error
        assert "HTTP 403" in err
        assert "--join-key" in err
        code, _, err = await run(["send", "vault", "y", "--join-key", "J", "--server", relay.url])
        assert code == 0, err
        assert (await received(owner))["message"] == "y"


@pytest.mark.asyncio
async def test_send_to_a_relay_that_never_confirms_says_so_after_the_timeout() -> None:
    # A relay that greets but never delivers a direct message back to its sender.
    got: asyncio.Queue[str | bytes] = asyncio.Queue()

    async def mute(conn: ServerConnection) -> None:
        await conn.send(json.dumps({"type": "join", "self": True, "uid": "me", "total": 1}))
        async for frame in conn:
            got.put_nowait(frame)

    async with serve(mute, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        url = f"ws://127.0.0.1:{port}/c/"
        code, _, err = await run(["send", "room", "hi", "--timeout", "1", "--server", url])
    assert code == 0
    assert err.splitlines()[-1] == (
        f"rx-itty: sent to {url}room, but the relay did not confirm it within 1 s"
    )
    assert got.get_nowait() == '"hi"'


@pytest.mark.asyncio
async def test_send_to_an_unreachable_server_exits_1() -> None:
    code, _, err = await run(["send", "room", "x", "--server", "ws://127.0.0.1:9/c/"])
    assert code == 1
    assert err.splitlines()[-1].startswith(
        "rx-itty: error: cannot connect to ws://127.0.0.1:9/c/room"
    )
