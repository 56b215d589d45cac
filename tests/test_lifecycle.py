"""rx_itty.lifecycle: the connection lifecycle table, checked row by row, with no I/O.

``EXPECTED`` below writes every row out again, independently of the module, as
the specification a reviewer checks; ``test_each_row`` compares the two row by
row, and ``test_every_row_is_specified`` keeps them in step (a new row needs its
line here). The property tests then state the rules the rows must all obey.
"""

from __future__ import annotations

import itertools
import sys
from typing import Final

import pytest

from rx_itty.events import Close
from rx_itty.lifecycle import (
    FINAL_STATUSES,
    TABLE,
    Action,
    ConnectionState,
    Input,
    Transition,
    close_input,
    dispose_input,
    is_final,
    link_closed_input,
    step,
)
from rx_itty.wire import CloseCode
from tests.support import run_python

S, I, A = ConnectionState, Input, Action  # noqa: E741 - one-letter names keep rows on one line

# What happens, in order, when the socket loses its link unexpectedly.
_DROP = (A.FORGET_LINK, A.RESET_PRESENCE, A.REPORT_DROP, A.SCHEDULE_RETRY)
# ... and when the link ends for good (waiters of opened()/flushed() fail, aclose() wakes).
_END = (A.FORGET_LINK, A.RESET_PRESENCE, A.REPORT_CLOSE, A.FAIL_OPENED, A.FAIL_FLUSHED)
_END_CLOSED = (*_END, A.RESOLVE_CLOSED)

