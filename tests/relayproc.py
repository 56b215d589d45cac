"""A real relay in a subprocess, for tests that measure its memory from /proc."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from tests.rawws import rss_bytes
from tests.support import ENGINE, scaled

_SERVE = """
import asyncio, json, sys
from rx_itty.relay import Relay
from rx_itty.relay.config import config_from_dict

async def main():
    relay = Relay(config_from_dict(json.loads(sys.argv[1])))
    print(await relay.start(), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await relay.aclose()

asyncio.run(main())
"""


@dataclass
class RelayProcess:
    url: str
    pid: int

    @property
    def port(self) -> int:
        port = urlsplit(self.url).port
        assert port is not None
        return port

    def rss(self) -> int:
        return rss_bytes(self.pid)


@contextlib.asynccontextmanager
async def relay_process(config: dict[str, Any] | None = None) -> AsyncIterator[RelayProcess]:
    """Run ``Relay(config_from_dict(config))`` in a fresh interpreter until the block ends.

    The config's engine is the one under test unless ``config`` names one.
    """
    config = {"engine": ENGINE, **(config or {})}
    with tempfile.TemporaryFile() as errors:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _SERVE,
            json.dumps(config),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=errors,
        )
        assert proc.stdin is not None
        assert proc.stdout is not None
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), scaled(30))
            if not line.startswith(b"ws://"):
                errors.seek(0)
                raise AssertionError(f"relay did not start: {errors.read().decode()[-2000:]}")
            yield RelayProcess(line.decode().strip(), proc.pid)
        finally:
            proc.stdin.close()
            try:
                await asyncio.wait_for(proc.wait(), scaled(10))
            except TimeoutError:
                proc.kill()
                await proc.wait()
