"""The engine seam: choosing an engine, the frames every engine writes, and what
every engine's links do for the switchboard (on the engine under test)."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.frames import Frame, Opcode

from rx_itty.relay import Relay
from rx_itty.relay.engine import CLOSE_TIMEOUT, Link, text_frame
from tests.rawws import (
    CLOSE,
    client_frame,
    close_frame,
    frames_until_the_end,
    join_raw,
    next_text,
)
from tests.support import Peer, run_python, scaled


@pytest.mark.parametrize("size", [0, 125, 126, 65_535, 65_536])
def test_a_prepared_frame_is_what_websockets_would_send(size: int) -> None:
    text = "é" * (size // 2) + "x" * (size % 2)  # UTF-8: the length counts bytes
    assert text_frame(text) == Frame(Opcode.TEXT, text.encode()).serialize(mask=False)


def test_the_picows_engine_without_picows_says_which_extra_it_needs() -> None:
    done = run_python(
        "import sys\n"
        "sys.modules['picows'] = None  # as if the package were not installed\n"
        "from rx_itty.relay import Relay\n"
        "from rx_itty.exceptions import MissingDependency\n"
        "try:\n"
        "    Relay(engine='picows')\n"
        "except MissingDependency as exc:\n"
        "    print(exc)\n"
        "print('default', Relay().config.engine)\n"
    )
    assert done.stdout.splitlines() == [
        "the picows relay engine needs the picows package: pip install 'rx_itty[fast]'",
        "default websockets",
    ]


# -- every engine's links, on the engine under test ($RX_ITTY_TEST_ENGINE) --------


async def member(
    relay: Relay, rcvbuf: int | None = None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, Link]:
    """A raw member joined to channel ``engine``: its socket, and the engine's link for it."""
    reader, writer, join = await join_raw(relay.port, "/c/engine?", rcvbuf)
    (link,) = [
        link
        for link in relay._engine.links()
        if link.member is not None and link.member.uid == join["uid"]
    ]
    return reader, writer, link


@pytest.mark.asyncio
async def test_a_closed_link_gets_what_was_written_then_one_close_frame_then_nothing(
    relay: Relay,
) -> None:
    reader, writer, link = await member(relay)
    link.write(text_frame('{"message":"before"}'))
    relay.switchboard.close(link, 4000, "bye")
    relay.switchboard.close(link, 4001, "again")  # the close frame was sent already
    link.write(text_frame('{"message":"after"}'))  # closing: not written
    assert (await next_text(reader))["message"] == "before"
    assert await close_frame(reader) == (4000, b"bye")
    writer.write(client_frame((4000).to_bytes(2, "big"), opcode=CLOSE))
    assert await frames_until_the_end(reader) == []
    writer.close()


@pytest.mark.asyncio
async def test_a_peer_that_never_answers_the_close_is_cut_off_after_the_grace(
    relay: Relay,
) -> None:
    reader, writer, link = await member(relay)
    relay.switchboard.close(link, 1000, "bye", within=scaled(0.2))
    assert await close_frame(reader) == (1000, b"bye")
    assert await frames_until_the_end(reader) == []  # cut: no answer was awaited longer
    writer.close()


@pytest.mark.asyncio
async def test_the_grace_of_a_close_is_close_timeout_by_default(relay: Relay) -> None:
    reader, writer, link = await member(relay)
    relay.switchboard.close(link, 1000, "bye")
    assert link.cut is not None
    left = link.cut.when() - asyncio.get_running_loop().time()
    assert CLOSE_TIMEOUT - 1 < left <= CLOSE_TIMEOUT
    assert await close_frame(reader) == (1000, b"bye")
    writer.write(client_frame((1000).to_bytes(2, "big"), opcode=CLOSE))
    assert await frames_until_the_end(reader) == []  # answered: closed without waiting
    writer.close()


@pytest.mark.asyncio
async def test_a_link_paused_for_reading_is_read_again_once_resumed(relay: Relay) -> None:
    async with await Peer.connect(relay.url + "engine?echo=true") as watcher:
        await watcher.joined()
        reader, writer, link = await member(relay)
        assert (await watcher.recv())["type"] == "join"
        link.pause_reading()
        writer.write(client_frame(b'"held back"'))
        for n in range(3):  # the relay reads the others meanwhile, and nothing of this one
            await watcher.send(n)
            assert (await watcher.recv())["message"] == n
            assert (await next_text(reader))["message"] == n
        link.resume_reading()
        assert (await watcher.recv())["message"] == "held back"
        writer.close()


@pytest.mark.asyncio
async def test_a_backed_up_link_is_watched_by_the_backlog_until_it_drains(relay: Relay) -> None:
    reader, writer, link = await member(relay, rcvbuf=4096)
    transport = writer.transport
    assert isinstance(transport, asyncio.Transport)
    transport.pause_reading()
    frame = text_frame(json.dumps({"message": "x" * 10_000}))
    sent = 0
    while not relay.switchboard.backlog:  # past the write buffer's 32 KiB mark
        link.write(frame)
        sent += 1
        assert sent < 1000, "the link never told the backlog it was behind"
    assert link.buffered() > 32 * 1024
    transport.resume_reading()
    for _ in range(sent):  # read in this loop's turns: the relay's writes went out first
        assert len((await next_text(reader))["message"]) == 10_000  # type: ignore[arg-type]
    assert link.buffered() == 0
    assert not relay.switchboard.backlog
    writer.close()
