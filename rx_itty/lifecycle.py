"""A socket's connection lifecycle as one table: (state, input) -> (next state, actions).

Pure: no I/O, no clock, no asyncio, no reactivex. :class:`~rx_itty.socket.IttySocket`
holds one :class:`ConnectionState`, turns what happens to it into an :class:`Input`, looks
the pair up with :func:`step` and runs the :class:`Action` list it gets back, in
order. A pair that is not in the table changes nothing and does nothing (for
example ``open()`` while already open, or a retry while waiting for nothing).

The table draws this diagram (every change of state; a row that keeps the state
only runs actions, such as flushing the queue while OPEN or READY)::

    IDLE ───────────── open() / a send ──────────────► CONNECTING
    CONNECTING ─────── link opened ──────────────────► OPEN
    OPEN ───────────── our own join (or 1 s without) ─► READY
    CONNECTING │
    OPEN       ├────── link closed, may retry ────────► RECONNECTING ── retry due ──► CONNECTING
    READY      │
               ├────── link closed, final ────────────► CLOSED ── open() / a send ──► CONNECTING
               └────── close() / push() ──────────────► CLOSING ── link closed ─────► CLOSED
    CLOSING ────────── open() ────────────────────────► REOPENING
    REOPENING ┬─────── link closed ───────────────────► CONNECTING
              ├─────── link closed, final ────────────► CLOSED
              └─────── close() / push() ──────────────► CLOSING
    RECONNECTING ┬──── close(), nothing queued ───────► CLOSED
                 └──── close(), sends queued ─────────► CLOSING   (connects at once to deliver)
    any state but DISPOSED ── dispose() ──────────────► DISPOSED

    CLOSING stays CLOSING while it hands the queue over before closing the link, and
    when a link it closed left sends behind it reconnects (after a backoff delay) to
    deliver them, then closes again. ``open()`` (or ``opened()``) while CLOSING makes
    it REOPENING: a CLOSING that lets the close finish the same way, then connects
    again; a ``close()`` after it makes it CLOSING again. A subscription connects an
    IDLE or CLOSED socket but not a CLOSING or REOPENING one. DISPOSED
    completes every stream at once, then still delivers what is queued (connecting
    once more if needed) before it rests.

Rules the table encodes, row by row:

- **Sends are never dropped by a state change.** Frames wait in the socket's queue
  until an open link takes them; a frame the link did not take stays at the head.
  ``close()`` and ``dispose()`` hand over what is queued before closing the link.
- **Reconnect only when it can help.** A link that closes by itself reconnects
  after a backoff delay (:data:`Input.DROPPED`); a final close (a handshake refused
  with 400, 401, 403 or 404, a 1008 policy close, a URL no server can accept), a
  socket built with ``reconnect=False`` or a backoff whose attempts are used up
  ends in CLOSED (:data:`Input.ENDED`).
- **The backoff cannot be fooled.** Each reconnect counts an attempt; the count
  starts over only after a connection has stayed READY for ``Backoff.reset_after``
  seconds (:data:`Input.STEADY`), or when the user opens a CLOSED socket again.
- **A close we asked for that left frames unsent** is, for those frames, a drop:
  the socket reconnects (after a backoff delay) to deliver them, then closes again.
- **The last call wins.** ``open()`` (not a subscription) while closing is not
  dropped: the socket is REOPENING, and once the link has closed (``closes``
  reports it) it connects again (:data:`Input.REOPEN`); ``close()`` while REOPENING
  makes it CLOSING again.
"""

from __future__ import annotations

import enum
from typing import Final, NamedTuple, final

from rx_itty.events import Close
from rx_itty.wire import CloseCode

__all__ = [
    "FINAL_STATUSES",
    "TABLE",
    "Action",
    "ConnectionState",
    "Input",
    "Transition",
    "close_input",
    "dispose_input",
    "is_final",
    "link_closed_input",
    "step",
]


