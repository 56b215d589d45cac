"""Slow readers: bounded output memory per member and for the whole relay.

The relay writes every frame at once to every recipient and never waits for
one, so a slow member never slows the others down; what a member has not read
piles up in its write buffer instead. :class:`Backlog` bounds that pile:

- past ``max_buffered_bytes`` of unread output, a member has ``slow_reader_seconds``
  to get back under the mark;
- still above it when that grace ends, it is dropped: close 1013, and the TCP
  connection cut ``slow_reader_seconds`` later unless it reads the close frame;
- when the unread output of all watched members exceeds
  ``max_total_buffered_bytes``, the members most behind are cut off at once,
  whether past their own mark or not, until it fits again;
- a member whose buffer has not drained for ``stall_seconds`` (the keepalive's
  ping interval plus timeout: not even its ping could be sent) is dropped too.

Only members whose transport has paused writing (more than ``websockets``'
write limit, 32 KiB, unread) are watched, so the relay's cost per delivery is
nothing while every member keeps up. While some are watched, the marks and the
budget are checked in one pass over them at most every 50 ms (a delivery, or a
member falling behind, asks for the next pass), and at once whenever half the
smaller limit (and at least 16 KiB per watched member) has been written since
the last pass, so a fast sender cannot outrun the budget between two turns of
the event loop, and a delivery still costs the same however many members are
behind.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from operator import itemgetter
from typing import Protocol, final

from rx_itty.relay.config import Limits

__all__ = ["Backlog", "Buffered"]

_MIB = 1024 * 1024
_PASS_SECONDS = 0.05  # at most one pass over the watched members this often...
_PASS_BYTES_EACH = 16 * 1024  # ...unless this much per watched member was written


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
            call :meth:`check` again, which only asks for the next pass.
    """

    def __init__(self, limits: Limits, stall_seconds: float, drop: Drop) -> None:
        self._mark = limits.max_buffered_bytes
        self._grace = limits.slow_reader_seconds
        self._budget = limits.max_total_buffered_bytes
        self._stall = stall_seconds
        self._drop = drop
        self._watched: dict[Buffered, _Watch] = {}
        self._pass_due: asyncio.TimerHandle | None = None
        self._next_pass = 0.0
        limits_set = [limit for limit in (self._mark, self._budget) if limit is not None]
        self._pass_bytes = min(limits_set) // 2 if limits_set else 0
        self._written = 0  # since the last pass
        self._passing = False

    def __bool__(self) -> bool:
        """True while some member is behind (the relay then calls :meth:`check`)."""
        return bool(self._watched)

    def paused(self, conn: Buffered) -> None:
        """``conn``'s transport paused writing: its peer is behind."""
        if conn not in self._watched:
            loop = asyncio.get_running_loop()
            ends = loop.time() + self._stall
            self._watched[conn] = _Watch(ends, loop.call_at(ends, self._expire, conn))
            self.check()

    def resumed(self, conn: Buffered) -> None:
        """``conn`` drained (or closed): stop watching it."""
        watch = self._watched.pop(conn, None)
        if watch is not None:
            watch.timer.cancel()

    def check(self, written: int = 0) -> None:
        """After writing ``written`` bytes: have a pass start grace periods and enforce
        the budget.

        The pass runs on the event loop, at once if none ran in the last 50 ms,
        else when that time is up; it runs here and now once the bytes written
        since the last pass reach half the smaller limit (at least 16 KiB per
        watched member). Otherwise this costs an addition and a test.
        """
        if not self._pass_bytes:
            return
        self._written += written
        if self._written >= max(self._pass_bytes, _PASS_BYTES_EACH * len(self._watched)):
            if not self._passing:  # a drop's own deliveries wait for the next pass
                self._pass()
            return
        if self._pass_due is None:
            loop = asyncio.get_running_loop()
            self._pass_due = loop.call_at(max(loop.time(), self._next_pass), self._pass)

    def _pass(self) -> None:
        loop = asyncio.get_running_loop()
        if self._pass_due is not None:
            self._pass_due.cancel()
            self._pass_due = None
        self._next_pass = loop.time() + _PASS_SECONDS
        self._written = 0
        self._passing = True
        try:
            self._enforce()
        finally:
            self._passing = False

    def _enforce(self) -> None:
        mark, budget = self._mark, self._budget
        sizes = [(conn.buffered(), conn, watch) for conn, watch in self._watched.items()]
        total = 0
        for size, conn, watch in sizes:
            total += size
            if mark is not None and size > mark and watch.grace_ends is None:
                self._start_grace(conn, watch)
        if budget is None or total <= budget:
            return
        sizes.sort(key=itemgetter(0), reverse=True)
        for size, conn, _ in sizes:
            if conn in self._watched:  # a drop may have taken others out meanwhile
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
        self._drop(conn, why, False)

    def _drop_now(self, conn: Buffered, why: str) -> None:
        watch = self._watched.pop(conn)
        watch.timer.cancel()
        self._drop(conn, why, True)