EXPECTED: Final[dict[tuple[ConnectionState, Input], tuple[ConnectionState, tuple[Action, ...]]]] = {
    # Never connected: anything that needs the connection opens it; dispose completes
    # the streams and, with sends queued, still connects to deliver them.
    (S.IDLE, I.OPEN): (S.CONNECTING, (A.CONNECT,)),
    (S.IDLE, I.QUEUED): (S.CONNECTING, (A.CONNECT,)),
    (S.IDLE, I.WANTED): (S.CONNECTING, (A.CONNECT,)),
    (S.IDLE, I.DISPOSE): (S.DISPOSED, (A.COMPLETE_STREAMS,)),
    (S.IDLE, I.DISPOSE_AFTER_SENDS): (S.DISPOSED, (A.COMPLETE_STREAMS, A.CONNECT)),
    # Connecting: queued sends go first, then `opens` hears of it, then a second of grace.
    (S.CONNECTING, I.OPENED): (S.OPEN, (A.FLUSH, A.REPORT_OPEN, A.START_GRACE)),
    (S.CONNECTING, I.CLOSE): (S.CLOSING, (A.CLOSE_IF_FLUSHED,)),
    (S.CONNECTING, I.CLOSE_AFTER_SENDS): (S.CLOSING, (A.CLOSE_IF_FLUSHED,)),
    (S.CONNECTING, I.DISPOSE): (
        S.DISPOSED,
        (A.FAIL_OPENED, A.COMPLETE_STREAMS, A.CLOSE_IF_FLUSHED),
    ),
    (S.CONNECTING, I.DISPOSE_AFTER_SENDS): (
        S.DISPOSED,
        (A.FAIL_OPENED, A.COMPLETE_STREAMS, A.CLOSE_IF_FLUSHED),
    ),
    (S.CONNECTING, I.DROPPED): (S.RECONNECTING, (A.FORGET_LINK, A.REPORT_DROP, A.SCHEDULE_RETRY)),
    (S.CONNECTING, I.ENDED): (
        S.CLOSED,
        (A.FORGET_LINK, A.REPORT_CLOSE, A.FAIL_OPENED, A.FAIL_FLUSHED, A.RESOLVE_CLOSED),
    ),
    # Open: sends flow; our own join makes it READY (and starts the steady clock).
    (S.OPEN, I.QUEUED): (S.OPEN, (A.FLUSH,)),
    (S.OPEN, I.DRAINED): (S.OPEN, (A.FLUSH,)),
    (S.OPEN, I.GREETED): (S.READY, (A.STOP_GRACE, A.RESOLVE_OPENED, A.START_STEADY)),
    (S.OPEN, I.CLOSE): (S.CLOSING, (A.FLUSH, A.CLOSE_IF_FLUSHED)),
    (S.OPEN, I.CLOSE_AFTER_SENDS): (S.CLOSING, (A.FLUSH, A.CLOSE_IF_FLUSHED)),
    (S.OPEN, I.DISPOSE): (
        S.DISPOSED,
        (A.FAIL_OPENED, A.COMPLETE_STREAMS, A.FLUSH, A.CLOSE_IF_FLUSHED),
    ),
    (S.OPEN, I.DISPOSE_AFTER_SENDS): (
        S.DISPOSED,
        (A.FAIL_OPENED, A.COMPLETE_STREAMS, A.FLUSH, A.CLOSE_IF_FLUSHED),
    ),
    (S.OPEN, I.DROPPED): (S.RECONNECTING, _DROP),
    (S.OPEN, I.ENDED): (S.CLOSED, _END_CLOSED),
    # Ready: only a connection that stays up this long resets the backoff.
    (S.READY, I.QUEUED): (S.READY, (A.FLUSH,)),
    (S.READY, I.DRAINED): (S.READY, (A.FLUSH,)),
    (S.READY, I.STEADY): (S.READY, (A.RESET_ATTEMPTS,)),
    (S.READY, I.CLOSE): (S.CLOSING, (A.FLUSH, A.CLOSE_IF_FLUSHED)),
    (S.READY, I.CLOSE_AFTER_SENDS): (S.CLOSING, (A.FLUSH, A.CLOSE_IF_FLUSHED)),
    (S.READY, I.DISPOSE): (
        S.DISPOSED,
        (A.FAIL_OPENED, A.COMPLETE_STREAMS, A.FLUSH, A.CLOSE_IF_FLUSHED),
    ),
    (S.READY, I.DISPOSE_AFTER_SENDS): (
        S.DISPOSED,
        (A.FAIL_OPENED, A.COMPLETE_STREAMS, A.FLUSH, A.CLOSE_IF_FLUSHED),
    ),
    (S.READY, I.DROPPED): (S.RECONNECTING, _DROP),
    (S.READY, I.ENDED): (S.CLOSED, _END_CLOSED),
    # Closing: every chance to write (a send, the link opening or draining) also
    # closes once the queue is empty; a drop that left sends behind retries them.
    (S.CLOSING, I.QUEUED): (S.CLOSING, (A.FLUSH, A.CLOSE_IF_FLUSHED)),
    (S.CLOSING, I.OPENED): (S.CLOSING, (A.FLUSH, A.REPORT_OPEN, A.CLOSE_IF_FLUSHED)),
    (S.CLOSING, I.DRAINED): (S.CLOSING, (A.FLUSH, A.CLOSE_IF_FLUSHED)),
    (S.CLOSING, I.RETRY): (S.CLOSING, (A.CONNECT,)),
    (S.CLOSING, I.DISPOSE): (S.DISPOSED, (A.FAIL_OPENED, A.COMPLETE_STREAMS)),
    (S.CLOSING, I.DISPOSE_AFTER_SENDS): (S.DISPOSED, (A.FAIL_OPENED, A.COMPLETE_STREAMS)),
    (S.CLOSING, I.DROPPED): (S.CLOSING, _DROP),
    (S.CLOSING, I.ENDED): (S.CLOSED, _END_CLOSED),
    # The last call wins: open() while closing makes it REOPENING, a close() after
    # that makes it CLOSING again.
    (S.CLOSING, I.OPEN): (S.REOPENING, ()),
    (S.REOPENING, I.CLOSE): (S.CLOSING, ()),
    (S.REOPENING, I.CLOSE_AFTER_SENDS): (S.CLOSING, ()),
    # Reopening: closes just as CLOSING does; once the link has closed, and `closes`
    # has said so, the socket connects again afresh, keeping opened() and flushed()
    # waiters for that connection. A close that retrying cannot fix ends it.
    (S.REOPENING, I.QUEUED): (S.REOPENING, (A.FLUSH, A.CLOSE_IF_FLUSHED)),
    (S.REOPENING, I.OPENED): (S.REOPENING, (A.FLUSH, A.REPORT_OPEN, A.CLOSE_IF_FLUSHED)),
    (S.REOPENING, I.DRAINED): (S.REOPENING, (A.FLUSH, A.CLOSE_IF_FLUSHED)),
    (S.REOPENING, I.RETRY): (S.REOPENING, (A.CONNECT,)),
    (S.REOPENING, I.DISPOSE): (S.DISPOSED, (A.FAIL_OPENED, A.COMPLETE_STREAMS)),
    (S.REOPENING, I.DISPOSE_AFTER_SENDS): (S.DISPOSED, (A.FAIL_OPENED, A.COMPLETE_STREAMS)),
    (S.REOPENING, I.ENDED): (S.CLOSED, _END_CLOSED),
    (S.REOPENING, I.REOPEN): (
        S.CONNECTING,
        (
            A.FORGET_LINK,
            A.RESET_PRESENCE,
            A.REPORT_CLOSE,
            A.RESOLVE_CLOSED,
            A.RESET_ATTEMPTS,
            A.CONNECT,
        ),
    ),
    # Reconnecting: sends and open() wait for the backoff; close() stops, unless
    # sends are queued: then it connects at once to deliver them, and closes.
    (S.RECONNECTING, I.RETRY): (S.CONNECTING, (A.CONNECT,)),
    (S.RECONNECTING, I.CLOSE): (
        S.CLOSED,
        (A.CANCEL_RETRY, A.FAIL_OPENED, A.FAIL_FLUSHED, A.RESOLVE_CLOSED),
    ),
    (S.RECONNECTING, I.CLOSE_AFTER_SENDS): (S.CLOSING, (A.CANCEL_RETRY, A.CONNECT)),
    (S.RECONNECTING, I.DISPOSE): (S.DISPOSED, (A.CANCEL_RETRY, A.FAIL_OPENED, A.COMPLETE_STREAMS)),
    (S.RECONNECTING, I.DISPOSE_AFTER_SENDS): (
        S.DISPOSED,
        (A.CANCEL_RETRY, A.FAIL_OPENED, A.COMPLETE_STREAMS, A.CONNECT),
    ),
    # Closed: the user opening again starts a fresh backoff.
    (S.CLOSED, I.OPEN): (S.CONNECTING, (A.RESET_ATTEMPTS, A.CONNECT)),
    (S.CLOSED, I.QUEUED): (S.CONNECTING, (A.RESET_ATTEMPTS, A.CONNECT)),
    (S.CLOSED, I.WANTED): (S.CONNECTING, (A.RESET_ATTEMPTS, A.CONNECT)),
    (S.CLOSED, I.DISPOSE): (S.DISPOSED, (A.COMPLETE_STREAMS,)),
    (S.CLOSED, I.DISPOSE_AFTER_SENDS): (S.DISPOSED, (A.COMPLETE_STREAMS, A.CONNECT)),
    # Disposed: streams are complete; only delivering what is still queued.
    (S.DISPOSED, I.OPENED): (S.DISPOSED, (A.FLUSH, A.CLOSE_IF_FLUSHED)),
    (S.DISPOSED, I.DRAINED): (S.DISPOSED, (A.FLUSH, A.CLOSE_IF_FLUSHED)),
    (S.DISPOSED, I.RETRY): (S.DISPOSED, (A.CONNECT,)),
    (S.DISPOSED, I.DROPPED): (S.DISPOSED, (A.FORGET_LINK, A.SCHEDULE_RETRY)),
    (S.DISPOSED, I.ENDED): (S.DISPOSED, (A.FORGET_LINK, A.DROP_UNSENT, A.RESOLVE_CLOSED)),
}

