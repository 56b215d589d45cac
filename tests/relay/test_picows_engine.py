"""What the ``picows`` engine does itself: its own handshake (deadline, shutdown) and the
WebSocket duties ``picows`` leaves to its user, done as the ``websockets`` engine does them.

The parity tests run on both engines: the ``websockets`` engine's answer is the
one the ``picows`` engine must give. What every engine does through the
switchboard is in ``test_engine.py``, ``test_switchboard.py`` and ``test_server.py``.
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from rx_itty.relay import Limits, Relay, RelayConfig
from rx_itty.relay.engine import MAX_FRAGMENTS, TOO_MANY_FRAGMENTS
from tests.rawws import (
    BINARY,
    CLOSE,
    PING,
    PONG,
    TEXT,
    client_frame,
    close_frame,
    join_raw,
    next_text,
    open_socket,
    read_frame,
    read_head,
    upgrade_request,
)
from tests.support import scaled

pytest.importorskip("picows", reason="the fast extra (picows) is not installed")

from rx_itty.relay import picows_engine  # (needs picows)

pytestmark = pytest.mark.asyncio

BOTH = pytest.mark.parametrize("engine", ["websockets", "picows"])


def fragment(payload: bytes, opcode: int, fin: bool) -> bytes:
    """A masked client frame, final or not (a zero mask: the payload goes as is)."""
    size = len(payload)
    if size < 126:
        length = bytes((0x80 | size,))
    elif size < 65536:
        length = bytes((0x80 | 126,)) + size.to_bytes(2, "big")
    else:
        length = bytes((0x80 | 127,)) + size.to_bytes(8, "big")
    return bytes(((0x80 if fin else 0) | opcode,)) + length + b"\0\0\0\0" + payload


async def the_end(reader: asyncio.StreamReader) -> bool:
    """True once the relay has ended the TCP connection (whatever it sent before)."""
    async with asyncio.timeout(scaled(10)):
        with contextlib.suppress(ConnectionError):
            while await reader.read(1 << 16):
                pass
    return True


# -- its own handshake ------------------------------------------------------------


async def test_a_handshake_not_done_in_time_is_cut_off_and_an_upgraded_one_is_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(picows_engine, "OPEN_TIMEOUT", scaled(0.5))
    async with Relay(engine="picows") as relay:
        member_reader, member, _ = await join_raw(relay.port, "/c/slow?echo=true")
        reader, writer = await open_socket(relay.port)
        writer.write(upgrade_request("/c/slow?")[:30])  # and the rest never comes
        assert await read_head(reader) == b""  # cut, unanswered
        # The member's own deadline, set earlier, passed too: it was called off at the upgrade.
        member.write(client_frame(b'"still here"'))
        assert (await next_text(member_reader))["message"] == "still here"
        member.close()
        writer.close()


async def test_stopping_cuts_off_handshakes_under_way() -> None:
    relay = Relay(engine="picows")
    await relay.start()
    reader, writer = await open_socket(relay.port)
    writer.write(upgrade_request("/c/late?")[:30])
    _, member, _ = await join_raw(relay.port, "/c/late?")  # so the first one was accepted
    member.close()
    async with asyncio.timeout(scaled(5)):
        await relay.aclose()  # not held up by the half-sent handshake
    assert await the_end(reader)
    writer.close()


@BOTH
async def test_what_is_not_http_is_closed_unanswered(engine: str) -> None:
    async with Relay(engine=engine) as relay:
        reader, writer = await open_socket(relay.port)
        writer.write(b"\x16\x03\x01\x02\x00 not http\r\n\r\n")
        assert await read_head(reader) == b""
        writer.close()


@BOTH
async def test_a_handshake_half_closed_by_its_client_is_closed(engine: str) -> None:
    async with Relay(engine=engine) as relay:
        reader, writer = await open_socket(relay.port)
        writer.write(upgrade_request("/c/r?")[:30])
        writer.write_eof()
        assert await read_head(reader) == b""
        writer.close()


# -- what picows leaves to its user: as the websockets engine does it ------------------


@BOTH
async def test_a_ping_is_answered_with_its_payload(engine: str) -> None:
    async with Relay(engine=engine) as relay:
        reader, writer, _ = await join_raw(relay.port, "/c/r?")
        writer.write(client_frame(b"are you there", opcode=PING))
        assert await read_frame(reader) == (PONG, b"are you there")
        writer.close()


@BOTH
async def test_the_peers_close_is_echoed_with_its_code_and_reason(engine: str) -> None:
    async with Relay(engine=engine) as relay:
        reader, writer, _ = await join_raw(relay.port, "/c/r?")
        writer.write(client_frame((4321).to_bytes(2, "big") + b"going", opcode=CLOSE))
        assert await close_frame(reader) == (4321, b"going")
        assert await the_end(reader)
        writer.close()


@BOTH
async def test_a_message_in_as_many_fragments_as_allowed_is_relayed_whole(engine: str) -> None:
    async with Relay(engine=engine) as relay:
        reader, writer, _ = await join_raw(relay.port, "/c/r?echo=true")
        middle = [fragment(b"x", 0, fin=False)] * (MAX_FRAGMENTS - 2)
        frames = [fragment(b'"', TEXT, fin=False), *middle, fragment(b'"', 0, fin=True)]
        writer.write(b"".join(frames))
        assert (await next_text(reader))["message"] == "x" * (MAX_FRAGMENTS - 2)
        writer.close()


@BOTH
async def test_a_message_in_more_fragments_than_allowed_closes_its_sender(engine: str) -> None:
    async with Relay(engine=engine) as relay:
        reader, writer, _ = await join_raw(relay.port, "/c/r?echo=true")
        # Empty ones cost the sender 6 bytes each: without a cap, a relay gathers forever.
        empty = [fragment(b"", 0, fin=False)] * MAX_FRAGMENTS
        writer.write(b"".join([fragment(b'"', TEXT, fin=False), *empty]))
        assert await close_frame(reader) == (1009, TOO_MANY_FRAGMENTS.encode())
        writer.close()


@BOTH
@pytest.mark.parametrize(
    ("frames", "code"),
    [
        ([fragment(b'"x"', 0x0, fin=True)], 1002),  # a continuation with nothing to continue
        ([fragment(b'"a', TEXT, fin=False), fragment(b'b"', TEXT, fin=True)], 1002),
        ([fragment(b'"\xc3', TEXT, fin=False), fragment(b'\x28"', 0x0, fin=True)], 1007),
        (
            [fragment(b'"' + b"x" * 600_000, TEXT, fin=False), fragment(b"y" * 600_000, 0, False)],
            1009,  # over the 1 MiB a relay with 1000-byte frames reads, still unfinished
        ),
    ],
    ids=["stray-continuation", "new-message-mid-message", "invalid-utf8", "too-big"],
)
async def test_a_broken_fragmented_message_closes_its_sender(
    engine: str, frames: list[bytes], code: int
) -> None:
    config = RelayConfig(limits=Limits(max_frame_bytes=1000))
    async with Relay(config, engine=engine) as relay:
        reader, writer, _ = await join_raw(relay.port, "/c/r?")
        writer.write(b"".join(frames))
        assert (await close_frame(reader))[0] == code
        writer.close()


@BOTH
async def test_a_fragmented_binary_message_gets_the_relays_error(engine: str) -> None:
    async with Relay(engine=engine) as relay:
        reader, writer, _ = await join_raw(relay.port, "/c/r?")
        writer.write(fragment(b"\x00\x01", BINARY, fin=False) + fragment(b"\x02", 0, fin=True))
        error = await next_text(reader)
        assert error["type"] == "error"
        writer.close()
