"""What the ``picows`` engine does itself: its own handshake (deadline, shutdown) and the
WebSocket duties ``picows`` leaves to its user, done as the ``websockets`` engine does them.

The parity tests run on both engines: the ``websockets`` engine's answer is the
one the ``picows`` engine must give. What every engine does through the
switchboard is in ``test_engine.py``, ``test_switchboard.py`` and ``test_server.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re

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
    frames_until_the_end,
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


def fragment(
    payload: bytes, opcode: int, fin: bool, rsv: int = 0, size: int | None = None
) -> bytes:
    """A masked client frame, final or not (a zero mask: the payload goes as is), with
    reserved bits ``rsv`` (0-7) and a length header saying ``size`` if given."""
    size = len(payload) if size is None else size
    if size < 126:
        length = bytes((0x80 | size,))
    elif size < 65536:
        length = bytes((0x80 | 126,)) + size.to_bytes(2, "big")
    else:
        length = bytes((0x80 | 127,)) + size.to_bytes(8, "big")
    first = (0x80 if fin else 0) | rsv << 4 | opcode
    return bytes((first,)) + length + b"\0\0\0\0" + payload


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
async def test_the_101_is_the_websockets_engines_byte_for_byte(engine: str) -> None:
    async with Relay(engine=engine) as relay:
        reader, writer = await open_socket(relay.port)
        writer.write(upgrade_request("/c/r?"))
        head = await read_head(reader)
        # The one part that changes: the date (RFC 9110's IMF-fixdate, as websockets writes it).
        assert re.fullmatch(
            rb"HTTP/1\.1 101 Switching Protocols\r\n"
            rb"Date: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT\r\n"
            rb"Upgrade: websocket\r\nConnection: Upgrade\r\n"
            rb"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=\r\n"  # RFC 6455's sample
            rb"Server: rx_itty relay\r\n\r\n",
            head,
        ), head
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
@pytest.mark.parametrize("payload", [(4321).to_bytes(2, "big") + b"going", b""])
async def test_the_peers_close_is_echoed_as_it_came(engine: str, payload: bytes) -> None:
    async with Relay(engine=engine) as relay:
        reader, writer, _ = await join_raw(relay.port, "/c/r?")
        writer.write(client_frame(payload, opcode=CLOSE))
        assert await frames_until_the_end(reader) == [(CLOSE, payload)]
        writer.close()


# Frames a parser refuses, and the close websockets' parser answers them with: the
# picows engine's answer (picows' own words are Python reprs of the payload).
TWO_MIB = 2 * 1024 * 1024
REFUSED = {
    "reserved-opcode": (client_frame(b"x", opcode=0x3), 1002, b"invalid opcode"),
    "unmasked": (b"\x81\x04" + b'"hi"', 1002, b"incorrect masking"),
    "fragmented-ping": (fragment(b"p", PING, fin=False), 1002, b"fragmented control frame"),
    "long-ping": (fragment(b"x" * 126, PING, fin=True), 1002, b"control frame too long"),
    "one-byte-close": (fragment(b"\x03", CLOSE, fin=True), 1002, b"close frame too short"),
    "close-1004": (client_frame((1004).to_bytes(2, "big"), CLOSE), 1002, b"invalid status code"),
    "close-1006": (client_frame((1006).to_bytes(2, "big"), CLOSE), 1002, b"invalid status code"),
    "close-5000": (client_frame((5000).to_bytes(2, "big"), CLOSE), 1002, b"invalid status code"),
    "rsv1": (fragment(b'"x"', TEXT, fin=True, rsv=4), 1002, b"reserved bits must be 0"),
    "rsv3-ping": (fragment(b"p", PING, fin=True, rsv=1), 1002, b"reserved bits must be 0"),
    "frame-too-big": (
        fragment(b"", TEXT, fin=True, size=TWO_MIB),  # refused on its header alone
        1009,
        b"frame with 2097152 bytes exceeds limit of 1048576 bytes",
    ),
    "message-too-big": (
        fragment(b'"' + b"x" * 600_000, TEXT, fin=False) + fragment(b"y" * 600_000, 0, False),
        1009,
        b"frame with 600000 bytes after reading 600001 bytes exceeds limit of 1048576 bytes",
    ),
}


@BOTH
@pytest.mark.parametrize("case", list(REFUSED))
async def test_a_refused_frame_closes_its_sender_in_websockets_words_and_is_not_delivered(
    engine: str, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    frame, code, reason = REFUSED[case]
    config = RelayConfig(limits=Limits(max_frame_bytes=1000))  # engines read up to 1 MiB
    caplog.set_level(logging.INFO)
    async with Relay(config, engine=engine) as relay:
        reader, writer, _ = await join_raw(relay.port, "/c/r?echo=true")
        writer.write(frame + client_frame(b'"after"'))
        sent: list[tuple[int, bytes]] = []
        async with asyncio.timeout(scaled(5)):
            while not sent or sent[-1][0] != CLOSE:
                sent.append(await read_frame(reader))
        assert sent == [(CLOSE, code.to_bytes(2, "big") + reason)]  # no echo before it
        writer.close()
    # A client's bad frame is its own business: nothing for the relay's operator (the
    # relay's own INFO lines say it started and stopped).
    noted = [r.getMessage() for r in caplog.records if r.name != "rx_itty.relay"]
    assert noted == []
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


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
async def test_a_message_in_more_fragments_than_allowed_closes_its_sender(
    engine: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with Relay(engine=engine) as relay:
        reader, writer, _ = await join_raw(relay.port, "/c/r?echo=true")
        # Empty ones cost the sender 6 bytes each: without a cap, a relay gathers forever.
        empty = [fragment(b"", 0, fin=False)] * (MAX_FRAGMENTS + 10)
        writer.write(b"".join([fragment(b'"', TEXT, fin=False), *empty]))
        writer.write(fragment(b'"', 0, fin=True))  # the rest of it, too late
        assert await close_frame(reader) == (1009, TOO_MANY_FRAGMENTS.encode())
        writer.write(client_frame((1000).to_bytes(2, "big"), opcode=CLOSE))
        assert await the_end(reader)
        writer.close()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


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