PAIRS = list(EXPECTED)
NO_LINK = (S.IDLE, S.RECONNECTING, S.CLOSED)  # states in which the socket has no link
LINK_INPUTS = (I.OPENED, I.GREETED, I.DRAINED, I.DROPPED, I.ENDED, I.REOPEN)
LINK_CLOSED = (I.DROPPED, I.ENDED, I.REOPEN)


def row_id(pair: tuple[ConnectionState, Input]) -> str:
    return f"{pair[0].name}+{pair[1].name}"


@pytest.mark.parametrize("pair", PAIRS, ids=[row_id(p) for p in PAIRS])
def test_each_row(pair: tuple[ConnectionState, Input]) -> None:
    state, event = pair
    assert step(state, event) == Transition(*EXPECTED[pair])


def test_every_row_is_specified() -> None:
    assert set(TABLE) == set(EXPECTED)


def test_a_pair_not_in_the_table_changes_nothing() -> None:
    # A sample of pairs that must be ignored, each for a reason a user relies on.
    assert step(S.OPEN, I.OPEN) is None  # open() is idempotent
    assert step(S.CONNECTING, I.QUEUED) is None  # sends wait for the link to open
    assert step(S.RECONNECTING, I.QUEUED) is None  # a send never cuts the backoff short
    assert step(S.RECONNECTING, I.OPEN) is None  # nor does open()
    assert step(S.RECONNECTING, I.REOPEN) is None  # only a close() leads to a reopen
    assert step(S.CLOSING, I.REOPEN) is None  # ...and an open() after it
    assert step(S.CLOSING, I.WANTED) is None  # watching `closes` must not undo a close
    assert step(S.REOPENING, I.OPEN) is None  # a second open() while closing is harmless
    assert step(S.REOPENING, I.WANTED) is None
    assert step(S.CLOSED, I.CLOSE) is None  # a second close() is harmless
    assert step(S.IDLE, I.CLOSE) is None  # close() before anything arms nothing
    assert step(S.READY, I.GREETED) is None  # a late grace timer changes nothing
    assert step(S.DISPOSED, I.DISPOSE) is None  # dispose() is idempotent
    assert step(S.DISPOSED, I.OPEN) is None  # nothing reopens a disposed socket