class ConnectionState(enum.Enum):
    """Where a socket is in its lifecycle; ``IttySocket.state`` replays the current one."""

    IDLE = "idle"
    """Never connected."""
    CONNECTING = "connecting"
    """A connection attempt is under way."""
    OPEN = "open"
    """Connected; our own join has not arrived yet."""
    READY = "ready"
    """Connected and greeted: our own join arrived (uid and presence are set)."""
    CLOSING = "closing"
    """Closing as asked: queued sends are handed over first, then the link closes."""
    REOPENING = "reopening"
    """Closing as asked, then connecting again: ``open()`` came after ``close()``."""
    RECONNECTING = "reconnecting"
    """The connection was lost; waiting out the backoff delay before the next attempt."""
    CLOSED = "closed"
    """Closed, and nothing will reconnect by itself; ``open()`` or a send connects again."""
    DISPOSED = "disposed"
    """Every stream has completed; queued sends still go out, then nothing connects again."""


@final
class Input(enum.Enum):
    """What happened to a socket."""

    OPEN = "open requested"
    """``open()``, or ``opened()``/``wait_open()``."""
    WANTED = "connection wanted"
    """A subscription to an event stream or a ``flushed()`` wait: connects like
    :data:`OPEN`, but never undoes a ``close()`` under way (one may subscribe to
    ``closes``, or wait for the queue to go out, to see it end)."""
    QUEUED = "frames queued"
    """A send (or push) added frames to the queue."""
    CLOSE = "close requested"
    """``close()`` or ``push()``, with nothing waiting in the queue."""
    CLOSE_AFTER_SENDS = "close requested, frames queued"
    """``close()`` or ``push()`` while frames wait in the queue."""
    DISPOSE = "dispose"
    """``dispose()``, with nothing waiting in the queue."""
    DISPOSE_AFTER_SENDS = "dispose, frames queued"
    """``dispose()`` while frames wait in the queue."""
    OPENED = "link opened"
    """The transport reports the connection open."""
    GREETED = "first frame"
    """The relay's first frame (our own join) arrived, or a second passed without one."""
    STEADY = "stayed up"
    """The connection stayed READY for ``Backoff.reset_after`` seconds."""
    DRAINED = "link drained"
    """The link refused a frame for backpressure and can take frames again."""
    RETRY = "retry due"
    """The backoff delay passed."""
    DROPPED = "link closed, may retry"
    """The link closed, and connecting again may help (see :func:`link_closed_input`)."""
    ENDED = "link closed, final"
    """The link closed, and connecting again cannot help or was not asked for."""
    REOPEN = "link closed as asked, open() since"
    """The link closed while REOPENING: ``open()`` came after the ``close()``."""


@final
class Action(enum.Enum):
    """What the socket does, in the order a transition lists them."""

    CONNECT = "connect"
    """Open a new link (a URL the transport refuses at once becomes :data:`Input.ENDED`)."""
    FLUSH = "flush"
    """Hand queued frames to the link, oldest first, until it refuses one."""
    CLOSE_IF_FLUSHED = "close if flushed"
    """Close the link if the queue is empty (else a later OPENED/DRAINED retries)."""
    FORGET_LINK = "forget link"
    """Drop the closed link and the timers that belonged to it (grace, steady)."""
    RESET_PRESENCE = "reset presence"
    """The roster and our uid belonged to the lost connection: clear them."""
    REPORT_OPEN = "report open"
    """Emit :class:`~rx_itty.events.Open` on ``opens``."""
    REPORT_CLOSE = "report close"
    """Emit the :class:`~rx_itty.events.Close` on ``closes``, not reconnecting."""
    REPORT_DROP = "report drop"
    """Emit the :class:`~rx_itty.events.Close` on ``closes``, reconnecting."""
    START_GRACE = "start grace"
    """Count a server that sends no join as greeted after one second."""
    STOP_GRACE = "stop grace"
    """Greeted by a frame: the grace period is no longer needed."""
    START_STEADY = "start steady"
    """Schedule :data:`Input.STEADY` after ``Backoff.reset_after`` seconds."""
    RESET_ATTEMPTS = "reset attempts"
    """The backoff starts over from its first delay."""
    SCHEDULE_RETRY = "schedule retry"
    """Schedule :data:`Input.RETRY` after the backoff delay, and count the attempt."""
    CANCEL_RETRY = "cancel retry"
    """Forget a scheduled retry."""
    RESOLVE_OPENED = "resolve opened"
    """Wake ``opened()``/``wait_open()`` waiters."""
    FAIL_OPENED = "fail opened"
    """Fail ``opened()`` waiters with the reason (the close, ``close()``, or disposal)."""
    FAIL_FLUSHED = "fail flushed"
    """Fail ``flushed()`` waiters whose frames are still queued."""
    DROP_UNSENT = "drop unsent"
    """Disposed and the last link is gone: log and discard what could not be sent."""
    RESOLVE_CLOSED = "resolve closed"
    """Wake waiters of ``aclose()``/``adispose()``/``with``: the link is gone for good."""
    COMPLETE_STREAMS = "complete streams"
    """Complete every stream (disposal)."""


