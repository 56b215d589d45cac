"""Relay nodes as real ``rx-itty serve --backplane ...`` processes, for the cluster tests."""

from __future__ import annotations

import asyncio
import contextlib
import re
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import IO

from tests.cli.support import start_serve
from tests.support import ENGINE, scaled

__all__ = ["NODE_TTL", "Node", "running_nodes"]

NODE_TTL = 1.0
"""The node TTL the tests run with: a killed node's members leave within about this long."""

_URL = re.compile(r"ws://\S+/c/")
_NODE = re.compile(r"^node ([0-9a-f]{12}) sharing channels through (\S+)")
_HTTP = re.compile(r"http://\S+/c/")


@dataclass
class Node:
    """One ``python -m rx_itty serve`` process on a backplane, on the engine under test."""

    proc: asyncio.subprocess.Process
    url: str
    node_id: str
    backplane: str
    http_url: str | None
    errors: IO[bytes]

    @classmethod
    async def start(cls, backplane: str, *args: str) -> Node:
        """Start a node and return once it printed its URL and node id."""
        errors = tempfile.TemporaryFile()  # noqa: SIM115 - the Node owns it; running_nodes closes it
        try:
            proc, line = await start_serve(
                *("--backplane", backplane, "--node-ttl", str(NODE_TTL), "--engine", ENGINE),
                *args,
                stderr=errors,
            )
        except AssertionError as failed:
            errors.seek(0)
            raise AssertionError(f"{failed}\n{errors.read().decode()}") from None
        assert proc.stdout is not None
        lines = [line]
        async with asyncio.timeout(scaled(20)):
            while not lines[-1].startswith("connect with:"):
                lines.append((await proc.stdout.readline()).decode())
                assert lines[-1], f"the node exited after printing {lines}"
        text = "".join(lines)
        url, node = _URL.search(text), _NODE.search(lines[1])
        assert url is not None, text
        assert node is not None, text
        http = _HTTP.search(text)
        return cls(proc, url.group(0), node.group(1), node.group(2), http and http.group(0), errors)

    async def kill(self) -> None:
        """SIGKILL: the node vanishes without a word to Redis or its clients."""
        if self.proc.returncode is None:
            self.proc.kill()
        await self.proc.wait()

    async def stop(self) -> None:
        """SIGTERM: a clean stop (its members leave at once)."""
        if self.proc.returncode is None:
            self.proc.terminate()
        async with asyncio.timeout(scaled(20)):
            await self.proc.wait()

    def log(self) -> str:
        """What the node wrote on stderr so far."""
        self.errors.seek(0)
        return self.errors.read().decode(errors="replace")


@contextlib.asynccontextmanager
async def running_nodes(backplane: str, count: int, *args: str) -> AsyncIterator[list[Node]]:
    """``count`` nodes sharing ``backplane``, all stopped (killed) afterwards."""
    nodes: list[Node] = []
    try:
        for _ in range(count):
            nodes.append(await Node.start(backplane, *args))
        yield nodes
    finally:
        for node in nodes:
            await node.kill()
            node.errors.close()
