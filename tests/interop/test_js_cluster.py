"""The official JS client on one relay node, our reactive client on another: one relay."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from rx_itty import connect
from tests.interop.jspeer import SpawnJs
from tests.interop.test_js_rx_client import exchange_typed_broadcasts
from tests.redis_server import RedisServer
from tests.relay.cluster import Node, running_nodes
from tests.support import first

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def two(redis_server: RedisServer) -> AsyncIterator[list[Node]]:
    async with running_nodes(redis_server.url, 2) as nodes:
        yield nodes


async def test_js_on_one_node_and_rx_on_another_exchange_broadcasts_dms_and_leaves(
    two: list[Node], js: SpawnJs
) -> None:
    name = f"itty:interop:cluster-{secrets.token_hex(4)}"
    async with connect(two[1].url + name, alias="Py", announce=True) as ch:
        peer = await js()
        own = await exchange_typed_broadcasts(ch, peer, two[0].url + name)
        assert own["total"] == 2

        assert ch.uid is not None
        dm = asyncio.ensure_future(first(ch.messages))
        await peer.send("psst rx", ch.uid)
        assert ((await dm).message, (await dm).uid) == ("psst rx", own["uid"])
        ch.send("psst js", to=own["uid"])
        event = await peer.event("message")
        assert (event["message"], event["uid"]) == ("psst js", ch.uid)

        left = asyncio.ensure_future(first(ch.leaves))
        await peer.close()
        leave = await left
        assert (leave.uid, leave.alias, leave.total) == (own["uid"], "Js", 1)