@final
class Transition(NamedTuple):
    """One row's outcome: the next state and the actions to run, in order."""

    state: ConnectionState
    actions: tuple[Action, ...]


FINAL_STATUSES: Final = frozenset((400, 401, 403, 404))
"""Handshake statuses that reconnecting cannot fix: a bad request, a key, a path."""

# One-letter names keep each row on one line, readable as a table.
S, I, A = ConnectionState, Input, Action  # noqa: E741
_CLOSE_LINK: Final = (A.FLUSH, A.CLOSE_IF_FLUSHED)
_LOST: Final = (A.FORGET_LINK, A.RESET_PRESENCE)
_FINISHED: Final = (A.FAIL_OPENED, A.FAIL_FLUSHED, A.RESOLVE_CLOSED)
_DISPOSED: Final = (A.FAIL_OPENED, A.COMPLETE_STREAMS)


def _T(state: ConnectionState, *actions: Action) -> Transition:
    return Transition(state, actions)


def _closing_rows(s: ConnectionState) -> dict[tuple[ConnectionState, Input], Transition]:
    """The rows CLOSING and REOPENING share: every chance to write also closes once the
    queue is empty, and a link that ends for good ends in CLOSED."""
    i, a = Input, Action
    return {
        (s, i.QUEUED): _T(s, *_CLOSE_LINK),
        (s, i.OPENED): _T(s, a.FLUSH, a.REPORT_OPEN, a.CLOSE_IF_FLUSHED),
        (s, i.DRAINED): _T(s, *_CLOSE_LINK),
        (s, i.RETRY): _T(s, a.CONNECT),  # to deliver what the last link left
        (s, i.DISPOSE): _T(ConnectionState.DISPOSED, *_DISPOSED),
        (s, i.DISPOSE_AFTER_SENDS): _T(ConnectionState.DISPOSED, *_DISPOSED),
        (s, i.ENDED): _T(ConnectionState.CLOSED, *_LOST, a.REPORT_CLOSE, *_FINISHED),
    }


