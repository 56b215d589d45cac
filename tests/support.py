"""Helpers shared by test modules (import as ``from tests.support import ...``)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from reactivex import Observable
from websockets.asyncio.client import ClientConnection, connect

from rx_itty.wire import encode_frame

TIMEOUT_FACTOR = float(os.environ.get("RX_ITTY_TIMEOUT_FACTOR", "1"))


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
