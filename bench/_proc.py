"""Subprocess plumbing shared by the benchmarks, both sides of the pipe.

Bench side: :func:`running_child` starts any argv (this script again, or another
program) as a :class:`Child` that speaks lines on stdin/stdout, and always stops
it: stdin closed, then SIGTERM, then SIGKILL, a grace apart. Its stderr goes to
a temporary file whose tail is added to errors. :func:`guarded` and
:func:`run_async` make Ctrl-C and SIGTERM stop a run cleanly, and
:func:`kill_leftovers` kills whatever a skipped cleanup left running.
:func:`node_argv` is the argv of one of the Node anchors' programs in
``bench/node/``. :func:`round_order` interleaves the measured variants round by
round. :func:`cpu_seconds` and :func:`rss_bytes` read a child's CPU time and
memory from ``/proc``, so this is Linux only.

Child side: :func:`until_stopped` returns on SIGTERM, SIGINT or EOF on stdin (the
bench closed it, or died), and collects garbage when asked (:meth:`Child.collect`,
so memory is read without it); :func:`announce_url` and :meth:`Child.read_url` are the
two ends of a relay's ``URL <url>`` line; :func:`serve_our_relay` runs our relay
the way both benches measure it.
"""

from __future__ import annotations

import asyncio
import contextlib
import cProfile
import dataclasses
import gc
import importlib.util
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO, Any, Final, TypeVar
from urllib.parse import urlsplit

__all__ = [
    "CONNECT_CONCURRENCY",
    "FAST",
    "HOST",
    "SETUP_TIMEOUT",
    "START_TIMEOUT",
    "STOP_GRACE",
    "BenchError",
    "Child",
    "announce_url",
    "cpu_seconds",
    "guarded",
    "kill_leftovers",
    "loop_factory",
    "node_argv",
    "node_versions",
    "port_of",
    "profiled",
    "raise_nofile",
    "round_order",
    "rss_bytes",
    "run_async",
    "run_relay",
    "running_child",
    "serve_our_relay",
    "tree_version",
    "until_stopped",
]

T = TypeVar("T")

HOST: Final = "127.0.0.1"
# The fast extra (picows and uvloop) is installed: the benches measure our fast variants too.
FAST: Final = all(importlib.util.find_spec(name) for name in ("picows", "uvloop"))
# The Node anchors' programs, and the npm packages they load (the interop tests install them).
NODE_DIR: Final = Path(__file__).resolve().parent / "node"
NODE_MODULES: Final = NODE_DIR.parents[1] / "tests" / "interop" / "js" / "node_modules"
# How long a child may take to print its first line (a relay's URL, a receiver's ready).
START_TIMEOUT: Final = 30.0
# How long connecting and joining may take.
SETUP_TIMEOUT: Final = 30.0
# Connections opened at once while filling a relay (asyncio's default listen backlog is 100).
CONNECT_CONCURRENCY: Final = 50
# How long a child gets after its stdin closes, and again after SIGTERM and SIGKILL.
STOP_GRACE: Final = 5.0
STDERR_TAIL: Final = 3000

# Child pids not yet reaped, killed as a last resort if the normal cleanup was skipped.
_LIVE_PIDS: set[int] = set()


class BenchError(Exception):
    """A run could not be completed or produced wrong results."""


# --------------------------------------------------------------------------
# Bench side
# --------------------------------------------------------------------------


@dataclass
class Child:
    """A subprocess that speaks lines on stdin/stdout; its stderr is kept for errors."""

    name: str
    proc: asyncio.subprocess.Process
    errors: IO[bytes]

    @property
    def pid(self) -> int:
        return self.proc.pid

    async def read_line(self, timeout: float) -> str:  # noqa: ASYNC109 - a bound, not a cancel scope
        assert self.proc.stdout is not None
        try:
            line = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        except TimeoutError:
            raise BenchError(f"{self.name}: no answer within {timeout:.0f}s{self.tail()}") from None
        if not line:
            raise BenchError(f"{self.name} exited unexpectedly{self.tail()}")
        return line.decode(errors="replace").strip()

    async def read_record(self, timeout: float) -> dict[str, Any]:  # noqa: ASYNC109
        """One JSON object line; a record with an ``error`` key raises it as a BenchError."""
        text = await self.read_line(timeout)
        try:
            record = json.loads(text)
        except ValueError:
            raise BenchError(f"{self.name}: unexpected output {text[:200]!r}") from None
        if not isinstance(record, dict):
            raise BenchError(f"{self.name}: unexpected output {text[:200]!r}")
        if "error" in record:
            raise BenchError(f"{record['error']}{self.tail()}")
        return record

    async def read_url(self, timeout: float = START_TIMEOUT) -> str:  # noqa: ASYNC109
        """The URL from the child's first line, ``URL ws://...`` (see :func:`announce_url`)."""
        line = await self.read_line(timeout)
        if not line.startswith("URL ws://"):
            raise BenchError(f"{self.name} did not start: {line!r}{self.tail()}")
        return line.split()[1]

    async def collect(self) -> None:
        """Have the child run a full garbage collection; return when it has.

        For children that serve :func:`until_stopped`, or speak its ``gc`` line.
        """
        self.send_line("gc")
        line = await self.read_line(START_TIMEOUT)
        if line != "GC":
            raise BenchError(f"{self.name}: unexpected answer to gc: {line[:200]!r}")

    def send_line(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text.encode() + b"\n")

    def tail(self) -> str:
        """The end of the child's stderr so far, under a heading; empty if it wrote none."""
        self.errors.seek(0)
        text = self.errors.read().decode(errors="replace").strip()
        return f"{self._tail_heading()}{text[-STDERR_TAIL:]}" if text else ""

    def _tail_heading(self) -> str:
        return f"\n--- {self.name} stderr ---\n"

    async def stop(self) -> None:
        """Close stdin (the child exits by itself), then SIGTERM, then SIGKILL, a grace apart."""
        proc = self.proc
        if proc.stdin is not None:
            proc.stdin.close()
        for sig in (None, signal.SIGTERM, signal.SIGKILL):
            if proc.returncode is not None:
                break
            if sig is not None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(sig)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), STOP_GRACE)
        if proc.returncode is not None:
            _LIVE_PIDS.discard(proc.pid)