# -- rules every row obeys -----------------------------------------------------------


@pytest.mark.parametrize("state", [s for s in S if s is not S.DISPOSED], ids=lambda s: s.name)
def test_every_live_state_can_be_disposed_and_completes_the_streams_once(
    state: ConnectionState,
) -> None:
    for event in (I.DISPOSE, I.DISPOSE_AFTER_SENDS):
        row = step(state, event)
        assert row is not None
        assert row.state is S.DISPOSED
        assert row.actions.count(A.COMPLETE_STREAMS) == 1


def test_nothing_leaves_disposed_and_nothing_reports_after_it() -> None:
    for (state, _), row in TABLE.items():
        if state is S.DISPOSED:
            assert row.state is S.DISPOSED
            reports = {A.REPORT_OPEN, A.REPORT_CLOSE, A.REPORT_DROP, A.RESET_PRESENCE}
            assert not reports & set(row.actions)


def test_link_events_only_arrive_in_states_that_have_a_link() -> None:
    for state, event in TABLE:
        if event in LINK_INPUTS:
            assert state not in NO_LINK, (state, event)


def test_a_new_link_is_only_made_when_there_is_none() -> None:
    for (state, event), row in TABLE.items():
        if A.CONNECT in row.actions:
            # No link in this state, or the retry timer fired (set only after a link was
            # lost), or the row forgets the link that closed first.
            forgot = A.FORGET_LINK in row.actions[: row.actions.index(A.CONNECT)]
            assert state in NO_LINK or event is I.RETRY or forgot, (state, event)


def test_every_lost_link_is_forgotten_and_reported_unless_disposed() -> None:
    for (state, event), row in TABLE.items():
        if event in LINK_CLOSED:
            assert row.actions[0] is A.FORGET_LINK
            reported = {A.REPORT_CLOSE, A.REPORT_DROP} & set(row.actions)
            assert len(reported) == (0 if state is S.DISPOSED else 1), (state, event)


