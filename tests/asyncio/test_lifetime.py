"""rx_itty.asyncio.lifetime: run until Ctrl-C or SIGTERM, then flush and close cleanly.

The signal tests run a real program in a fresh interpreter and signal it from
inside, right after queuing sends from another thread: without the helpers'
handlers the default action would end the process before the loop thread had
written them. The program says "ready" once the helper's handlers are in place
(it watches ``signal.signal``), so the signal never races their installation.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import threading
from typing import Any

import pytest

from rx_itty import (
    InvalidOptionError,
    LoopThreadError,
    connect,
    iterate,
    run_until_stopped,
    start_relay_thread,
)
from rx_itty.relay import Relay, RelayThread
from tests.support import scaled

COUNT = 500

TELL_WHEN_HANDLED = """
import signal
_install = signal.signal

def _install_and_tell(sig, handler):
    old = _install(sig, handler)
    if sig == signal.SIGTERM and callable(handler):
        print("ready", flush=True)  # the helper's handlers are in place
    return old

signal.signal = _install_and_tell
"""

BURST = """
import asyncio, os, sys, threading

def burst_then_signal(ch):
    # On another thread: the sends are queued for the loop thread to write.
    sys.stdin.readline()
    for n in range({count}):
        ch.send({{"n": n}})
    {send_signal}

def in_background(ch):
    threading.Thread(target=burst_then_signal, args=(ch,), daemon=True).start()
"""

SCRIPT = """
from rx_itty import connect, run_until_stopped

ch = connect("room", server=sys.argv[1]).wait_open(10)
in_background(ch)
print("stopped by", run_until_stopped(ch).name, flush=True)
"""

ASYNC_SCRIPT = """
from rx_itty import connect, until_stopped

async def main():
    ch = await connect("room", server=sys.argv[1]).opened(10)
    in_background(ch)
    print("stopped by", (await until_stopped(ch)).name, flush=True)

asyncio.run(main())
"""


def read_line(proc: subprocess.Popen[str], within: float) -> str:
    """The program's next line of output, failing (not hanging) if none comes."""
    lines: list[str] = []
    assert proc.stdout is not None
    stdout = proc.stdout
    reader = threading.Thread(target=lambda: lines.append(stdout.readline()), daemon=True)
    reader.start()
    reader.join(scaled(within))
    if not lines:
        proc.kill()
        pytest.fail(f"the program printed nothing within {within} s")
    return lines[0]