@contextlib.asynccontextmanager
async def running_child(name: str, argv: Sequence[str]) -> AsyncIterator[Child]:
    """Start ``argv`` as a :class:`Child` named ``name``; always stop it afterwards.

    A BenchError raised in the body gets the child's stderr tail added, unless it
    already carries it.
    """
    with tempfile.TemporaryFile() as errors:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=errors,
            start_new_session=True,  # Ctrl-C reaches only the bench, which stops the child
        )
        _LIVE_PIDS.add(proc.pid)
        child = Child(name, proc, errors)
        try:
            yield child
        except BenchError as exc:
            tail = child.tail()
            if not tail or child._tail_heading() in str(exc):
                raise
            raise BenchError(f"{exc}{tail}") from exc
        finally:
            await child.stop()


def node_argv(script: str, *args: str) -> list[str]:
    """The argv that runs ``bench/node/<script>`` with ``args``, after checking Node is set up.

    The Node programs load ``ws`` and ``itty-sockets`` from the interop tests' install.
    """
    node = shutil.which("node")
    if node is None:
        raise BenchError("the Node anchors need `node` (version 20 or later) on PATH")
    if not (NODE_MODULES / "itty-sockets").is_dir() or not (NODE_MODULES / "ws").is_dir():
        raise BenchError(
            f"the Node anchors need ws and itty-sockets in {NODE_MODULES}: "
            "run `npm ci --prefix tests/interop/js`"
        )
    # --expose-gc: they collect garbage when asked, as the Python children do.
    return [node, "--expose-gc", str(NODE_DIR / script), *args]


