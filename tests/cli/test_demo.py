"""``rx-itty demo``: run end to end as a real subprocess, and its readings and summary."""

from __future__ import annotations

import asyncio
import itertools
import re
import signal
from statistics import fmean

import pytest

from rx_itty.cli.demo import DEFAULT_SEED, READINGS, readings
from tests.cli.support import spawn
from tests.support import scaled

_LINE = re.compile(r" *\d+\.\ds  (\S+) +(.*)")


async def demo(*args: str) -> asyncio.subprocess.Process:
    return await spawn(["demo", *args])


def said(out: str, kind: str) -> list[str]:
    """The texts of the ``kind`` lines in the demo's output, in order."""
    found = (_LINE.fullmatch(line) for line in out.splitlines())
    return [m.group(2) for m in found if m is not None and m.group(1) == kind]


def temperature(values: list[float]) -> str:
    return (
        f"temperature: average {fmean(values):.2f} °C over {len(values)} readings "
        f"(min {min(values):.2f}, max {max(values):.2f})"
    )


@pytest.mark.asyncio
async def test_the_demo_runs_on_its_own_and_ends_with_a_summary() -> None:
    proc = await demo()
    async with asyncio.timeout(scaled(30)):
        out, err = (part.decode() for part in await proc.communicate())
    assert proc.returncode == 0, err
    assert err == ""
    assert re.search(r"relay    listening on ws://127\.0\.0\.1:\d+/c/", out)
    expected = readings(DEFAULT_SEED)
    assert said(out, "reading") == [f"sensor-1: {value} °C" for value in expected]
    assert len(said(out, "average")) == READINGS // 4
    assert len(said(out, "alert")) >= 1
    assert [re.sub(r"\(\w+\)", "(uid)", m) for m in said(out, "join")[:2]] == [
        "pingbot (uid) joined; 2 here",
        "sensor-1 (uid) joined; 3 here",
    ]
    assert "someone unannounced joined; 6 here" in said(out, "join")
    assert said(out, "direct")[0].startswith("pingbot -> you: pong")
    assert "bob: what's the temperature?" in said(out, "chat")
    assert said(out, "summary") == [
        "28 messages seen: 20 readings, 7 chats, 1 direct reply",
        "6 participants: you, pingbot, sensor-1, alice, bob, 1 unannounced; at most 6 at once",
        temperature(expected),
    ]


@pytest.mark.asyncio
async def test_the_seed_chooses_the_readings_and_speed_the_pace() -> None:
    proc = await demo("--seed", "3", "--speed", "4")
    async with asyncio.timeout(scaled(15)):
        out, err = (part.decode() for part in await proc.communicate())
    assert proc.returncode == 0, err
    assert said(out, "summary")[-1] == temperature(readings(3))


@pytest.mark.asyncio
async def test_ctrl_c_ends_the_demo_early_with_a_summary_and_exit_0() -> None:
    proc = await demo()
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(scaled(20)):
            line = ""
            while not said(line, "reading"):
                line = (await proc.stdout.readline()).decode()
                assert line, "the demo ended before its first reading"
            proc.send_signal(signal.SIGINT)
            out, err = (part.decode() for part in await proc.communicate())
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err
    assert err == ""
    assert said(out, "stopped") == ["early, on request"]
    assert re.fullmatch(r"\d+ messages? seen: [1-9]\d* readings?, .*", said(out, "summary")[0])


def test_readings_are_the_same_for_the_same_seed_and_include_a_spike() -> None:
    values = readings(DEFAULT_SEED)
    assert values == readings(DEFAULT_SEED)
    assert values != readings(DEFAULT_SEED + 1)
    assert len(values) == READINGS
    assert max(abs(b - a) for a, b in itertools.pairwise(values)) >= 1.5


@pytest.mark.asyncio
async def test_the_demo_ends_normally_while_someone_listens_as_it_suggests() -> None:
    proc = await demo("--speed", "2")
    assert proc.stdout is not None
    listener = None
    try:
        async with asyncio.timeout(scaled(30)):
            suggested = None
            head = ""
            while suggested is None:
                line = (await proc.stdout.readline()).decode()
                assert line, "the demo ended before suggesting how to listen"
                head += line
                suggested = re.fullmatch(r" +rx-itty (listen demo --server \S+)\n", line)
            listener = await spawn(suggested.group(1).split())
            assert listener.stderr is not None
            while not (await listener.stderr.readline()).startswith(b"rx-itty: open "):
                pass
            out, err = (part.decode() for part in await proc.communicate())
        assert proc.returncode == 0, err
        assert err == ""
        assert said(out, "late") == []
        assert said(out, "summary")[0] == "28 messages seen: 20 readings, 7 chats, 1 direct reply"
    finally:
        for running in (proc, listener):
            if running is not None and running.returncode is None:
                running.kill()
                await running.wait()
