"""Where a process's bytes go: ``tracemalloc`` growth by owner, shared by the memory scripts.

Child side: :class:`Tracer` starts tracing and answers two commands on the
bench's line protocol: ``snap`` (a full collection, then a snapshot; answer
``SNAP``) and ``report`` (the growth from the first snapshot to the last, by
owner, as one JSON line). Bench side: :func:`snap` and :func:`collect_report`
send them; :func:`print_breakdown` prints the table per connection.

The *owner* of an allocation is the innermost frame of rx_itty or of a library
(``module:function``), with the standard-library function that allocated in
brackets (say ``[asyncio/base_events.py:create_task]`` for a task); frames of
the standard library and of the bench are skipped, and what the event loop
allocates by itself is listed as such. C extensions (picows, uvloop) allocate
through Python's allocator, so they are traced too, under the Python frame
that called them.
"""

from __future__ import annotations

import ast
import functools
import gc
import json
import os
import re
import sysconfig
import tracemalloc
from pathlib import Path
from typing import Final

from _proc import BenchError, Child

__all__ = ["TRACE_SLOWDOWN", "Tracer", "collect_report", "print_breakdown", "snap"]

BENCH_DIR: Final = Path(__file__).resolve().parent
TRACE_FRAMES: Final = 16
# How much longer than usual a traced process may take for the same work.
TRACE_SLOWDOWN: Final = 10
_STDLIB: Final = sysconfig.get_paths()["stdlib"]
ANSWER_TIMEOUT: Final = 120.0
_LOOP: Final = "(the event loop)"


def _short(filename: str) -> str:
    """``site-packages/websockets/asyncio/server.py`` -> ``websockets/asyncio/server.py``."""
    for marker in ("site-packages/", f"{_STDLIB}/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return os.path.relpath(filename, BENCH_DIR.parent)


def _owner(trace: tracemalloc.Traceback) -> str:
    """Who a trace's memory is for: the innermost frame of rx_itty or a library.

    Frames of the standard library (asyncio among them) and of the bench are
    skipped; the allocating frame, when skipped, is named in brackets.
    """
    frames = list(trace)[::-1]  # innermost first
    inner = frames[0]

    def where(frame: tracemalloc.Frame) -> str:
        return f"{_short(frame.filename)}:{_function(frame)}"

    for frame in frames:
        if not frame.filename.startswith((_STDLIB, str(BENCH_DIR))):
            owner = where(frame)
            return owner if frame is inner else f"{owner} [{where(inner)}]"
    return f"{_LOOP} {where(inner)}"


def _function(frame: tracemalloc.Frame) -> str:
    """The innermost function whose body holds a frame's line (tracemalloc keeps only file
    and line). A ``def`` line runs in the enclosing function: a closure is its maker's.
    """
    spans = _functions(frame.filename)
    inside = [(first, name) for first, last, name in spans if first <= frame.lineno <= last]
    return max(inside)[1] if inside else "<module>"


@functools.cache
def _functions(filename: str) -> list[tuple[int, int, str]]:
    """``(first line, last line, name)`` of every function's body in a Python source file."""
    try:
        tree = ast.parse(Path(filename).read_text())
    except (OSError, SyntaxError, ValueError):
        return []
    return [
        (node.body[0].lineno, node.end_lineno or node.lineno, node.name)
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    ]


def breakdown(before: tracemalloc.Snapshot, after: tracemalloc.Snapshot) -> dict[str, int]:
    """Bytes that appeared between the snapshots, by owner."""
    owners: dict[str, int] = {}
    for stat in after.compare_to(before, "traceback"):
        if stat.size_diff:
            owner = _owner(stat.traceback)
            owners[owner] = owners.get(owner, 0) + stat.size_diff
    return owners


class Tracer:
    """The child side: traces from its creation on and answers ``snap`` and ``report``."""

    def __init__(self) -> None:
        tracemalloc.start(TRACE_FRAMES)
        self.snapshots: list[tracemalloc.Snapshot] = []

    def answer(self, command: str) -> str | None:
        """The line to answer ``command`` with; None when it is not one of the tracer's."""
        if command == "snap":
            gc.collect()
            self.snapshots.append(tracemalloc.take_snapshot())
            return "SNAP"
        if command == "report":
            if not self.snapshots:
                return json.dumps({"error": f"{command}: send snap first"})
            return json.dumps(breakdown(self.snapshots[0], self.snapshots[-1]))
        return None


async def snap(child: Child) -> None:
    """Have a traced ``child`` collect garbage and take a snapshot."""
    child.send_line("snap")
    line = await child.read_line(ANSWER_TIMEOUT)
    if line != "SNAP":
        raise BenchError(f"{child.name}: expected SNAP, got {line[:200]!r}")


async def collect_report(child: Child) -> dict[str, int]:
    """A traced ``child``'s growth from its first snapshot to its last, by owner, in bytes."""
    child.send_line("report")
    owners = await child.read_record(ANSWER_TIMEOUT)  # an "error" record raises
    return {str(owner): int(size) for owner, size in owners.items()}


def _package(owner: str) -> str:
    """``rx_itty/socket.py:__init__`` -> ``rx_itty``; the event loop stays itself."""
    if owner.startswith(_LOOP):
        return _LOOP
    return re.split(r"[/:]", owner, maxsplit=1)[0]


def print_breakdown(
    name: str, rss_per_connection: float, owners: dict[str, int], connections: int, top: int
) -> None:
    """RSS and traced bytes per connection, by package, then the ``top`` owners and the rest."""
    total = sum(owners.values()) / connections
    packages: dict[str, int] = {}
    for owner, size in owners.items():
        package = _package(owner)
        packages[package] = packages.get(package, 0) + size
    by_package = ", ".join(
        f"{package} {size / connections:,.0f}"
        for package, size in sorted(packages.items(), key=lambda item: item[1], reverse=True)
        if abs(size) >= connections  # at least a byte per connection
    )
    print(
        f"\n{name}: RSS {rss_per_connection / 1024:.1f} KiB per connection; "
        f"traced {total:,.0f} B per connection\n  by package (B): {by_package}\n  by owner:"
    )
    ranked = sorted(owners.items(), key=lambda item: item[1], reverse=True)
    shown = ranked[:top]
    for owner, size in shown:
        print(f"  {size / connections:8,.0f} B  {owner}")
    rest = sum(size for _, size in ranked[top:])
    print(f"  {rest / connections:8,.0f} B  ({len(ranked) - len(shown)} other owners)")