def test_a_drop_reports_reconnecting_and_schedules_the_retry_after_reporting() -> None:
    for (_, event), row in TABLE.items():
        if A.REPORT_DROP in row.actions:
            assert event is I.DROPPED
            assert row.actions.index(A.REPORT_DROP) < row.actions.index(A.SCHEDULE_RETRY)
        if A.SCHEDULE_RETRY in row.actions:
            assert event is I.DROPPED  # only a link that dropped leads to a backoff delay


def test_waiters_never_hang_when_the_socket_stops() -> None:
    for (state, _), row in TABLE.items():
        if row.state is S.CLOSED and state is not S.CLOSED:
            # opened(), flushed() and aclose() all hear that it is over.
            assert {A.FAIL_OPENED, A.FAIL_FLUSHED, A.RESOLVE_CLOSED} <= set(row.actions)
        if row.state is S.DISPOSED and state is not S.DISPOSED:
            assert A.FAIL_OPENED in row.actions or state in (S.IDLE, S.CLOSED)


def test_opened_resolves_only_when_ready_and_the_backoff_resets_only_when_steady_or_asked() -> None:
    for (state, event), row in TABLE.items():
        if A.RESOLVE_OPENED in row.actions:
            assert row.state is S.READY
        if A.RESET_ATTEMPTS in row.actions:
            asked = {(S.CLOSED, i) for i in (I.OPEN, I.QUEUED, I.WANTED)}
            asked.add((S.REOPENING, I.REOPEN))
            assert (state, event) == (S.READY, I.STEADY) or (state, event) in asked


def test_queued_sends_go_out_before_open_listeners_and_before_any_close() -> None:
    for row in TABLE.values():
        actions = row.actions
        if A.REPORT_OPEN in actions:
            assert actions.index(A.FLUSH) < actions.index(A.REPORT_OPEN)
        if A.FLUSH in actions and A.CLOSE_IF_FLUSHED in actions:
            assert actions.index(A.FLUSH) < actions.index(A.CLOSE_IF_FLUSHED)


# -- classifying what happened ----------------------------------------------------------


def test_close_and_dispose_say_whether_sends_are_still_queued() -> None:
    assert (close_input(False), close_input(True)) == (I.CLOSE, I.CLOSE_AFTER_SENDS)
    assert (dispose_input(False), dispose_input(True)) == (I.DISPOSE, I.DISPOSE_AFTER_SENDS)


@pytest.mark.parametrize("status", sorted(FINAL_STATUSES))
def test_a_refused_handshake_that_retrying_cannot_fix_is_final(status: int) -> None:
    assert is_final(Close(None, "no", rejected=status))


def test_a_policy_close_is_final_and_other_closes_are_not() -> None:
    assert is_final(Close(CloseCode.POLICY_VIOLATION, "too many violations"))
    for close in (
        Close(CloseCode.GOING_AWAY, "relay stopped"),
        Close(CloseCode.ABNORMAL),
        Close(None, "Connection refused"),
        Close(None, "busy", rejected=503),
        Close(None, "slow down", rejected=429),
    ):
        assert not is_final(close), close


@pytest.mark.parametrize("state", [S.CONNECTING, S.OPEN, S.READY])
def test_an_unexpected_close_is_a_drop_while_retrying_is_allowed(state: ConnectionState) -> None:
    lost = Close(CloseCode.ABNORMAL)
    for opened in (False, True):
        for unsent in (False, True):
            facts = {"opened": opened, "unsent": unsent}
            assert link_closed_input(state, lost, may_retry=True, **facts) is I.DROPPED
            assert link_closed_input(state, lost, may_retry=False, **facts) is I.ENDED
            refused = Close(None, "key", rejected=403)
            assert link_closed_input(state, refused, may_retry=True, **facts) is I.ENDED


