"""The official itty-sockets JS client in a ``node`` subprocess, scripted over stdin/stdout."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support import scaled

JS_DIR = Path(__file__).parent / "js"
PEER_SCRIPT = JS_DIR / "peer.mjs"
INSTALL = "npm ci --prefix tests/interop/js"
EVENT_TIMEOUT = 5.0
NODE_START_TIMEOUT = 15.0

JsLine = dict[str, Any]


class JsPeer:
    """The itty JS client in a ``node`` subprocess; every listener call is a JSON line."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.seen: list[JsLine] = []
        """Every line read so far, including those a wait skipped over."""

    @classmethod
    async def start(cls, node: str) -> JsPeer:
        proc = await asyncio.create_subprocess_exec(
            node,
            str(PEER_SCRIPT),
            cwd=JS_DIR,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        peer = cls(proc)
        await peer.next("ready", NODE_START_TIMEOUT)
        return peer

    async def command(self, *commands: dict[str, Any]) -> None:
        """Send commands; several are sent as one array, run by the peer in one JS tick."""
        assert self.proc.stdin is not None
        body: Any = commands[0] if len(commands) == 1 else list(commands)
        self.proc.stdin.write(json.dumps(body).encode() + b"\n")
        await self.proc.stdin.drain()

    async def connect(self, url: str, options: dict[str, Any] | None = None, *types: str) -> None:
        """``connect(url, options)``, adding listeners for the usual keys plus ``types``.

        Adding a listener opens the socket (itty's ``on()`` calls ``open()``).
        """
        options = options or {}
        await self.command({"op": "connect", "url": url, "options": options, "types": list(types)})

    async def joined(self, url: str, options: dict[str, Any] | None = None) -> dict[str, Any]:
        """Connect, then wait for ``open`` and the own join; returns the join event."""
        await self.connect(url, options)
        await self.next("open")
        join = await self.event("join")
        assert join["self"] is True, f"first join is not our own: {join}"
        return join

    async def send(self, message: Any, to: str | None = None) -> None:
        await self.command({"op": "send", "message": message, "to": to})

    async def close(self) -> None:
        await self.command({"op": "close"})

    async def _line(self) -> JsLine:
        assert self.proc.stdout is not None
        raw = await self.proc.stdout.readline()
        if not raw:
            assert self.proc.stderr is not None
            await self.proc.wait()
            stderr = (await self.proc.stderr.read()).decode(errors="replace")
            pytest.fail(f"JS peer exited ({self.proc.returncode}); stderr:\n{stderr}")
        try:
            line: JsLine = json.loads(raw)
        except json.JSONDecodeError:
            pytest.fail(f"JS peer wrote a non-JSON line: {raw!r}")
        self.seen.append(line)
        if line.get("on") == "peer-error":
            pytest.fail(f"JS peer failed: {line.get('message')}")
        return line

    async def next(self, key: str, within: float = EVENT_TIMEOUT) -> JsLine:
        """Read lines until a listener ``key`` fires; fail after ``within`` seconds (scaled)."""
        try:
            async with asyncio.timeout(scaled(within)):
                while (line := await self._line())["on"] != key:
                    pass
        except TimeoutError:
            pytest.fail(f"JS peer: no {key!r} within {scaled(within)}s; seen: {self.seen}")
        return line

    async def event(self, key: str, within: float = EVENT_TIMEOUT) -> dict[str, Any]:
        """The event object passed to the next ``key`` listener call."""
        event: dict[str, Any] = (await self.next(key, within))["event"]
        return event

    def fired(self) -> list[str]:
        """Listener keys seen so far, in order."""
        return [line["on"] for line in self.seen]

    async def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
        await self.proc.wait()


SpawnJs = Callable[[], Awaitable[JsPeer]]
