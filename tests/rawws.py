"""Raw sockets for tests: handshakes byte by byte, stalled readers, plain HTTP.

``websockets`` clients and servers are too well behaved to play a hostile or broken
peer: these helpers write requests, responses and frames by hand and read exactly
what the other side sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
from dataclasses import dataclass
from pathlib import Path

from websockets.frames import Frame
from websockets.utils import accept_key

from tests.support import scaled

TEXT, BINARY, CLOSE, PING, PONG = 0x1, 0x2, 0x8, 0x9, 0xA

KEY_HEADERS = (
    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
)


def upgrade_request(path: str, extra_headers: str = "") -> bytes:
    """A WebSocket upgrade request for ``path``, with ``extra_headers`` (CRLF-terminated)."""
    return f"GET {path} HTTP/1.1\r\nHost: relay\r\n{KEY_HEADERS}{extra_headers}\r\n".encode()


def client_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """One final, masked client frame; ``opcode`` may be one RFC 6455 reserves."""
    # websockets' own serializer; a reserved opcode is a plain int it writes as is.
    return Frame(opcode, payload).serialize(mask=True)  # type: ignore[arg-type]


def server_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """One final, unmasked server frame."""
    return Frame(opcode, payload).serialize(mask=False)  # type: ignore[arg-type]


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """The next frame (opcode, payload): a server's, or a client's (unmasked here)."""
    head = await reader.readexactly(2)
    length = head[1] & 0x7F
    if length == 126:
        length = int.from_bytes(await reader.readexactly(2), "big")
    elif length == 127:
        length = int.from_bytes(await reader.readexactly(8), "big")
    mask = await reader.readexactly(4) if head[1] & 0x80 else b""
    payload = await reader.readexactly(length)
    if mask:
        payload = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
    return head[0] & 0x0F, payload


async def frames_until_the_end(reader: asyncio.StreamReader) -> list[tuple[int, bytes]]:
    """Every frame the relay sends until it ends the TCP connection."""
    frames = []
    async with asyncio.timeout(scaled(5)):
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                frames.append(await read_frame(reader))
    return frames


async def accept_upgrade(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Play a server: read a client's upgrade request and accept it (101)."""
    head = await read_head(reader)
    found = re.search(rb"^sec-websocket-key: *(\S+)\r$", head, re.IGNORECASE | re.MULTILINE)
    assert found is not None, f"not an upgrade request: {head!r}"
    writer.write(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept_key(found[1].decode()).encode() + b"\r\n\r\n"
    )


async def next_text(reader: asyncio.StreamReader) -> dict[str, object]:
    """The next text frame, decoded; control frames before it are skipped."""
    async with asyncio.timeout(scaled(5)):
        while True:
            opcode, payload = await read_frame(reader)
            if opcode == TEXT:
                decoded = json.loads(payload)
                assert isinstance(decoded, dict)
                return decoded


async def close_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """The code and reason of the close frame the relay sends next (other frames skipped)."""
    async with asyncio.timeout(scaled(5)):
        while True:
            opcode, payload = await read_frame(reader)
            if opcode == CLOSE:
                return int.from_bytes(payload[:2], "big"), payload[2:]


async def join_raw(
    port: int, path: str, rcvbuf: int | None = None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, dict[str, object]]:
    """A raw member joined at ``path``: its socket, and its own join (already read)."""
    reader, writer = await open_socket(port, rcvbuf)
    writer.write(upgrade_request(path))
    assert status_of(await read_head(reader)) == 101
    join = await next_text(reader)
    assert join["self"] is True
    return reader, writer, join


async def open_socket(
    port: int, rcvbuf: int | None = None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A TCP connection to 127.0.0.1:``port``; ``rcvbuf`` shrinks its receive buffer first."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    return await asyncio.open_connection(sock=sock)


async def read_head(reader: asyncio.StreamReader, within: float = 5.0) -> bytes:
    """An HTTP response head, up to the blank line (b"" if the relay closed first)."""
    async with asyncio.timeout(scaled(within)):
        try:
            return await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            return b""


def status_of(head: bytes) -> int:
    return int(head.split(b" ", 2)[1])


@dataclass
class Stalled:
    """A member that completed its handshake, then never reads again."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    @classmethod
    async def join(cls, port: int, path: str) -> Stalled:
        reader, writer = await open_socket(port, rcvbuf=4096)
        writer.write(upgrade_request(path))
        assert status_of(await read_head(reader)) == 101
        stalled = cls(reader, writer)
        stalled.transport.pause_reading()
        return stalled

    @property
    def transport(self) -> asyncio.Transport:
        transport = self.writer.transport
        assert isinstance(transport, asyncio.Transport)
        return transport

    async def cut_off(self, within: float = 10.0) -> bool:
        """Read on until the relay ends the connection; True once it has."""
        self.transport.resume_reading()
        async with asyncio.timeout(scaled(within)):
            try:
                while await self.reader.read(1 << 16):
                    pass
            except ConnectionError:
                pass
        return True

    def close(self) -> None:
        self.writer.transport.abort()


def rss_bytes(pid: int) -> int:
    """VmRSS of process ``pid``, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for pid {pid}")
