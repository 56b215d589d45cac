"""Helpers shared by test modules (import as ``from tests.support import ...``)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import struct
import subprocess
import sys
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec
import pydantic
from reactivex import Observable
from reactivex import operators as ops
from reactivex.testing import TestScheduler
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from rx_itty.backoff import Backoff
from rx_itty.client import connect as connect_socket
from rx_itty.events import Close, Message
from rx_itty.relay.config import ENGINES
from rx_itty.runtime import Runtime
from rx_itty.socket import IttySocket
from rx_itty.testing import MemoryRelay
from rx_itty.transport import TransportListener
from rx_itty.wire import CloseCode, decode_frame, encode_frame

TIMEOUT_FACTOR = float(os.environ.get("RX_ITTY_TIMEOUT_FACTOR", "1"))

ENGINE_ENV = "RX_ITTY_TEST_ENGINE"
ENGINE = os.environ.get(ENGINE_ENV) or "websockets"
"""The relay engine the relay tests run on: ``RX_ITTY_TEST_ENGINE=picows`` runs them on
picows (``.ci/run`` does, once more after the main run); ``websockets`` by default."""
if ENGINE not in ENGINES:
    raise SystemExit(f"{ENGINE_ENV} must be one of {', '.join(ENGINES)}, got {ENGINE!r}")


T = TypeVar("T")


def scaled(seconds: float) -> float:
    """A timeout in seconds, multiplied by ``RX_ITTY_TIMEOUT_FACTOR`` for slow machines."""
    return seconds * TIMEOUT_FACTOR


def _anything(value: object) -> bool:
    return True


async def first(
    stream: Observable[T], predicate: Callable[[T], bool] = _anything, within: float = 5
) -> T:
    """The first value of ``stream`` satisfying ``predicate``, waited for as an event.

    Subscribes at once, so call it (or ``asyncio.ensure_future`` it) before the
    action that makes the value appear; ``within`` seconds are scaled.
    """
    future: asyncio.Future[T] = asyncio.get_running_loop().create_future()

    def check(value: T) -> None:
        if not future.done() and predicate(value):
            future.set_result(value)

    subscription = stream.subscribe(check)
    try:
        return await asyncio.wait_for(future, scaled(within))
    finally:
        subscription.dispose()


def attempt_times(socket: Any, scheduler: Any) -> list[float]:
    """The (virtual) times at which ``socket`` starts connecting, filled as they happen."""
    times: list[float] = []

    def note(state: Any) -> None:
        if state.name == "CONNECTING":
            times.append(scheduler.clock)

    socket.state.subscribe(note)
    return times


class Recorder:
    """A transport listener that records each callback, in order.

    Args:
        changed: Called after each callback (a test's clock or event waits on it).
        explode_on_frame: Raise from ``on_frame`` after recording, as a buggy
            listener would.
    """

    def __init__(
        self, changed: Callable[[], None] | None = None, explode_on_frame: bool = False
    ) -> None:
        self.calls: list[tuple[str, Any]] = []
        self._changed = changed
        self._explode = explode_on_frame

    def on_open(self) -> None:
        self._record("open", None)

    def on_frame(self, data: str | bytes) -> None:
        self._record("frame", data)
        if self._explode:
            raise RuntimeError("listener bug")

    def on_drain(self) -> None:
        self._record("drain", None)

    def on_close(self, close: Close) -> None:
        self._record("close", close)

    def _record(self, name: str, value: Any) -> None:
        self.calls.append((name, value))
        if self._changed is not None:
            self._changed()

    def names(self) -> list[str]:
        """The callbacks so far, by name: ``["open", "frame", "close"]``."""
        return [name for name, _ in self.calls]

    def named(self, name: str) -> list[Any]:
        """What each ``name`` callback received."""
        return [value for called, value in self.calls if called == name]

    def frames(self) -> list[Any]:
        """The frames received, decoded into events."""
        return [decode_frame(data) for data in self.named("frame")]

    @property
    def opened(self) -> bool:
        return "open" in self.names()

    @property
    def closed(self) -> bool:
        return "close" in self.names()

    def close(self) -> Close:
        """The one close reported (fails if there were none or several)."""
        (close,) = self.named("close")
        assert isinstance(close, Close)
        return close


class WaitingRecorder(Recorder):
    """A :class:`Recorder` whose test waits for callbacks on the running asyncio loop."""

    def __init__(self, explode_on_frame: bool = False) -> None:
        self._event = asyncio.Event()
        super().__init__(self._event.set, explode_on_frame)

    async def until(self, done: Callable[[], bool], within: float = 5) -> None:
        """Wait until ``done()`` holds, for ``within`` (scaled) seconds at most."""
        async with asyncio.timeout(scaled(within)):
            while not done():
                self._event.clear()
                await self._event.wait()


class Peer:
    """A raw ``websockets`` client speaking the itty wire protocol, for relay tests.

    Waits are event waits with a scaled timeout, never sleeps.
    """

    def __init__(self, conn: ClientConnection) -> None:
        self.conn = conn

    @classmethod
    async def connect(cls, url: str, **kwargs: Any) -> Peer:
        return cls(await connect(url, open_timeout=scaled(10), **kwargs))

    async def recv(self, within: float = 5.0) -> dict[str, Any]:
        """The next frame within ``within`` (scaled) seconds, decoded as a JSON object."""
        async with asyncio.timeout(scaled(within)):
            text = await self.conn.recv()
        assert isinstance(text, str), f"relay sent a binary frame: {text!r}"
        frame = json.loads(text)
        assert isinstance(frame, dict), f"relay sent a non-object frame: {text}"
        return frame

    async def joined(self) -> dict[str, Any]:
        """Consume and return our own join, which must be the first frame."""
        frame = await self.recv()
        assert frame.get("type") == "join"
        assert frame.get("self") is True
        return frame

    async def send(self, message: Any, to: str | None = None) -> None:
        await self.conn.send(encode_frame(message, to))

    async def close(self) -> None:
        await self.conn.close()

    async def __aenter__(self) -> Peer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.conn.close()


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter and return what it printed; fail on a non-zero exit."""
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=scaled(60),
        check=False,
    )
    assert done.returncode == 0, f"python -c exited {done.returncode}:\n{done.stderr}"
    return done


