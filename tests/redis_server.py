"""A throwaway ``redis-server`` for the cluster tests and ``bench/cluster_bench.py``.

Each :class:`RedisServer` runs in a temporary directory of its own, on a unix
socket (TCP off), with persistence off, so a restart starts empty, as a real
Redis that lost its memory would. Readiness is an event: the server's own
"Ready to accept connections" line, read from its output by a thread that keeps
draining it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import subprocess
import tempfile
import threading
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

__all__ = ["INSTALL", "REQUIRE_ENV", "RedisServer", "redis_or_skip"]

REQUIRE_ENV = "RX_ITTY_REQUIRE_REDIS"
INSTALL = "apt-get install -y redis-server (Debian/Ubuntu; brew install redis on macOS)"
_READY = "ready to accept connections"
START_TIMEOUT = 20.0


def redis_or_skip() -> str:
    """The ``redis-server`` executable; skip the test without it (fail if ``REQUIRE_ENV=1``)."""
    executable = shutil.which("redis-server")
    problem = None
    if executable is None:
        problem = f"redis-server is not installed: {INSTALL}"
    elif importlib.util.find_spec("redis") is None:
        problem = "the redis package is missing: pip install -e '.[test]'"
    if problem is not None:
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{problem} ({REQUIRE_ENV}=1 makes this a failure)", pytrace=False)
        pytest.skip(problem)
    assert executable is not None
    return executable


class RedisServer:
    """One ``redis-server`` process: :meth:`start`, :meth:`kill`, start again (empty)."""

    def __init__(self, executable: str, directory: Path) -> None:
        self.executable = executable
        self.directory = directory
        self.socket = directory / "redis.sock"
        self.proc: subprocess.Popen[str] | None = None
        self._drainer: threading.Thread | None = None
        self._output: deque[str] = deque(maxlen=50)

    @property
    def url(self) -> str:
        """The backplane URL of this server."""
        return f"unix://{self.socket}?db=0"

    @classmethod
    @contextlib.contextmanager
    def running(cls, executable: str) -> Iterator[RedisServer]:
        """A started server in a fresh temporary directory, killed and removed afterwards."""
        # /tmp keeps the socket path short (unix socket paths are limited to ~100 bytes).
        with tempfile.TemporaryDirectory(prefix="rxi-redis-", dir="/tmp") as directory:
            server = cls(executable, Path(directory))
            server.start()
            try:
                yield server
            finally:
                server.kill()

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start the server and return once it accepts connections."""
        settings = {
            "port": "0",  # no TCP: the unix socket only
            "unixsocket": str(self.socket),
            "unixsocketperm": "700",
            "save": "",  # no persistence: a restart starts empty
            "appendonly": "no",
            "dir": str(self.directory),
            "daemonize": "no",
        }
        argv = [self.executable]
        for name, value in settings.items():
            argv += [f"--{name}", value]
        self.proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        ready = threading.Event()
        assert self.proc.stdout is not None
        self._drainer = threading.Thread(
            target=self._drain, args=(self.proc.stdout, ready), daemon=True
        )
        self._drainer.start()
        if not ready.wait(timeout):
            self.kill()
            tail = "".join(self._output)
            raise RuntimeError(f"redis-server did not start within {timeout}s:\n{tail}")

    def _drain(self, stream: IO[str], ready: threading.Event) -> None:
        with stream:
            for line in stream:
                self._output.append(line)
                if _READY in line.lower():
                    ready.set()

    def kill(self) -> None:
        """SIGKILL the server (it keeps nothing: the next start is empty)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        if self.proc is not None:
            self.proc.wait()
        if self._drainer is not None:
            self._drainer.join()  # it closes the pipe once the server's output ends
        self.proc = self._drainer = None
