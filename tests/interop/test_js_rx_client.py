"""Our reactive client and the official JS client talking through our relay."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from rx_itty import IttySocket, Message, connect
from tests.interop.jspeer import JsPeer, SpawnJs
from tests.support import first, scaled

pytestmark = pytest.mark.asyncio


async def test_js_and_rx_clients_exchange_typed_broadcasts_both_ways(js: SpawnJs, url: str) -> None:
    async with connect(url, alias="Py", announce=True) as ch:
        await exchange_typed_broadcasts(ch, await js(), url)


async def exchange_typed_broadcasts(ch: IttySocket, peer: JsPeer, url: str) -> dict[str, Any]:
    """The JS peer joins at ``url`` (announced, as "Js"), sees ``ch`` ("Py"), and they chat.

    Returns the JS peer's own join.
    """
    chats = ch.on("chat").aiter()
    own = await peer.joined(url, {"as": "Js", "announce": True})
    seen = await first(ch.presence, lambda p: p.total == 2)
    assert [(u.uid, u.alias) for u in seen.users] == [(own["uid"], "Js")]

    await peer.send({"type": "chat", "text": "from js"})
    message = await asyncio.wait_for(chats.__anext__(), scaled(5))
    assert (message["text"], message.uid, message.alias) == ("from js", own["uid"], "Js")
    await chats.aclose()

    ch.send({"type": "chat", "text": "from rx"})
    event = await peer.event("message")
    assert (event["text"], event["uid"], event["alias"]) == ("from rx", ch.uid, "Py")
    assert event["message"] == {"type": "chat", "text": "from rx"}
    return own


async def test_direct_messages_flow_between_js_and_rx_clients(js: SpawnJs, url: str) -> None:
    async with (
        connect(url) as ch,
        connect(url) as bystander,
    ):
        peer = await js()
        own = await peer.joined(url)
        bystander_heard: list[Message[Any]] = []
        bystander.messages.subscribe(bystander_heard.append)

        assert ch.uid is not None
        await peer.send("psst rx", ch.uid)
        dm = await first(ch.messages)
        assert (dm.message, dm.uid) == ("psst rx", own["uid"])

        ch.send("psst js", to=own["uid"])
        event = await peer.event("message")
        assert (event["message"], event["uid"]) == ("psst js", ch.uid)

        # A broadcast after the DMs: the bystander's first message must be it.
        ch.send("for everyone")
        everyone = await first(bystander.messages)
        assert everyone.message == "for everyone"
        assert [m.message for m in bystander_heard] == ["for everyone"]


async def test_an_rx_push_reaches_js_and_then_js_sees_the_leave(js: SpawnJs, url: str) -> None:
    peer = await js()
    await peer.joined(url)
    ch = connect(url, announce=True, alias="Pusher")
    ch.push({"type": "bye"})
    join = await peer.event("join")
    message = await peer.event("message")
    assert message["message"] == {"type": "bye"}
    leave = await peer.event("leave")
    assert message["uid"] == join["uid"] == leave["uid"]
    assert leave["alias"] == "Pusher"
    assert leave["total"] == 1
    ch.dispose()