TABLE: Final[dict[tuple[ConnectionState, Input], Transition]] = {
    # -- never connected ----------------------------------------------------------------
    (S.IDLE, I.OPEN): _T(S.CONNECTING, A.CONNECT),
    (S.IDLE, I.QUEUED): _T(S.CONNECTING, A.CONNECT),
    (S.IDLE, I.WANTED): _T(S.CONNECTING, A.CONNECT),
    (S.IDLE, I.DISPOSE): _T(S.DISPOSED, A.COMPLETE_STREAMS),
    (S.IDLE, I.DISPOSE_AFTER_SENDS): _T(S.DISPOSED, A.COMPLETE_STREAMS, A.CONNECT),
    # -- connecting -------------------------------------------------------------------
    (S.CONNECTING, I.OPENED): _T(S.OPEN, A.FLUSH, A.REPORT_OPEN, A.START_GRACE),
    # Nothing queued: abandon the attempt. Frames queued: open, hand them over, close.
    (S.CONNECTING, I.CLOSE): _T(S.CLOSING, A.CLOSE_IF_FLUSHED),
    (S.CONNECTING, I.CLOSE_AFTER_SENDS): _T(S.CLOSING, A.CLOSE_IF_FLUSHED),
    (S.CONNECTING, I.DISPOSE): _T(S.DISPOSED, *_DISPOSED, A.CLOSE_IF_FLUSHED),
    (S.CONNECTING, I.DISPOSE_AFTER_SENDS): _T(S.DISPOSED, *_DISPOSED, A.CLOSE_IF_FLUSHED),
    (S.CONNECTING, I.DROPPED): _T(S.RECONNECTING, A.FORGET_LINK, A.REPORT_DROP, A.SCHEDULE_RETRY),
    (S.CONNECTING, I.ENDED): _T(S.CLOSED, A.FORGET_LINK, A.REPORT_CLOSE, *_FINISHED),
    # -- open, waiting for our own join ---------------------------------------------------
    (S.OPEN, I.QUEUED): _T(S.OPEN, A.FLUSH),
    (S.OPEN, I.DRAINED): _T(S.OPEN, A.FLUSH),
    (S.OPEN, I.GREETED): _T(S.READY, A.STOP_GRACE, A.RESOLVE_OPENED, A.START_STEADY),
    (S.OPEN, I.CLOSE): _T(S.CLOSING, *_CLOSE_LINK),
    (S.OPEN, I.CLOSE_AFTER_SENDS): _T(S.CLOSING, *_CLOSE_LINK),
    (S.OPEN, I.DISPOSE): _T(S.DISPOSED, *_DISPOSED, *_CLOSE_LINK),
    (S.OPEN, I.DISPOSE_AFTER_SENDS): _T(S.DISPOSED, *_DISPOSED, *_CLOSE_LINK),
    (S.OPEN, I.DROPPED): _T(S.RECONNECTING, *_LOST, A.REPORT_DROP, A.SCHEDULE_RETRY),
    (S.OPEN, I.ENDED): _T(S.CLOSED, *_LOST, A.REPORT_CLOSE, *_FINISHED),
    # -- ready --------------------------------------------------------------------------
    (S.READY, I.QUEUED): _T(S.READY, A.FLUSH),
    (S.READY, I.DRAINED): _T(S.READY, A.FLUSH),
    (S.READY, I.STEADY): _T(S.READY, A.RESET_ATTEMPTS),
    (S.READY, I.CLOSE): _T(S.CLOSING, *_CLOSE_LINK),
    (S.READY, I.CLOSE_AFTER_SENDS): _T(S.CLOSING, *_CLOSE_LINK),
    (S.READY, I.DISPOSE): _T(S.DISPOSED, *_DISPOSED, *_CLOSE_LINK),
    (S.READY, I.DISPOSE_AFTER_SENDS): _T(S.DISPOSED, *_DISPOSED, *_CLOSE_LINK),
    (S.READY, I.DROPPED): _T(S.RECONNECTING, *_LOST, A.REPORT_DROP, A.SCHEDULE_RETRY),
    (S.READY, I.ENDED): _T(S.CLOSED, *_LOST, A.REPORT_CLOSE, *_FINISHED),
    # -- closing as asked (CLOSING), then connecting again (REOPENING) -----------------------
    **_closing_rows(S.CLOSING),
    (S.CLOSING, I.OPEN): _T(S.REOPENING),  # the last call wins
    (S.CLOSING, I.DROPPED): _T(S.CLOSING, *_LOST, A.REPORT_DROP, A.SCHEDULE_RETRY),
    **_closing_rows(S.REOPENING),
    (S.REOPENING, I.CLOSE): _T(S.CLOSING),  # the last call wins
    (S.REOPENING, I.CLOSE_AFTER_SENDS): _T(S.CLOSING),
    (S.REOPENING, I.REOPEN): _T(
        S.CONNECTING, *_LOST, A.REPORT_CLOSE, A.RESOLVE_CLOSED, A.RESET_ATTEMPTS, A.CONNECT
    ),
    # -- waiting to reconnect (no link) -------------------------------------------------------
    (S.RECONNECTING, I.RETRY): _T(S.CONNECTING, A.CONNECT),
    (S.RECONNECTING, I.CLOSE): _T(S.CLOSED, A.CANCEL_RETRY, *_FINISHED),
    (S.RECONNECTING, I.CLOSE_AFTER_SENDS): _T(S.CLOSING, A.CANCEL_RETRY, A.CONNECT),
    (S.RECONNECTING, I.DISPOSE): _T(S.DISPOSED, A.CANCEL_RETRY, *_DISPOSED),
    (S.RECONNECTING, I.DISPOSE_AFTER_SENDS): _T(S.DISPOSED, A.CANCEL_RETRY, *_DISPOSED, A.CONNECT),
    # -- closed (no link) ---------------------------------------------------------------------
    (S.CLOSED, I.OPEN): _T(S.CONNECTING, A.RESET_ATTEMPTS, A.CONNECT),
    (S.CLOSED, I.QUEUED): _T(S.CONNECTING, A.RESET_ATTEMPTS, A.CONNECT),
    (S.CLOSED, I.WANTED): _T(S.CONNECTING, A.RESET_ATTEMPTS, A.CONNECT),
    (S.CLOSED, I.DISPOSE): _T(S.DISPOSED, A.COMPLETE_STREAMS),
    (S.CLOSED, I.DISPOSE_AFTER_SENDS): _T(S.DISPOSED, A.COMPLETE_STREAMS, A.CONNECT),
    # -- disposed: only delivering what is left -------------------------------------------------
    (S.DISPOSED, I.OPENED): _T(S.DISPOSED, *_CLOSE_LINK),
    (S.DISPOSED, I.DRAINED): _T(S.DISPOSED, *_CLOSE_LINK),
    (S.DISPOSED, I.RETRY): _T(S.DISPOSED, A.CONNECT),
    (S.DISPOSED, I.DROPPED): _T(S.DISPOSED, A.FORGET_LINK, A.SCHEDULE_RETRY),
    (S.DISPOSED, I.ENDED): _T(S.DISPOSED, A.FORGET_LINK, A.DROP_UNSENT, A.RESOLVE_CLOSED),
}
"""Every pair that does something; any other pair leaves the state as it is, with no action."""