def run_and_signal(
    relay: RelayThread, script: str, sig: str, *, to_this_thread: bool = False
) -> tuple[list[Any], str, str]:
    """Run ``script``, which a thread of its own sends a burst and then ``sig``: to the
    process (the kernel picks a thread), or ``to_this_thread`` (never the main one)."""
    listener = connect("room", server=relay.url).wait_open(scaled(5))
    heard = iterate(listener.messages, timeout=scaled(10))
    send_signal = (
        f"signal.pthread_kill(threading.get_ident(), signal.{sig})"
        if to_this_thread
        else f"os.kill(os.getpid(), signal.{sig})"
    )
    code = TELL_WHEN_HANDLED + BURST.format(count=COUNT, send_signal=send_signal) + script
    with subprocess.Popen(
        [sys.executable, "-c", code, relay.url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stdin is not None
        assert read_line(proc, within=10) == "ready\n"
        proc.stdin.write("go\n")
        proc.stdin.flush()
        got = [next(heard).message["n"] for _ in range(COUNT)]
        try:
            out, err = proc.communicate(timeout=scaled(20))
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail(f"the program did not stop within 20 s of {sig}")
        assert proc.returncode == 0, err
    listener.dispose()
    return got, out, err


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_a_signal_the_kernel_hands_to_another_thread_still_stops_the_script(sig: str) -> None:
    # Python runs a handler only on the main thread, when it next runs Python code:
    # a main thread blocked in a wait without end would never see this one.
    with start_relay_thread() as relay:
        got, out, err = run_and_signal(relay, SCRIPT, sig, to_this_thread=True)
    assert got == list(range(COUNT))
    assert out == f"stopped by {sig}\n"
    assert "Traceback" not in err


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_a_script_stopped_by_a_signal_flushes_what_it_queued_and_exits_cleanly(sig: str) -> None:
    with start_relay_thread() as relay:
        got, out, err = run_and_signal(relay, SCRIPT, sig)
    assert got == list(range(COUNT))
    assert out == f"stopped by {sig}\n"
    assert "Traceback" not in err


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_an_asyncio_program_stopped_by_a_signal_flushes_and_exits_cleanly(sig: str) -> None:
    with start_relay_thread() as relay:
        got, out, err = run_and_signal(relay, ASYNC_SCRIPT, sig)
    assert got == list(range(COUNT))
    assert out == f"stopped by {sig}\n"
    assert "Traceback" not in err


def test_it_returns_when_the_program_disposes_every_socket_and_restores_the_handlers() -> None:
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    with start_relay_thread() as relay:
        bot = connect("room", server=relay.url, echo=True)
        bot.on("bye").subscribe(lambda _: bot.dispose())
        bot.wait_open(scaled(5))
        threading.Thread(target=lambda: bot.send({"type": "bye"}), daemon=True).start()
        assert run_until_stopped(bot, timeout=scaled(5)) is None
    assert {sig: signal.getsignal(sig) for sig in before} == before


def test_only_the_main_thread_can_wait_for_signals() -> None:
    errors: list[Exception] = []

    def off_main() -> None:
        try:
            run_until_stopped()
        except InvalidOptionError as exc:
            errors.append(exc)

    thread = threading.Thread(target=off_main)
    thread.start()
    thread.join(scaled(5))
    assert [type(e) for e in errors] == [InvalidOptionError]
    assert "main thread" in str(errors[0])


@pytest.mark.asyncio
async def test_the_blocking_helper_refuses_the_sockets_own_loop(relay: Relay) -> None:
    ch = connect("room", server=relay.url)
    with pytest.raises(LoopThreadError, match=r"await until_stopped"):
        run_until_stopped(ch)
    await ch.adispose()
    assert asyncio.get_running_loop().is_running()


HANDLED = """
import signal, threading

handled = threading.Event()  # set once the helper's handlers are in place
_install = signal.signal

def _install_and_tell(sig, handler):
    old = _install(sig, handler)
    if sig == signal.SIGTERM and callable(handler):
        handled.set()
    return old

signal.signal = _install_and_tell
"""

STALLED = (
    HANDLED
    + """
import os, socket, sys

# A server that accepts TCP and never answers the handshake: a flush to it never ends.
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen()
url = f"ws://127.0.0.1:{server.getsockname()[1]}/c/room"

def twice(ch):
    disposed = threading.Event()
    ch.state.subscribe(on_completed=disposed.set)
    handled.wait(10)
    os.kill(os.getpid(), signal.SIGINT)
    disposed.wait(10)  # the helper is waiting for the flush now
    os.kill(os.getpid(), signal.SIGINT)
"""
)

STALLED_SCRIPT = """
from rx_itty import connect, run_until_stopped

ch = connect(url).send("never delivered")
threading.Thread(target=twice, args=(ch,), daemon=True).start()
print("stopped by", run_until_stopped(ch, timeout=600).name, flush=True)
"""

STALLED_ASYNC_SCRIPT = """
import asyncio
from rx_itty import connect, until_stopped

async def main():
    ch = connect(url).send("never delivered")
    threading.Thread(target=twice, args=(ch,), daemon=True).start()
    print("stopped by", (await until_stopped(ch, timeout=600)).name, flush=True)

asyncio.run(main())
"""


@pytest.mark.parametrize("script", [STALLED_SCRIPT, STALLED_ASYNC_SCRIPT], ids=["sync", "async"])
def test_a_second_ctrl_c_while_flushing_ends_the_wait_quietly(script: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", STALLED + script],
        capture_output=True,
        text=True,
        timeout=scaled(30),
        check=False,
    )
    assert done.stdout == "stopped by SIGINT\n", done.stderr
    assert "Traceback" not in done.stderr
    assert "KeyboardInterrupt" not in done.stderr
    assert "a second signal" in done.stderr  # one line saying what was given up


IGNORING = (
    HANDLED
    + """
import os
from rx_itty import run_until_stopped

signal.signal(signal.SIGINT, signal.SIG_IGN)  # as nohup or a supervisor starts a program

def interrupt_then_terminate():
    handled.wait(10)
    os.kill(os.getpid(), signal.SIGINT)
    os.kill(os.getpid(), signal.SIGTERM)

threading.Thread(target=interrupt_then_terminate, daemon=True).start()
print("stopped by", run_until_stopped().name, flush=True)
print("SIGINT still ignored:", signal.getsignal(signal.SIGINT) is signal.SIG_IGN, flush=True)
"""
)


def test_a_signal_the_process_was_told_to_ignore_stays_ignored() -> None:
    done = subprocess.run(
        [sys.executable, "-c", IGNORING],
        capture_output=True,
        text=True,
        timeout=scaled(30),
        check=False,
    )
    # Had SIGINT been handled, it would have stopped the helper before SIGTERM arrived.
    assert done.stdout == "stopped by SIGTERM\nSIGINT still ignored: True\n", done.stderr