@contextlib.asynccontextmanager
async def quoting_server() -> AsyncIterator[str]:
    """A server refusing every handshake with a 400 page that quotes the request line
    (as some do), keys and all; yields its base URL for channel names."""

    def refuse(connection: ServerConnection, request: Request) -> Response:
        body = f"Bad request: GET {request.path}".encode()
        return Response(400, "Bad Request", Headers([("Content-Length", str(len(body)))]), body)

    async def never(connection: ServerConnection) -> None:
        raise AssertionError("every handshake is refused")

    async with serve(never, "127.0.0.1", 0, process_request=refuse) as server:
        port = server.sockets[0].getsockname()[1]
        yield f"ws://127.0.0.1:{port}/c/"


# -- a virtual-time world: the in-memory relay, and links that refuse frames ---------------


class FlakyLink:
    """A memory link that takes at most ``capacity`` frames (``None``: all)."""

    def __init__(self, owner: Flaky, inner: Any, listener: TransportListener) -> None:
        self.owner = owner
        self.inner = inner
        self.listener = listener

    def send(self, text: str) -> bool:
        capacity = self.owner.capacity
        if capacity is not None:
            if capacity == 0:
                return False
            self.owner.capacity = capacity - 1
        return bool(self.inner.send(text))

    def close(self, code: int = CloseCode.NORMAL, reason: str = "") -> None:
        self.inner.close(code, reason)


