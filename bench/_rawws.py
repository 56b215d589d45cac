"""A minimal raw WebSocket client for the benchmarks, shared by both scripts.

It writes pre-encoded frames and counts text frames with one callback per read,
so the bench's own cost per message stays far below the relay's or receiver's.
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
from collections.abc import Callable, Sequence
from typing import Final, TypeVar

import orjson
from _proc import CONNECT_CONCURRENCY, HOST, SETUP_TIMEOUT, BenchError

__all__ = ["READ_PAUSE", "RawClient", "client_frame", "text_frames", "until"]

READ_PAUSE: Final = 0.0005


def client_frame(payload: bytes, opcode: int = 0x1, mask: bytes | None = None) -> bytes:
    """One final, masked client frame (RFC 6455 section 5.2)."""
    key = mask or os.urandom(4)
    size = len(payload)
    if size < 126:
        header = bytes((0x80 | opcode, 0x80 | size))
    elif size < 1 << 16:
        header = bytes((0x80 | opcode, 0x80 | 126)) + size.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, 0x80 | 127)) + size.to_bytes(8, "big")
    repeated = (key * (size // 4 + 1))[:size]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(
        size, "big"
    )
    return header + key + masked


def text_frames(kind: str, first: int, end: int) -> bytes:
    """Pre-encoded ``{"type":kind,"n":i}`` text frames for ``first <= i < end``, back to back."""
    mask = os.urandom(4)
    return b"".join(
        client_frame(orjson.dumps({"type": kind, "n": i}), mask=mask) for i in range(first, end)
    )


class RawClient(asyncio.Protocol):
    """A WebSocket client protocol that counts text frames and answers pings and closes.

    It is an ``asyncio.Protocol`` rather than a stream so that each read costs one
    callback, not a task wake-up. While ``decoding`` it parses every text frame as
    JSON to learn its uid and the channel's member ``total``; once :meth:`arm`-ed
    it only counts.
    """

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.handshaken = False
        self.pending = b""
        self.decoding = True
        self.uid: str | None = None
        self.total = 0
        self.count = 0
        self.target = 0
        self.done_at: float | None = None
        self.last = b""
        self.error: str | None = None
        self.batching = False
        self.pause = READ_PAUSE
        self.joined = asyncio.Event()
        self.done = asyncio.Event()

    @classmethod
    async def connect(cls, port: int, path: str) -> RawClient:
        """Open a connection and return once the relay has sent our own join frame."""
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(SETUP_TIMEOUT):
            _, client = await loop.create_connection(cls, HOST, port)
            try:
                key = base64.b64encode(os.urandom(16)).decode()
                client.send_raw(
                    f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\n"
                    f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                    "Sec-WebSocket-Version: 13\r\n\r\n".encode()
                )
                await client.joined.wait()
                if client.uid is None:
                    raise BenchError(f"no own join frame: {client.error or 'connection closed'}")
            except BaseException:
                client.abort()
                raise
        return client

    def arm(self, frames: int, *, batch: bool = True, pause: float = READ_PAUSE) -> None:
        """Stop decoding; set :attr:`done` when ``frames`` more text frames have arrived.

        With ``batch``, reads pause for ``pause`` seconds so that one read carries
        many frames, until the last few frames are near: those are read as they
        come, so :attr:`done_at` stays exact.
        """
        self.decoding = False
        self.count = 0
        self.target = frames
        self.done_at = None
        self.done.clear()
        self.batching = batch and frames > 0
        self.pause = pause

    def send_raw(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    # -- asyncio.Protocol ------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        # Wake every waiter; they check the counts and report a short run.
        self.error = self.error or (str(exc) if exc else "connection closed")
        self.joined.set()
        self.done.set()

    def data_received(self, data: bytes) -> None:
        buffer = self.pending + data if self.pending else data
        if not self.handshaken:
            head, sep, rest = buffer.partition(b"\r\n\r\n")
            if not sep:
                self.pending = buffer
                return
            if not head.startswith(b"HTTP/1.1 101"):
                self.error = "handshake refused: " + head.split(b"\r\n", 1)[0].decode(
                    errors="replace"
                )
                self.abort()
                return
            self.handshaken = True
            buffer = rest
        before = self.count
        self.pending = buffer[self._parse(buffer) :]
        read = self.count - before
        if self.batching and self.target - self.count > 2 * read and self.transport is not None:
            # Let frames pile up in the socket for a moment: one read then carries
            # dozens of frames, so counting costs the bench far less CPU than the
            # relay spends producing them. Once at most two such reads are left,
            # read every frame as it comes, so that the end time is not late.
            self.transport.pause_reading()
            asyncio.get_running_loop().call_later(self.pause, self._resume)

    def _resume(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    # -- frames ------------------------------------------------------------------

    def _parse(self, buf: bytes) -> int:
        pos, size, count, last = 0, len(buf), 0, (0, 0)
        while size - pos >= 2:
            length = buf[pos + 1] & 0x7F  # server frames are never masked
            start = pos + 2
            if length == 126:
                if size - pos < 4:
                    break
                length, start = (buf[pos + 2] << 8) | buf[pos + 3], pos + 4
            elif length == 127:
                if size - pos < 10:
                    break
                length, start = int.from_bytes(buf[pos + 2 : pos + 10], "big"), pos + 10
            end = start + length
            if end > size:
                break
            opcode = buf[pos] & 0x0F
            if opcode == 0x1:
                count += 1
                last = (start, end)
                if self.decoding:
                    self._inspect(buf[start:end])
            elif opcode == 0x9:
                self.send_raw(client_frame(buf[start:end], opcode=0xA))
            elif opcode == 0x8:
                self.send_raw(client_frame(buf[start : start + 2], opcode=0x8))
                if self.transport is not None:
                    self.transport.close()
            pos = end
        if count:
            self.count += count
            self.last = buf[last[0] : last[1]]
            if self.target and self.done_at is None and self.count >= self.target:
                self.done_at = time.perf_counter()
                self.done.set()
        return pos

    def _inspect(self, payload: bytes) -> None:
        try:
            frame = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return
        if not isinstance(frame, dict) or frame.get("type") not in ("join", "leave"):
            return
        total = frame.get("total")
        if isinstance(total, int):
            self.total = total
        if frame.get("self") is True and self.uid is None:
            self.uid = str(frame.get("uid"))
            self.joined.set()


async def until(
    condition: Callable[[], bool], within: float, what: str, poll: float = 0.002
) -> None:
    """Poll ``condition`` until true; BenchError after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {within:.0f}s waiting for {what}")
        await asyncio.sleep(poll)


C = TypeVar("C", bound=RawClient)


async def connect_many(port: int, paths: Sequence[str], cls: type[C] = RawClient) -> list[C]:  # type: ignore[assignment]
    """Clients of class ``cls`` joined at ``paths``, in their order, a few dozen
    handshakes at a time; if one fails, those already connected are aborted."""
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    clients: list[C | None] = [None] * len(paths)

    async def one(index: int, path: str) -> None:
        async with gate:
            client = await cls.connect(port, path)
        assert isinstance(client, cls)
        clients[index] = client

    try:
        async with asyncio.TaskGroup() as group:
            for index, path in enumerate(paths):
                group.create_task(one(index, path))
    except BaseException:
        for client in clients:
            if client is not None:
                client.abort()
        raise
    return [client for client in clients if client is not None]
