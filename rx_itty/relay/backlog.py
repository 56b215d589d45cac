"""Slow readers: bounded output memory per member and for the whole relay.

The relay writes every frame at once to every recipient and never waits for
one, so a slow member never slows the others down; what a member has not read
piles up in its write buffer instead. :class:`Backlog` bounds that pile:

- past ``max_buffered_bytes`` of unread output, a member has ``slow_reader_seconds``
  to get back under the mark;
- still above it when that grace ends, it is dropped: close 1013, and the TCP
  connection cut ``slow_reader_seconds`` later unless it reads the close frame;
- when the unread output of all watched members exceeds
  ``max_total_buffered_bytes``, those past their mark are cut off at once, most
  behind first, until it fits again;
- a member whose buffer has not drained for ``stall_seconds`` (the keepalive's
  ping interval plus timeout: not even its ping could be sent) is dropped too.

Only members whose transport has paused writing (more than ``websockets``'
write limit, 32 KiB, unread) are watched, so the relay's cost per delivery is
nothing while every member keeps up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol, final

from rx_itty.relay.config import Limits

__all__ = ["Backlog", "Buffered"]

_MIB = 1024 * 1024


def _size(n: int) -> str:
    return f"{n / _MIB:.1f} MiB" if n >= _MIB else f"{n:,} bytes"


class Buffered(Protocol):
    """A connection as the backlog sees it."""

    def buffered(self) -> int:
        """Bytes written to it that the peer has not taken yet."""
        ...


class _Watch:
    __slots__ = ("dropped", "grace_ends", "stall_ends", "timer")

    def __init__(self, stall_ends: float, timer: asyncio.TimerHandle) -> None:
        self.stall_ends = stall_ends
        self.grace_ends: float | None = None
        self.timer = timer
        self.dropped = False


Drop = Callable[[Buffered, str, bool], None]
"""``drop(conn, why, at_once)``: close the member; ``at_once`` cuts it off without a grace."""


@final
class Backlog:
    """Watches members whose output backs up and drops those too far behind.

    Args:
        limits: ``max_buffered_bytes``, ``slow_reader_seconds`` and
            ``max_total_buffered_bytes`` are used.
        stall_seconds: How long a buffer may stay backed up at all.
        drop: Called to drop a member: once with ``at_once`` false when its grace
            or the stall deadline ends, and (again) with ``at_once`` true when the
            budget demands it. It may deliver frames (the member's leave) and so
            call :meth:`check` again; such a call returns at once, the pass that
            dropped the member carries on.
    """

    def __init__(self, limits: Limits, stall_seconds: float, drop: Drop) -> None:
        self._mark = limits.max_buffered_bytes
        self._grace = limits.slow_reader_seconds
        self._budget = limits.max_total_buffered_bytes
        self._stall = stall_seconds
        self._drop = drop
        self._watched: dict[Buffered, _Watch] = {}
        self._dropping = False

    def __bool__(self) -> bool:
        """True while some member is behind (the relay then calls :meth:`check`)."""
        return bool(self._watched)

    def paused(self, conn: Buffered) -> None:
        """``conn``'s transport paused writing: its peer is behind."""
        if conn not in self._watched:
            loop = asyncio.get_running_loop()
            ends = loop.time() + self._stall
            self._watched[conn] = _Watch(ends, loop.call_at(ends, self._expire, conn))

    def resumed(self, conn: Buffered) -> None:
        """``conn`` drained (or closed): stop watching it."""
        watch = self._watched.pop(conn, None)
        if watch is not None:
            watch.timer.cancel()

    def check(self) -> None:
        """After writing: start grace periods, and enforce the relay-wide budget."""
        mark, budget = self._mark, self._budget
        if mark is None or self._dropping:
            return
        total = 0
        over: list[tuple[int, Buffered]] = []
        for conn, watch in self._watched.items():
            size = conn.buffered()
            total += size
            if size > mark:
                over.append((size, conn))
                if watch.grace_ends is None:
                    self._start_grace(conn, watch)
        if budget is not None and total > budget:
            over.sort(key=lambda item: item[0], reverse=True)
            for size, conn in over:
                self._drop_now(conn, f"relay output budget of {_size(budget)} exceeded")
                total -= size
                if total <= budget:
                    break

    def _start_grace(self, conn: Buffered, watch: _Watch) -> None:
        loop = asyncio.get_running_loop()
        watch.grace_ends = loop.time() + self._grace
        if watch.grace_ends < watch.stall_ends:
            watch.timer.cancel()
            watch.timer = loop.call_at(watch.grace_ends, self._expire, conn)

    def _expire(self, conn: Buffered) -> None:
        watch = self._watched.get(conn)
        if watch is None or watch.dropped:
            return
        size = conn.buffered()
        mark = self._mark
        if watch.grace_ends is not None and mark is not None and size > mark:
            why = f"{_size(size)} unread after {self._grace:g} s"
        elif asyncio.get_running_loop().time() >= watch.stall_ends:
            why = f"nothing read for {self._stall:g} s"
        else:  # back under the mark in time: only the stall deadline is left
            watch.grace_ends = None
            watch.timer = asyncio.get_running_loop().call_at(watch.stall_ends, self._expire, conn)
            return
        watch.dropped = True
        self._call_drop(conn, why, False)

    def _drop_now(self, conn: Buffered, why: str) -> None:
        watch = self._watched.pop(conn)
        watch.timer.cancel()
        self._call_drop(conn, why, True)

    def _call_drop(self, conn: Buffered, why: str, at_once: bool) -> None:
        # The drop delivers the member's leave, and delivering calls check():
        # a nested pass would see this member half-dropped, so it is skipped.
        self._dropping = True
        try:
            self._drop(conn, why, at_once)
        finally:
            self._dropping = False
