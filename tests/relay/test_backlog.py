"""The backlog policy on its own: grace, stall deadline and budget, with fake connections."""

from __future__ import annotations

import asyncio

import pytest

from rx_itty.relay.backlog import Backlog, Buffered
from rx_itty.relay.config import Limits
from tests.support import scaled

pytestmark = pytest.mark.asyncio


class Fake:
    def __init__(self, name: str, size: int = 0) -> None:
        self.name = name
        self.size = size
        self.looked = 0  # how often the backlog asked for its size

    def buffered(self) -> int:
        self.looked += 1
        return self.size


class Drops:
    """Records drops; :meth:`next` waits for one."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[str, str, bool]] = asyncio.Queue()

    def __call__(self, conn: Buffered, why: str, at_once: bool) -> None:
        assert isinstance(conn, Fake)
        self.queue.put_nowait((conn.name, why, at_once))

    async def next(self) -> tuple[str, str, bool]:
        return await asyncio.wait_for(self.queue.get(), scaled(5))


def backlog(drops: Drops, stall: float = 3600, **limits: float) -> Backlog:
    return Backlog(Limits(**limits), stall, drops)  # type: ignore[arg-type]


async def test_a_member_still_over_its_mark_when_the_grace_ends_is_dropped() -> None:
    drops = Drops()
    guard = backlog(drops, max_buffered_bytes=100, slow_reader_seconds=0.05)
    slow = Fake("slow", 500)
    guard.paused(slow)
    guard.check()
    assert await drops.next() == ("slow", "500 bytes unread after 0.05 s", False)


async def test_a_member_back_under_its_mark_in_time_is_kept() -> None:
    drops = Drops()
    guard = backlog(drops, max_buffered_bytes=100, slow_reader_seconds=0.05)
    recovered, stuck = Fake("recovered", 500), Fake("stuck", 500)
    guard.paused(recovered)
    guard.check()
    recovered.size = 50  # it read most of it, though it is not fully drained yet
    guard.paused(stuck)
    guard.check()
    assert (await drops.next())[0] == "stuck"  # its grace ended after the other's
    assert drops.queue.empty()


async def test_a_buffer_that_never_drains_is_dropped_at_the_stall_deadline() -> None:
    drops = Drops()
    guard = backlog(drops, stall=0.05, max_buffered_bytes=10_000)
    guard.paused(Fake("quiet", 100))  # under the mark, but never drains
    assert await drops.next() == ("quiet", "nothing read for 0.05 s", False)


async def test_a_member_that_drains_is_no_longer_watched() -> None:
    drops = Drops()
    guard = backlog(drops, stall=0.05)
    drained, stuck = Fake("drained", 100), Fake("stuck", 100)
    guard.paused(drained)
    guard.resumed(drained)
    assert not guard
    guard.paused(stuck)
    assert (await drops.next())[0] == "stuck"
    assert drops.queue.empty()


async def test_past_the_budget_the_members_most_behind_are_cut_off_at_once() -> None:
    drops = Drops()
    guard = backlog(
        drops, max_buffered_bytes=100, slow_reader_seconds=3600, max_total_buffered_bytes=1000
    )
    members = [Fake("a", 400), Fake("b", 700), Fake("c", 90), Fake("d", 300)]
    for member in members:
        guard.paused(member)
    guard.check()  # 1490 > 1000: b (700) goes, and 790 fits
    assert await drops.next() == ("b", "relay output budget of 1,000 bytes exceeded", True)
    assert drops.queue.empty()


async def test_a_drop_that_delivers_and_so_checks_again_drops_each_member_once() -> None:
    # Dropping a member delivers its leave (at once on a single relay), and the relay
    # checks the backlog after every delivery: that inner check must not re-enter.
    drops = Drops()

    def drop_and_deliver(conn: Buffered, why: str, at_once: bool) -> None:
        drops(conn, why, at_once)
        guard.check()

    limits = Limits(max_buffered_bytes=100, slow_reader_seconds=3600, max_total_buffered_bytes=500)
    guard = Backlog(limits, 3600, drop_and_deliver)
    guard.paused(Fake("a", 600))
    guard.paused(Fake("b", 700))
    guard.check()  # 1300 > 500: both go, most behind first
    assert [(await drops.next())[:1] for _ in range(2)] == [("b",), ("a",)]
    assert drops.queue.empty()
    assert not guard


async def test_the_budget_is_a_bound_even_when_every_member_is_under_its_own_mark() -> None:
    drops = Drops()
    guard = backlog(
        drops, max_buffered_bytes=1000, slow_reader_seconds=3600, max_total_buffered_bytes=2000
    )
    members = [
        Fake(name, size) for name, size in zip("abcde", [900, 500, 950, 800, 700], strict=True)
    ]
    for member in members:
        guard.paused(member)
    guard.check()  # 3850 > 2000, none past its mark: c and a go, and 2000 fits
    assert [(await drops.next())[:2] for _ in range(2)] == [
        ("c", "relay output budget of 2,000 bytes exceeded"),
        ("a", "relay output budget of 2,000 bytes exceeded"),
    ]
    assert drops.queue.empty()


async def test_a_delivery_costs_the_same_however_many_members_are_behind() -> None:
    drops = Drops()
    guard = backlog(drops, max_buffered_bytes=1000, max_total_buffered_bytes=10**9)
    members = [Fake(f"m{n}", 500) for n in range(1000)]
    for member in members:
        guard.paused(member)
    for _ in range(1000):  # a blast of deliveries in one go, each followed by a check
        guard.check()
    passed = asyncio.Event()
    asyncio.get_running_loop().call_soon(passed.set)  # after the pass the checks asked for
    await passed.wait()
    assert sum(member.looked for member in members) == len(members)  # one pass, not 1000


async def test_a_fast_sender_cannot_outrun_the_budget_within_one_turn_of_the_loop() -> None:
    # A single read can carry thousands of frames: the budget must hold before the
    # loop turns again, once enough has been written since the last pass.
    drops = Drops()
    guard = backlog(
        drops, max_buffered_bytes=20_000, slow_reader_seconds=3600, max_total_buffered_bytes=40_000
    )
    slow = Fake("slow", 0)
    guard.paused(slow)  # asks for a pass on the loop, which does not turn in this test
    for _ in range(8):
        slow.size += 2000
        guard.check(2000)  # written, not yet read: 16,000 bytes in all
    assert slow.looked == 0  # under 16 KiB per watched member: left to the loop's pass
    slow.size = 50_000
    guard.check(2000)  # 18,000 since the last pass: checked here and now
    assert slow.looked == 1
    budget = "relay output budget of 40,000 bytes exceeded"
    assert drops.queue.get_nowait() == ("slow", budget, True)


async def test_deliveries_that_write_little_leave_the_pass_to_the_loop() -> None:
    drops = Drops()
    guard = backlog(drops, max_buffered_bytes=1000, max_total_buffered_bytes=10**9)
    members = [Fake(f"m{n}", 500) for n in range(100)]
    for member in members:
        guard.paused(member)
    for _ in range(100):  # 100 x 100 bytes: under 16 KiB per watched member
        guard.check(100)
    assert sum(member.looked for member in members) == 0  # nothing looked at yet
    passed = asyncio.Event()
    asyncio.get_running_loop().call_soon(passed.set)
    await passed.wait()
    assert sum(member.looked for member in members) == len(members)