@pytest.mark.parametrize("state", [S.CLOSING, S.DISPOSED])
def test_a_close_we_asked_for_is_a_drop_only_for_sends_it_left_on_an_opened_link(
    state: ConnectionState,
) -> None:
    lost = Close(CloseCode.ABNORMAL)

    def classify(
        *, opened: bool, unsent: bool, may_retry: bool = True, close: Close = lost
    ) -> Input:
        return link_closed_input(state, close, may_retry=may_retry, opened=opened, unsent=unsent)

    assert classify(opened=True, unsent=True) is I.DROPPED
    assert classify(opened=True, unsent=False) is I.ENDED  # nothing left: it closed as asked
    assert classify(opened=False, unsent=True) is I.ENDED  # never opened: do not keep trying
    assert classify(opened=True, unsent=True, may_retry=False) is I.ENDED  # reconnect=False
    policy = Close(CloseCode.POLICY_VIOLATION)
    assert classify(opened=True, unsent=True, close=policy) is I.ENDED


def test_a_close_we_asked_for_reopens_when_open_came_since_unless_it_was_final() -> None:
    def classify(state: ConnectionState, close: Close, **facts: bool) -> Input:
        return link_closed_input(state, close, may_retry=False, **facts)

    normal = Close(CloseCode.NORMAL)
    for opened in (False, True):
        for unsent in (False, True):
            facts = {"opened": opened, "unsent": unsent}
            # The user asked: neither reconnect=False nor a used-up backoff stops it.
            assert classify(S.REOPENING, normal, **facts) is I.REOPEN
            assert classify(S.REOPENING, Close(None, "k", rejected=403), **facts) is I.ENDED
            assert classify(S.CLOSING, normal, **facts) is I.ENDED  # no open() came
            assert classify(S.DISPOSED, normal, **facts) is I.ENDED  # nothing reopens


def test_every_way_a_link_can_close_has_a_row_in_every_state_with_a_link() -> None:
    # A link's close that the table ignored would leave the socket waiting forever.
    closes = (
        Close(CloseCode.NORMAL),
        Close(CloseCode.ABNORMAL),
        Close(CloseCode.POLICY_VIOLATION),
        Close(None, "key", rejected=403),
    )
    for state in (s for s in S if s not in NO_LINK):
        for close in closes:
            for may_retry, opened, unsent in itertools.product((False, True), repeat=3):
                event = link_closed_input(
                    state, close, may_retry=may_retry, opened=opened, unsent=unsent
                )
                assert step(state, event) is not None, (state, close, event)


# -- purity --------------------------------------------------------------------------------


def test_the_lifecycle_module_imports_no_io_and_no_reactivex() -> None:
    code = (
        "import sys\n"
        "import rx_itty.lifecycle\n"
        "heavy = ('asyncio', 'websockets', 'reactivex')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    assert run_python(code).stdout.strip() == "[]"


def test_the_docstring_draws_every_state_the_table_uses() -> None:
    doc = sys.modules["rx_itty.lifecycle"].__doc__ or ""
    for state in S:
        assert state.name in doc, state


# The arrows of the module docstring's diagram, one pair per arrow (or per state
# on the left of a shared arrow).
DIAGRAM = {
    (S.IDLE, S.CONNECTING),
    (S.CONNECTING, S.OPEN),
    (S.OPEN, S.READY),
    *((s, S.RECONNECTING) for s in (S.CONNECTING, S.OPEN, S.READY)),
    *((s, S.CLOSED) for s in (S.CONNECTING, S.OPEN, S.READY)),
    *((s, S.CLOSING) for s in (S.CONNECTING, S.OPEN, S.READY)),
    (S.RECONNECTING, S.CONNECTING),
    (S.CLOSED, S.CONNECTING),
    (S.CLOSING, S.CLOSED),
    (S.CLOSING, S.REOPENING),
    (S.REOPENING, S.CONNECTING),
    (S.REOPENING, S.CLOSED),
    (S.REOPENING, S.CLOSING),
    (S.RECONNECTING, S.CLOSED),
    (S.RECONNECTING, S.CLOSING),
    *((s, S.DISPOSED) for s in S if s is not S.DISPOSED),
}


def test_the_diagram_draws_exactly_the_changes_of_state_in_the_table() -> None:
    changes = {(state, row.state) for (state, _), row in TABLE.items() if row.state is not state}
    assert changes == DIAGRAM
