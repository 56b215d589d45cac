"""Running the command line as a subprocess, for the CLI tests."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Sequence
from typing import IO

from tests.support import scaled


async def run(args: Sequence[str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "rx_itty",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(scaled(20)):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def start_serve(
    *args: str, stderr: int | IO[bytes] = asyncio.subprocess.PIPE
) -> tuple[asyncio.subprocess.Process, str]:
    """Start ``python -m rx_itty serve --port 0 ARGS``; return it and its first line (the URL).

    A process that exits or stalls before printing is killed, and the test fails.
    """
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "rx_itty", "serve", "--port", "0"),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=stderr,
    )
    assert proc.stdout is not None
    line = ""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(scaled(20)):
            line = (await proc.stdout.readline()).decode()
    if not line:
        proc.kill()
        await proc.wait()
        raise AssertionError("rx-itty serve printed nothing: it did not start")
    return proc, line