def node_versions() -> str:
    """``node X, ws Y, itty-sockets Z``: what the Node anchors run on (best effort)."""
    try:
        done = subprocess.run(
            [shutil.which("node") or "node", "--version"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        parts = [f"node {done.stdout.strip().lstrip('v') or '?'}"]
    except (OSError, subprocess.SubprocessError):
        parts = ["node not found"]
    for package in ("ws", "itty-sockets"):
        try:
            meta = json.loads((NODE_MODULES / package / "package.json").read_text())
            parts.append(f"{package} {meta['version']}")
        except (OSError, ValueError, KeyError):
            parts.append(f"{package} not installed")
    return ", ".join(parts)


def round_order(items: Sequence[T], index: int) -> list[T]:
    """The order of ``items`` in round ``index``: rotated by one per round, every other reversed.

    Over the rounds each item takes every position, and the pairs alternate (ABBA),
    so slow drifts in the machine's speed fall on every item alike.
    """
    shift = index % len(items)
    order = [*items[shift:], *items[:shift]]
    return order if index % 2 == 0 else order[::-1]


def kill_leftovers() -> None:
    """SIGKILL and reap every child a skipped cleanup left behind."""
    for pid in list(_LIVE_PIDS):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        _LIVE_PIDS.discard(pid)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def guarded(script: str) -> Iterator[None]:
    """Run a bench's measurements; SIGTERM acts like Ctrl-C.

    Exits with status 130 when interrupted and 2 on a BenchError (after printing
    it), and always kills leftover children.
    """
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    except (KeyboardInterrupt, asyncio.CancelledError):
        print(f"{script}: interrupted", file=sys.stderr)
        raise SystemExit(130) from None
    except BenchError as exc:
        print(f"{script}: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    finally:
        kill_leftovers()
        signal.signal(signal.SIGTERM, previous)


def run_async(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)``, where SIGTERM cancels ``main`` so its cleanup runs.

    Within :func:`guarded`, SIGTERM raises KeyboardInterrupt again afterwards
    (closing the loop resets the signal to its default action).
    """

    async def cancellable() -> T:
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        return await main

    previous = signal.getsignal(signal.SIGTERM)
    try:
        return asyncio.run(cancellable())
    finally:
        signal.signal(signal.SIGTERM, previous)


def port_of(url: str) -> int:
    port = urlsplit(url).port
    if port is None:
        raise BenchError(f"no port in {url!r}")
    return port


def cpu_seconds(pid: int) -> float:
    """utime + stime of process ``pid``, from /proc/<pid>/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # fields 3.. (comm may hold spaces)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_bytes(pid: int) -> int:
    """VmRSS of process ``pid``, from /proc/<pid>/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise BenchError(f"no VmRSS in /proc/{pid}/status")


def tree_version() -> str:
    """Where ``rx_itty`` is imported from, and ``git describe`` of that tree."""
    spec = importlib.util.find_spec("rx_itty")  # locates the package without importing it
    if spec is None or spec.origin is None:
        return "rx_itty not found"
    package = Path(spec.origin).parent
    try:
        done = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=package,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return str(package)
    return f"{package} ({done.stdout.strip() or 'not in git'})"


# --------------------------------------------------------------------------
# Both sides
# --------------------------------------------------------------------------


def raise_nofile(wanted: int) -> int:
    """Raise the soft RLIMIT_NOFILE to ``wanted`` (capped by the hard limit); return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return wanted
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


@contextlib.contextmanager
def profiled(path: str | None) -> Iterator[None]:
    """cProfile the body into ``path``; do nothing when ``path`` is None."""
    if path is None:
        yield
        return
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        yield
    finally:
        profiler.disable()
        profiler.dump_stats(path)


# --------------------------------------------------------------------------
# Child side
# --------------------------------------------------------------------------


async def until_stopped() -> None:
    """Return on SIGTERM or SIGINT, or at EOF on stdin; answer ``gc`` lines meanwhile.

    The bench holds a child's stdin pipe open, so EOF means that it is done with
    the child or that it died. Run from a terminal, only the signals count. A
    ``gc`` line runs a full garbage collection and is answered with a ``GC``
    line (the other end is :meth:`Child.collect`).
    """
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if not sys.stdin.isatty():
        pending = b""

        def on_stdin() -> None:
            nonlocal pending
            data = os.read(0, 4096)
            if not data:
                loop.remove_reader(0)
                stop.set()
                return
            *lines, pending = (pending + data).split(b"\n")
            for line in lines:
                if line.strip() == b"gc":
                    gc.collect()
                    print("GC", flush=True)

        loop.add_reader(0, on_stdin)
    try:
        await stop.wait()
    finally:
        loop.remove_reader(0)


def announce_url(url: str) -> None:
    """Tell the bench where we listen: the ``URL <url>`` line :meth:`Child.read_url` waits for."""
    print(f"URL {url}", flush=True)


def run_relay(main: Coroutine[Any, Any, None], engine: str = "websockets") -> None:
    """Run a relay process's ``main`` until it returns; the picows engine on uvloop.

    The picows engine comes with the fast extra, uvloop included, so that is how
    it runs; the default engine runs on asyncio's own loop, as on a default install.
    """
    with (
        contextlib.suppress(KeyboardInterrupt),
        asyncio.Runner(loop_factory=loop_factory(fast=engine == "picows")) as runner,
    ):
        runner.run(main)


def loop_factory(*, fast: bool) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The event loop of a measured variant: uvloop's for the fast extra's, else asyncio's own.

    Named, not left to ``rx_itty.asyncio.new_event_loop``, so that one run measures
    the default install and the fast extra side by side (``None``: asyncio's).
    """
    if not fast:
        return None
    import uvloop

    return uvloop.new_event_loop


async def serve_our_relay(
    profile_path: str | None = None,
    backplane: str | None = None,
    port: int = 0,
    engine: str = "websockets",
    *,
    unbounded_backlog: bool = False,
) -> None:
    """Run our relay on HOST (``port`` 0: a free one) with no rate, connection or ban
    limits until stopped.

    ``unbounded_backlog`` also lifts the slow-reader limits, for a bench whose
    receivers stop reading on purpose while a round is fed to them.

    With ``backplane`` (a Redis URL) the relay is one node of a cluster; ``engine``
    picks what runs its sockets. ``rx_itty`` is imported here, not at module level,
    so that a baseline relay process never loads it.
    """
    from rx_itty.relay import Limits, Relay, RelayConfig

    limits = Limits(messages_per_window=None, connections_per_second=None, ban_seconds=0)
    if unbounded_backlog:
        limits = dataclasses.replace(limits, max_buffered_bytes=None, max_total_buffered_bytes=None)
    config = RelayConfig(limits=limits)
    # The default engine unnamed: the benches also measure relays from before engines.
    if engine == "websockets":
        relay = Relay(config, host=HOST, port=port, backplane=backplane)
    else:
        relay = Relay(config, host=HOST, port=port, backplane=backplane, engine=engine)
    announce_url(await relay.start())
    try:
        with profiled(profile_path):
            await until_stopped()
    finally:
        await relay.aclose()