class Flaky:
    """The in-memory relay behind links that can refuse frames (backed up, or closing)."""

    def __init__(self, relay: MemoryRelay, scheduler: TestScheduler) -> None:
        self.relay = relay
        self.scheduler = scheduler
        self.capacity: int | None = None
        self.link: FlakyLink | None = None

    def open(self, url: str, listener: TransportListener, runtime: Runtime) -> FlakyLink:
        self.link = FlakyLink(self, self.relay.open(url, listener, runtime), listener)
        return self.link

    def drop(self) -> None:
        """The server drops the current connection (the socket did not ask for it)."""
        assert self.link is not None
        self.link.inner.close(CloseCode.ABNORMAL, "connection lost")

    def drain(self, capacity: int | None = None) -> None:
        """Take ``capacity`` more frames (all, by default), then tell the socket."""
        self.capacity = capacity
        link = self.link
        assert link is not None
        self.scheduler.schedule(lambda *_: link.listener.on_drain())


def record(stream: Any) -> list[Any]:
    seen: list[Any] = []
    stream.subscribe(seen.append)
    return seen


def payload(message: Message[Any]) -> Any:
    return message.message


def payloads(ch: IttySocket) -> list[Any]:
    return record(ch.messages.pipe(ops.map(payload)))


class World:
    """A virtual-time scheduler, an in-memory relay with uids u1, u2... and ``flaky``, a
    transport over that relay whose links can refuse frames."""

    def __init__(self) -> None:
        self.scheduler = TestScheduler()
        names = itertools.count(1)
        self.relay = MemoryRelay(uid_factory=lambda: f"u{next(names)}")
        self.flaky = Flaky(self.relay, self.scheduler)

    def socket(self, transport: Any = None, **options: Any) -> IttySocket:
        options.setdefault("reconnect", Backoff(initial=1.0, jitter=False))
        return connect_socket(
            "room", transport=transport or self.relay, scheduler=self.scheduler, **options
        )

    def listener(self) -> list[Any]:
        ch = self.socket(reconnect=False)
        heard = payloads(ch)
        self.run()
        return heard

    def run(self, until: float | None = None) -> None:
        self.scheduler.advance_to(self.scheduler.clock + 0.001 if until is None else until)


# -- one chat payload as a model of each library rx_itty decodes into ---------------------


@dataclass(frozen=True)
class Chat:
    """A chat payload as a dataclass (``ChatModel``: pydantic, ``ChatStruct``: msgspec)."""

    text: str
    n: int = 0


class ChatModel(pydantic.BaseModel):
    text: str
    n: int = 0


class ChatStruct(msgspec.Struct):
    text: str
    n: int = 0


# -- PNG, read back by hand (zlib only) ------------------------------------------------------


def png_chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    """The chunks of a PNG file, in order, each CRC checked."""
    assert png.startswith(b"\x89PNG\r\n\x1a\n"), "not a PNG signature"
    chunks: list[tuple[bytes, bytes]] = []
    at = 8
    while at < len(png):
        (length,) = struct.unpack(">I", png[at : at + 4])
        kind, data = png[at + 4 : at + 8], png[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", png[at + 8 + length : at + 12 + length])
        assert crc == zlib.crc32(kind + data), f"bad CRC on {kind!r}"
        chunks.append((kind, data))
        at += 12 + length
    return chunks


def png_rows(png: bytes) -> list[bytes]:
    """Decode an 8-bit RGB PNG without filters (what rx_itty draws) into pixel rows."""
    chunks = png_chunks(png)
    header = dict(chunks)[b"IHDR"]
    width, height, depth, color, *_ = struct.unpack(">IIBBBBB", header)
    assert (depth, color) == (8, 2)
    raw = zlib.decompress(b"".join(data for kind, data in chunks if kind == b"IDAT"))
    stride = 1 + width * 3
    assert len(raw) == stride * height
    assert chunks[-1] == (b"IEND", b"")
    return [raw[row * stride + 1 : (row + 1) * stride] for row in range(height)]