del S, I, A


def step(state: ConnectionState, event: Input) -> Transition | None:
    """The row for ``state`` and ``event``, or ``None`` if the pair changes nothing."""
    return TABLE.get((state, event))


def close_input(unsent: bool) -> Input:
    """The input for ``close()``/``push()``: whether frames still wait in the queue."""
    return Input.CLOSE_AFTER_SENDS if unsent else Input.CLOSE


def dispose_input(unsent: bool) -> Input:
    """The input for ``dispose()``: whether frames still wait in the queue."""
    return Input.DISPOSE_AFTER_SENDS if unsent else Input.DISPOSE


def is_final(close: Close) -> bool:
    """True for a close that reconnecting cannot fix: a refused handshake or a policy close."""
    return close.rejected in FINAL_STATUSES or close.code == CloseCode.POLICY_VIOLATION


def link_closed_input(
    state: ConnectionState,
    close: Close,
    *,
    may_retry: bool,
    opened: bool,
    unsent: bool,
) -> Input:
    """Classify a link's close as :data:`Input.DROPPED`, :data:`Input.ENDED` or
    :data:`Input.REOPEN`.

    Args:
        state: The socket's state when the link closed.
        close: How it closed.
        may_retry: The socket reconnects at all, and its backoff has attempts left.
        opened: The link had opened before it closed.
        unsent: Frames still wait in the queue.

    While CLOSING or DISPOSED the close was asked for: it is a drop only when it
    left frames unsent on a link that had opened (a link that never opens is
    not retried then, so a dead server cannot keep a disposed socket busy).
    While REOPENING it is a reopen, whatever the backoff allows (the user asked),
    unless the close is final.
    """
    if is_final(close):
        return Input.ENDED
    if state is ConnectionState.REOPENING:
        return Input.REOPEN
    if not may_retry:
        return Input.ENDED
    if state is ConnectionState.CLOSING or state is ConnectionState.DISPOSED:
        return Input.DROPPED if opened and unsent else Input.ENDED
    return Input.DROPPED
