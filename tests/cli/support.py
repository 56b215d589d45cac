"""Running the command line as a subprocess (``python -m rx_itty``), for the CLI tests."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Mapping, Sequence
from typing import IO

from tests.support import scaled

# Variables the command line reads: a developer's own settings must not leak into tests.
_CLI_VARIABLES = ("RX_ITTY_SERVER", "RX_ITTY_JOIN_KEY", "RX_ITTY_SEND_KEY")


def cli_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without the CLI's variables, plus ``extra``."""
    env = {name: value for name, value in os.environ.items() if name not in _CLI_VARIABLES}
    env.update(extra or {})
    return env


async def spawn(
    args: Sequence[str], *, env: Mapping[str, str] | None = None, stdin: bool = False
) -> asyncio.subprocess.Process:
    """Start ``python -m rx_itty ARGS`` with pipes for stdout and stderr (and stdin if asked)."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "rx_itty",
        *args,
        stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=cli_env(env),
        limit=2**20,  # --json lines carry whole payloads, up to the relay's 100 KB
    )


async def run(
    args: Sequence[str], *, env: Mapping[str, str] | None = None, stdin: bytes | None = None
) -> tuple[int, str, str]:
    """Run ``python -m rx_itty ARGS`` to its end: exit status, stdout, stderr."""
    proc = await spawn(args, env=env, stdin=stdin is not None)
    async with asyncio.timeout(scaled(20)):
        out, err = await proc.communicate(stdin)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def start_serve(
    *args: str,
    before: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    stderr: int | IO[bytes] = asyncio.subprocess.PIPE,
) -> tuple[asyncio.subprocess.Process, str]:
    """Start ``python -m rx_itty [BEFORE] serve --port 0 ARGS``; return it and its first line.

    The first line is the URL. A process that exits or stalls before printing is
    killed, and the test fails.
    """
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "rx_itty", *before, "serve", "--port", "0"),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=stderr,
        env=cli_env(env),
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
