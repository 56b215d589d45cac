"""Shared by the reliability scripts (load, slow_consumers, restart, soak).

- :func:`relay_child` runs our relay in a subprocess (the calling script re-run
  with ``--serve``), so its memory is its own, read from /proc.
- :class:`Counter` is a raw member that records every numbered message it gets.
- :func:`tally` turns what a member got into delivered / lost / duplicated / out of order.
- :func:`print_figures` prints a two-column table; :func:`common_parser` has the
  options every script shares (``--quick``, and the hidden ``--serve``/``--port``),
  and :func:`script_main` is every script's ``main()``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import socket
import sys
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from _proc import (
    HOST,
    BenchError,
    Child,
    guarded,
    port_of,
    raise_nofile,
    rss_bytes,
    run_async,
    run_relay,
    running_child,
    serve_our_relay,
)
from _rawws import RawClient, until
from _rawws import connect_many as _connect_many

__all__ = [
    "Counter",
    "RelayChild",
    "Tally",
    "common_parser",
    "connect_many",
    "mib",
    "print_figures",
    "relay_child",
    "script_main",
    "stalled_member",
    "tally",
    "wait_for_deliveries",
]


async def wait_for_deliveries(
    condition: Callable[[], bool], within: float, what: str, poll: float = 0.01
) -> None:
    """Wait until ``condition()``, at most ``within`` seconds; past that, say so and go on.

    A lost delivery means the condition never holds: the tally that follows then
    shows what is missing, and the script exits 1, instead of a bare timeout.
    """
    try:
        await until(condition, within, what, poll=poll)
    except BenchError as exc:
        print(f"{exc}; the figures below show what is missing", file=sys.stderr, flush=True)


def mib(n: float) -> str:
    return f"{n / (1024 * 1024):.1f} MiB"


@dataclass
class RelayChild:
    child: Child
    url: str

    @property
    def port(self) -> int:
        return port_of(self.url)

    def rss(self) -> int:
        return rss_bytes(self.child.pid)


@contextlib.asynccontextmanager
async def relay_child(script: Path, engine: str, port: int = 0) -> AsyncIterator[RelayChild]:
    """Our relay (no rate or connection limits, all else default) on ``engine``, in a subprocess."""
    argv = [sys.executable, str(script), "--serve", "--port", str(port), "--engine", engine]
    async with running_child("relay", argv) as child:
        yield RelayChild(child, await child.read_url())


def common_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a small run of a few seconds (CI)")
    parser.add_argument(
        "--engine",
        choices=("websockets", "picows"),
        default="websockets",
        help="the relay's engine (picows: on uvloop; needs rx_itty[fast])",
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    return parser


def script_main(
    name: str,
    parser: argparse.ArgumentParser,
    quick: Mapping[str, object],
    run: Callable[[argparse.Namespace], Coroutine[Any, Any, bool]],
) -> int:
    """A reliability script's ``main()``: 0 if ``run(args)`` says all went well, else 1.

    Re-run with ``--serve``, it is the relay subprocess instead; ``--quick`` sets
    the options in ``quick``.
    """
    args = parser.parse_args()
    if args.serve:
        raise_nofile(65_536)
        run_relay(serve_our_relay(port=args.port, engine=args.engine), args.engine)
        return 0
    if args.quick:
        for option, value in quick.items():
            setattr(args, option, value)
    raise_nofile(getattr(args, "connections", 0) + 4096)
    with guarded(name):
        ok = run_async(run(args))
    return 0 if ok else 1


class Counter(RawClient):
    """A raw member recording ``n`` of every message, per sender uid, and when members left."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: defaultdict[str | None, list[int]] = defaultdict(list)
        self.left_at: list[float] = []

    def _inspect(self, payload: bytes) -> None:
        try:
            frame = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return
        if not isinstance(frame, dict):
            return
        message = frame.get("message")
        if "type" not in frame and isinstance(message, dict) and isinstance(message.get("n"), int):
            self.seen[frame.get("uid")].append(message["n"])
            return
        if frame.get("type") == "leave":
            self.left_at.append(time.perf_counter())
        super()._inspect(payload)

    def got(self, sender: str | None) -> int:
        return len(self.seen.get(sender, ()))


async def connect_many(port: int, paths: Sequence[str]) -> list[Counter]:
    """Counters joined at ``paths``, in their order, a few dozen handshakes at a time."""
    return await _connect_many(port, paths, Counter)


@dataclass
class Tally:
    expected: int = 0
    delivered: int = 0
    lost: int = 0
    duplicated: int = 0
    out_of_order: int = 0

    def add(self, got: Sequence[int], expected: Sequence[int]) -> None:
        unique = set(got)
        self.expected += len(expected)
        self.delivered += len(unique & set(expected))
        self.lost += len(set(expected) - unique)
        self.duplicated += len(got) - len(unique)
        self.out_of_order += sum(1 for a, b in itertools.pairwise(got) if b <= a)

    @property
    def clean(self) -> bool:
        return self.lost == self.duplicated == self.out_of_order == 0

    def rows(self) -> list[tuple[str, str]]:
        return [
            ("deliveries expected", f"{self.expected:,}"),
            ("delivered", f"{self.delivered:,}"),
            ("lost", f"{self.lost:,}"),
            ("duplicated", f"{self.duplicated:,}"),
            ("out of order", f"{self.out_of_order:,}"),
        ]


def tally(pairs: Sequence[tuple[Sequence[int], Sequence[int]]]) -> Tally:
    """A tally of ``(got, expected)`` pairs, one per receiver and sender."""
    result = Tally()
    for got, expected in pairs:
        result.add(got, expected)
    return result


def print_figures(title: str, rows: Sequence[tuple[str, str]]) -> None:
    width = max(len(name) for name, _ in rows)
    print(title)
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    sys.stdout.flush()


async def stalled_member(port: int, path: str) -> socket.socket:
    """A member that completes its handshake, then never reads (4 KiB receive buffer)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, (HOST, port))
    await loop.sock_sendall(
        sock,
        f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".encode(),
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = await loop.sock_recv(sock, 1)
        if not chunk:
            raise ConnectionError("the relay closed a stalled member's handshake")
        head += chunk
    if not head.startswith(b"HTTP/1.1 101"):
        raise ConnectionError(f"handshake refused: {head[:40]!r}")
    return sock
