"""``IttySocket``: one channel as hot Observables of typed events, and a send sink.

All of a socket's state lives on its runtime's thread (an asyncio loop); public
methods may be called from any thread and marshal there. The send queue is the
only state shared across threads, behind a lock, so sends from one thread keep
their order and none is lost.

The connection lifecycle is the table in :mod:`rx_itty.lifecycle`: the socket
holds one :class:`ConnectionState` (``ch.state`` replays it), feeds each thing
that happens to it through :func:`rx_itty.lifecycle.step`, and runs the actions
the row lists. Inputs are handled one at a time, to completion: an input that
arises while a row's actions run (a subscriber calling ``close()`` from an
``opens`` callback) waits until they have finished.

Delivery: every frame goes through the queue; a frame leaves it only when an
open link took it (``Link.send`` returned True). A frame the link refused
(connecting, closing, or its write buffer above the high-water mark) stays at
the head and goes out, once, when the link drains or on the next connection. A
frame no link could ever take (``Link.send`` raised ``SerializationError``) is
dropped from the queue, reported on ``diagnostics`` and logged, so it cannot
hold back the frames behind it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import random
import threading
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self, final

import reactivex
from reactivex import abc
from reactivex.observer import Observer

from rx_itty._channel import ChannelStreams
from rx_itty._logging import gives_join_key, redact, without_query
from rx_itty._send_all import SendAll
from rx_itty.backoff import Backoff
from rx_itty.events import Close, Open, SendError
from rx_itty.exceptions import (
    ConnectionFailed,
    HandshakeRejected,
    InvalidOptionError,
    LoopThreadError,
    SendQueueFull,
    SerializationError,
    SocketDisposed,
)
from rx_itty.lifecycle import (
    Action,
    ConnectionState,
    Input,
    close_input,
    dispose_input,
    link_closed_input,
    step,
)
from rx_itty.presence import Presence
from rx_itty.runtime import Runtime
from rx_itty.streams import Stream
from rx_itty.transport import Link, Transport
from rx_itty.wire import check_recipient, encode_frame

__all__ = ["ConnectionState", "IttySocket"]

logger = logging.getLogger("rx_itty")

_GREETING_GRACE_SECONDS = 1.0
_WAKES_ON_SEND = (ConnectionState.IDLE, ConnectionState.CLOSED)
_WAIT_SECONDS = 10.0


@final
class _Listener:
    """Transport callbacks for one link; the socket ignores a link that is no longer its own.

    What the link has done so far is kept in which methods are installed, not in
    flags: ``on_frame`` handles the first frame (our own join) once, then frames
    go straight to the socket's dispatch; ``on_close`` knows whether the link opened.
    """

    __slots__ = ("_socket", "link", "on_close", "on_frame")

    def __init__(self, socket: IttySocket) -> None:
        self._socket = socket
        self.link: Link | None = None
        self.on_frame: Callable[[str | bytes], None] = self._first_frame
        self.on_close: Callable[[Close], None] = self._failed

    def _first_frame(self, data: str | bytes) -> None:
        socket = self._socket
        self.on_frame = socket._on_frame
        socket._on_frame(data)
        if self.link is socket._link:
            socket._feed(Input.GREETED)

    def on_open(self) -> None:
        self.on_close = self._closed
        if self.link is self._socket._link:
            self._socket._feed(Input.OPENED)

    def on_drain(self) -> None:
        if self.link is self._socket._link:
            self._socket._feed(Input.DRAINED)

    def _failed(self, close: Close) -> None:
        self._socket._link_closed(self, close, opened=False)

    def _closed(self, close: Close) -> None:
        self._socket._link_closed(self, close, opened=True)


@final
class IttySocket(ChannelStreams):
    """A channel: hot streams of its events, and ways to send to it.

    Create one with :func:`rx_itty.connect`. Nothing connects until the first
    subscription, send or :meth:`open`; the socket then stays open until
    :meth:`close`, :meth:`push` or the end of its ``with`` block.
    """

    __slots__ = (
        "_accept",
        "_attempt",
        "_backoff",
        "_closed_waiters",
        "_flush_waiters",
        "_handed",
        "_inputs",
        "_last_close",
        "_link",
        "_lock",
        "_max_queue",
        "_open_waiters",
        "_queue",
        "_queued",
        "_random",
        "_timers",
        "_transport",
        "url",
    )

    def __init__(
        self,
        url: str,
        *,
        transport: Transport,
        runtime: Runtime,
        reconnect: Backoff | None = None,
        max_queue: int = 100_000,
        random_source: Callable[[], float] = random.random,
    ) -> None:
        super().__init__(runtime)
        self.url = url
        self._transport = transport
        self._backoff = reconnect
        self._max_queue = max_queue
        self._random = random_source

        # The send queue, shared with other threads: guarded by _lock. Frames
        # ever queued and ever handed to a link, for flushed() waiters.
        self._lock = threading.Lock()
        self._queue: deque[str] = deque()
        self._queued = 0
        self._handed = 0
        # Where sends go: _enqueue until dispose() swaps in _refuse, on any thread.
        self._accept: Callable[[str], None] = self._enqueue

        # Runtime-thread only.
        self._inputs: list[tuple[Input, Close | None]] = []  # rarely more than one
        self._link: Link | None = None
        self._attempt = 0
        self._timers: dict[Input, abc.DisposableBase] = {}
        self._last_close: Close | None = None
        self._open_waiters: list[concurrent.futures.Future[None]] = []
        self._closed_waiters: list[concurrent.futures.Future[None]] = []
        self._flush_waiters: list[tuple[int, concurrent.futures.Future[None]]] = []

    def __repr__(self) -> str:
        return f"<IttySocket {self.display_url} {self.current_state.value}>"

    @property
    def display_url(self) -> str:
        """:attr:`url` without its query string, so keys never reach logs or messages."""
        return without_query(self.url)

    @property
    def queued(self) -> int:
        """Frames sent but not yet handed to a connection (like a browser WebSocket's
        ``bufferedAmount``, in frames): they wait in the queue, in order."""
        return len(self._queue)

    @property
    def scheduler(self) -> abc.SchedulerBase:
        """The clock this socket runs on (its loop, or virtual time in tests).

        Safe to schedule on from any thread; operators such as
        :func:`rx_itty.operators.request` use it for their timeouts.
        """
        return self._runtime.threadsafe_scheduler

    # -- sending -------------------------------------------------------------------

    def send(self, message: Any, to: str | None = None) -> Self:
        """Send a JSON value to the channel, or to one uid (a direct message).

        Before the socket is open, sends queue in order and flush on open; sending
        also opens the socket, or reopens it after :meth:`close` (as in JS).
        ``message`` is a plain JSON value or a model instance (see
        :func:`rx_itty.wire.encode_frame`).

        Raises:
            SerializationError: ``message`` is not a plain JSON value or a model, or
                ``to`` is not a non-empty uid (nothing is queued).
            SendQueueFull: ``max_queue`` frames are already waiting.
            SocketDisposed: the socket was disposed.
        """
        self._accept(encode_frame(message, to))
        return self

    def push(self, message: Any, to: str | None = None) -> Self:
        """Send, then close once the frame is handed over (opening first if needed).

        Unlike JS 0.9, this also closes an already-open socket, as its docs promise.
        A socket closed by ``push`` does not reconnect; while it waits to reconnect,
        it connects at once to deliver the frame.
        """
        self._accept(encode_frame(message, to))
        self._runtime.call(self._request_close)
        return self

    def send_all(self, source: reactivex.Observable[Any], to: str | None = None) -> Stream[int]:
        """Send every value of a finite Observable; emit how many once all were handed over.

        Cold: nothing is sent until the result is subscribed, awaited or run::

            sent = await ch.send_all(reactivex.from_iterable(readings))   # asyncio
            sent = ch.send_all(reactivex.from_iterable(readings)).run()   # a script

        The result emits the number of values, then completes, once the source has
        completed and every one of its frames has been handed to an open connection
        (what was handed over when a connection dies is not sent again; see the
        README's delivery guarantees). A source faster than the connection never
        overflows the queue: values that find it full (``max_queue`` frames) wait,
        in order, until the connection has taken half of it. Unsubscribing stops
        the sending; frames already in the queue still go out.

        Raises:
            SerializationError: ``to`` is not a uid (at the call, before anything is sent).

        Raises (as the stream's error):
            SerializationError, SocketDisposed: a value could not be queued; the source
                is unsubscribed and later values are not sent.
            ConnectionFailed: the socket closed for good with frames still queued.
            Exception: the source's own error.
        """

        if to is not None:
            check_recipient(to)

        def subscribe(
            observer: abc.ObserverBase[int], scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            return SendAll(self, observer, to).run(source)

        return Stream(subscribe, self._forbid_loop_thread, describe=self._describer("send_all()"))

    @property
    def sink(self) -> abc.ObserverBase[Any]:
        """An Observer that sends each value: ``source.subscribe(ch.sink)``.

        Values that cannot be sent are reported on :attr:`diagnostics`; the
        upstream completing or failing never closes the socket.
        """
        return self._sink(None)

    def sink_to(self, uid: str) -> abc.ObserverBase[Any]:
        """An Observer that sends each value as a direct message to ``uid``."""
        if not isinstance(uid, str) or not uid:
            raise InvalidOptionError(f"sink_to() needs a recipient uid, got {uid!r}")
        return self._sink(uid)

    def _sink(self, to: str | None) -> abc.ObserverBase[Any]:
        def on_next(value: Any) -> None:
            try:
                self.send(value, to)
            except Exception as exc:
                self._diagnostics.on_next(SendError(value, exc))
                logger.warning("sink could not send %s: %s", type(value).__name__, exc)

        def on_error(error: Exception) -> None:
            self._diagnostics.on_next(SendError(None, error))
            logger.warning("a stream subscribed to the sink failed: %r", error)

        return Observer(on_next, on_error)

    def _enqueue(self, frame: str) -> None:
        with self._lock:
            queue = self._queue
            if len(queue) >= self._max_queue:
                raise SendQueueFull(
                    f"{len(queue)} frames are already waiting to be sent to {self.display_url}; "
                    "wait for the socket to open (or a slow connection to drain), or raise "
                    "max_queue"
                )
            queue.append(frame)
            self._queued += 1
            # From another thread, one wake-up per batch: a queue that already held
            # frames is flushed by whatever put them there (a pending wake-up, the
            # link opening or draining), unless nothing is connecting at all.
            wake = len(queue) == 1 or self._state.latest in _WAKES_ON_SEND
        if self._runtime.on_thread():
            self._feed(Input.QUEUED)
        elif wake:
            self._runtime.call(self._request_flush)

    def _refuse(self, frame: str) -> None:
        raise SocketDisposed(
            "this socket was disposed (its 'with' block ended); create a new one with connect()"
        )

    # -- lifecycle: requests -------------------------------------------------------------

    def open(self) -> Self:
        """Connect if not connected; harmless when connecting or open (idempotent).

        While closing, the close finishes first (``closes`` reports it), then the
        socket connects again (its state is ``REOPENING`` meanwhile), unless
        :meth:`close` is called after this. (A new subscription connects an idle or
        closed socket, but not one that is closing: watching ``closes`` for a close
        just asked for must not undo it.)
        """
        self._runtime.call(self._request_open)
        return self

    def close(self) -> Self:
        """Close normally; no reconnect follows. Harmless when already closed.

        Queued sends are handed over first: while connecting, the socket closes
        right after it opens and flushes them (as in JS); while waiting to
        reconnect with sends queued, it connects at once to deliver them. Once closed,
        :meth:`open`, a send or a subscription connects again, keeping every
        subscription; while the close is under way, a send is still delivered
        before it (and does not reopen), and an ``open()`` (or ``opened()``)
        connects again once it has finished (state REOPENING).
        """
        self._runtime.call(self._request_close)
        return self

    def dispose(self) -> None:
        """Flush queued sends, close, and complete every stream. Idempotent.

        Sends after this raise :class:`~rx_itty.exceptions.SocketDisposed`, from any
        thread. Does not wait for the close to finish; ``with``, ``async with`` and
        :meth:`adispose` do.
        """
        self._accept = self._refuse
        self._runtime.call(self._request_dispose)

    def _request_open(self) -> None:
        self._feed(Input.OPEN)

    def _subscribed(self) -> None:
        self._runtime.call(self._request_subscribed)

    def _request_subscribed(self) -> None:
        self._feed(Input.WANTED)

    def _request_flush(self) -> None:
        self._feed(Input.QUEUED)

    def _request_close(self) -> None:
        self._feed(close_input(bool(self._queue)))

    def _request_dispose(self) -> None:
        self._feed(dispose_input(bool(self._queue)))

    # -- lifecycle: the machine ------------------------------------------------------------

    def _feed(self, event: Input, close: Close | None = None) -> None:
        """Handle ``event`` now, or after the input being handled (run to completion)."""
        inputs = self._inputs
        inputs.append((event, close))
        if len(inputs) > 1:
            return
        try:
            while inputs:
                event, close = inputs[0]
                state = self._state.latest
                row = step(state, event)
                if row is not None:
                    if row.state is not state:
                        self._state.on_next(row.state)
                    for action in row.actions:
                        _ACTIONS[action](self, event, close)
                del inputs[0]
        finally:
            inputs.clear()  # only non-empty if an action raised: never leave the machine stuck

    def _link_closed(self, listener: _Listener, close: Close, *, opened: bool) -> None:
        if listener.link is not self._link:
            return  # a link we already forgot
        if "=" in close.reason:  # a server's text may quote our URL, keys and all
            close = Close(close.code, redact(close.reason), close.rejected)
        backoff = self._backoff
        event = link_closed_input(
            self._state.latest,
            close,
            may_retry=backoff is not None and backoff.allows(self._attempt),
            opened=opened,
            unsent=bool(self._queue),
        )
        self._feed(event, close)

    def _start_timer(self, event: Input, seconds: float) -> None:
        def fire(scheduler: abc.SchedulerBase, state: Any = None) -> None:
            self._timers.pop(event, None)
            self._feed(event)

        self._cancel_timer(event)
        self._timers[event] = self._runtime.scheduler.schedule_relative(seconds, fire)

    def _cancel_timer(self, event: Input) -> None:
        timer = self._timers.pop(event, None)
        if timer is not None:
            timer.dispose()

    # -- lifecycle: the actions (see rx_itty.lifecycle.Action) ---------------------------------

    def _connect(self, event: Input, close: Close | None) -> None:
        listener = _Listener(self)
        try:
            link = self._transport.open(self.url, listener, self._runtime)
        except InvalidOptionError as exc:  # a URL no server can accept: final, no traceback
            self._feed(Input.ENDED, Close(None, str(exc)))
            return
        except Exception as exc:
            # A transport that cannot even start is a bug, not a network blip:
            # report it and stay closed rather than retry forever.
            logger.exception("transport failed to start a connection to %s", self.display_url)
            self._feed(Input.ENDED, Close(None, f"transport error: {exc}"))
            return
        listener.link = self._link = link

    def _flush(self, event: Input, close: Close | None) -> None:
        link = self._link
        if link is None:
            return
        queue = self._queue
        unsendable: list[tuple[str, SerializationError]] = []
        with self._lock:
            before = len(queue)
            while queue:
                try:
                    if not link.send(queue[0]):
                        break
                except SerializationError as exc:  # no link could ever take it
                    unsendable.append((queue[0], exc))
                queue.popleft()
            self._handed += before - len(queue)
        for frame, error in unsendable:  # outside the lock: a subscriber may send
            self._diagnostics.on_next(SendError(frame, error))
            logger.warning("dropped a frame no connection could take: %s", error)
        if self._flush_waiters:
            self._settle_flushed(None)

    def _close_if_flushed(self, event: Input, close: Close | None) -> None:
        if self._link is not None and not self._queue:
            self._link.close()

    def _forget_link(self, event: Input, close: Close | None) -> None:
        self._link = None
        self._cancel_timer(Input.GREETED)
        self._cancel_timer(Input.STEADY)

    def _reset_presence(self, event: Input, close: Close | None) -> None:
        if self._presence.latest != Presence():
            self._presence.on_next(Presence())

    def _report_open(self, event: Input, close: Close | None) -> None:
        self._opens.on_next(Open(self.display_url))

    def _report_close(self, event: Input, close: Close | None) -> None:
        assert close is not None  # reported only for a link's close
        self._last_close = close
        reconnecting = event is Input.DROPPED
        self._closes.on_next(Close(close.code, close.reason, close.rejected, reconnecting))

    def _start_grace(self, event: Input, close: Close | None) -> None:
        # A relay greets with our own join; a server that sends nothing still
        # counts as ready after a grace period.
        self._start_timer(Input.GREETED, _GREETING_GRACE_SECONDS)

    def _stop_grace(self, event: Input, close: Close | None) -> None:
        self._cancel_timer(Input.GREETED)

    def _start_steady(self, event: Input, close: Close | None) -> None:
        if self._backoff is not None:
            self._start_timer(Input.STEADY, self._backoff.reset_after)

    def _reset_attempts(self, event: Input, close: Close | None) -> None:
        self._attempt = 0

    def _schedule_retry(self, event: Input, close: Close | None) -> None:
        # link_closed_input() made this a drop only if the backoff allows the attempt.
        backoff = self._backoff
        delay = backoff.delay(self._attempt, self._random) if backoff is not None else None
        self._attempt += 1
        self._start_timer(Input.RETRY, delay or 0.0)

    def _cancel_retry(self, event: Input, close: Close | None) -> None:
        self._cancel_timer(Input.RETRY)

    def _resolve_opened(self, event: Input, close: Close | None) -> None:
        waiters, self._open_waiters = self._open_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _fail_opened(self, event: Input, close: Close | None) -> None:
        waiters, self._open_waiters = self._open_waiters, []
        error = self._failure(event, close)
        for waiter in waiters:
            if not waiter.done():
                waiter.set_exception(error)

    def _fail_flushed(self, event: Input, close: Close | None) -> None:
        reason = close.reason if close is not None and close.reason else "closed by close()"
        self._settle_flushed(
            ConnectionFailed(f"{self.display_url} closed for good with frames queued: {reason}")
        )

    def _drop_unsent(self, event: Input, close: Close | None) -> None:
        with self._lock:
            dropped = len(self._queue)
            self._queue.clear()
        if dropped:
            reason = close.reason if close is not None and close.reason else "no connection"
            logger.warning(
                "%d queued frame(s) for %s were not sent before the socket was disposed (%s)",
                dropped,
                self.display_url,
                reason,
            )
            self._settle_flushed(
                ConnectionFailed(
                    f"{dropped} queued frame(s) could not be sent to {self.display_url} "
                    f"before the socket was disposed: {reason}"
                )
            )

    def _complete(self, event: Input, close: Close | None) -> None:
        self._complete_streams()

    def _resolve_closed(self, event: Input, close: Close | None) -> None:
        waiters, self._closed_waiters = self._closed_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _failure(self, event: Input, close: Close | None) -> ConnectionFailed | SocketDisposed:
        """Why ``opened()`` waiters fail."""
        if event is Input.DISPOSE or event is Input.DISPOSE_AFTER_SENDS:
            return SocketDisposed("the socket was disposed before it opened")
        url = self.display_url
        if close is None:
            return ConnectionFailed(f"close() was called before {url} opened")
        if close.rejected is not None:
            given = gives_join_key(self.url)
            return HandshakeRejected(url, close.rejected, close.reason, key_given=given)
        detail = close.reason or (
            f"close code {close.code}" if close.code is not None else "no reason given"
        )
        return ConnectionFailed(f"connection to {url} closed before it was ready: {detail}")

    def _settle_flushed(self, error: Exception | None) -> None:
        """Resolve the flushed() waiters whose frames are handed over; fail the rest on error.

        A waiter's callback may register a new waiter (``send_all`` waiting for room):
        the list is replaced before any callback runs, so none is lost.
        """
        handed = self._handed
        pending = []
        settled: list[tuple[concurrent.futures.Future[None], Exception | None]] = []
        for target, waiter in self._flush_waiters:
            if waiter.done():
                continue
            if target <= handed:
                settled.append((waiter, None))
            elif error is not None:
                settled.append((waiter, error))
            else:
                pending.append((target, waiter))
        self._flush_waiters = pending
        for waiter, failure in settled:
            with contextlib.suppress(concurrent.futures.InvalidStateError):  # cancelled meanwhile
                if failure is None:
                    waiter.set_result(None)
                else:
                    waiter.set_exception(failure)

    # -- waiting -----------------------------------------------------------------------

    def _open_future(self) -> concurrent.futures.Future[None]:
        future: concurrent.futures.Future[None] = concurrent.futures.Future()

        def register() -> None:
            state = self._state.latest
            if state is ConnectionState.READY:
                future.set_result(None)
            elif state is ConnectionState.DISPOSED:
                future.set_exception(SocketDisposed("this socket was disposed"))
            else:
                self._open_waiters.append(future)
                self._feed(Input.OPEN)

        self._runtime.call(register)
        return future

    def _flushed_future(self, behind: int = 0) -> concurrent.futures.Future[None]:
        """Resolved once every frame queued before this call, but the last ``behind`` of
        them, has been handed over (``behind=0``: all of them)."""
        future: concurrent.futures.Future[None] = concurrent.futures.Future()
        with self._lock:
            target = self._queued - behind

        def register() -> None:
            if self._handed >= target:
                future.set_result(None)
                return
            self._flush_waiters.append((target, future))
            self._feed(Input.WANTED)  # connect if needed, never undoing a close()

        self._runtime.call(register)
        return future

    def _closed_future(self) -> concurrent.futures.Future[None]:
        future: concurrent.futures.Future[None] = concurrent.futures.Future()

        def register() -> None:
            if self._link is None and Input.RETRY not in self._timers:
                future.set_result(None)
            else:
                self._closed_waiters.append(future)

        self._runtime.call(register)
        return future

    def _timeout_error(self, timeout: float | None) -> ConnectionFailed:
        last = self._last_close
        detail = f" (last attempt: {last.reason or last.code})" if last is not None else ""
        return ConnectionFailed(f"could not open {self.display_url} within {timeout} s{detail}")

    async def opened(self, timeout: float | None = None) -> Self:  # noqa: ASYNC109
        """Open if needed and wait until the socket is READY: open and greeted.

        Ready means the relay's first frame, our own join, has been processed, so
        :attr:`uid` and :attr:`current_presence` are set (a server that sends no
        join counts as ready one second after opening).

        Raises:
            HandshakeRejected: the server refused (e.g. 403 for a wrong join key).
            ConnectionFailed: closed before opening with no reconnect, or ``timeout`` passed.
            SocketDisposed: the socket was disposed.
        """
        try:
            await _wait(self._open_future(), timeout)
        except TimeoutError:
            raise self._timeout_error(timeout) from None
        return self

    def wait_open(self, timeout: float | None = None) -> Self:
        """Blocking :meth:`opened`, for scripts and threads.

        Raises:
            LoopThreadError: called on the socket's own loop thread or inside another
                running loop (use ``await ch.opened()``), or on a socket in virtual time
                that is not ready yet (advance its scheduler instead).
            HandshakeRejected, ConnectionFailed, SocketDisposed: as :meth:`opened`.
        """
        try:
            self._block_on(self._open_future, timeout, "wait_open()", "await ch.opened()")
        except concurrent.futures.TimeoutError:
            raise self._timeout_error(timeout) from None
        return self

    async def flushed(self, timeout: float | None = None) -> Self:  # noqa: ASYNC109
        """Wait until every frame sent before this call has been handed to an open connection.

        Opens the socket if needed. Handed over is not received: a frame is then in
        the connection's write buffer (up to the transport's ``write_limit``) or the
        kernel's, and a connection cut before the relay read it loses it (it is not
        sent again). For a receipt, have the peer answer.

        Raises:
            ConnectionFailed: the socket closed for good (or was disposed) with those
                frames still queued, or ``timeout`` passed.
        """
        try:
            await _wait(self._flushed_future(), timeout)
        except TimeoutError:
            raise self._flush_timeout(timeout) from None
        return self

    def wait_flushed(self, timeout: float | None = None) -> Self:
        """Blocking :meth:`flushed`, for scripts and threads.

        Raises:
            LoopThreadError: as :meth:`wait_open` (use ``await ch.flushed()``).
            ConnectionFailed: as :meth:`flushed`.
        """
        try:
            self._block_on(self._flushed_future, timeout, "wait_flushed()", "await ch.flushed()")
        except concurrent.futures.TimeoutError:
            raise self._flush_timeout(timeout) from None
        return self

    def _block_on(
        self,
        waiter: Callable[[], concurrent.futures.Future[None]],
        timeout: float | None,
        what: str,
        instead: str,
    ) -> None:
        """Wait for ``waiter()``'s future, where blocking may wait for anything at all.

        In virtual time nothing moves while the caller waits: what is already
        settled is returned (or raised) at once, anything else raises.
        """
        if self._runtime.loop is not None:
            self._forbid_loop_thread(what, instead)
            waiter().result(timeout)
            return
        future = waiter()  # virtual time: whatever can happen now has happened
        if not future.done():
            future.cancel()
            self._forbid_loop_thread(what, instead)
        future.result(0)

    def _flush_timeout(self, timeout: float | None) -> ConnectionFailed:
        return ConnectionFailed(
            f"queued frames were not handed to {self.display_url} within {timeout} s; "
            "check that it is reachable, or wait longer"
        )

    # -- closing and disposal ----------------------------------------------------------------

    def _wait_closed(self, timeout: float) -> None:
        """Block until the link is gone for good (scripts; never on the socket's loop)."""
        if self._runtime.on_thread():
            return
        try:
            self._closed_future().result(timeout)
        except concurrent.futures.TimeoutError:
            logger.warning("socket to %s did not close within %s s", self.display_url, timeout)

    async def _await_closed(self, timeout: float) -> None:  # noqa: ASYNC109
        try:
            await _wait(self._closed_future(), timeout)
        except TimeoutError:
            logger.warning("socket to %s did not close within %s s", self.display_url, timeout)

    async def aclose(self, timeout: float = _WAIT_SECONDS) -> None:  # noqa: ASYNC109
        """:meth:`close`, then wait until the connection has closed (queued sends handed over).

        The socket stays usable: a later send, ``open()`` or subscription reconnects.
        """
        self.close()
        await self._await_closed(timeout)

    async def adispose(self, timeout: float = _WAIT_SECONDS) -> None:  # noqa: ASYNC109
        """:meth:`dispose`, then wait until queued sends are out and the connection closed.

        Unlike ``async with``, this never opens the socket first.
        """
        self.dispose()
        await self._await_closed(timeout)

    def __enter__(self) -> Self:
        """Leaving the block flushes and closes, waiting for it: for scripts and threads.

        Raises:
            LoopThreadError: on the socket's own event loop (async code, a notebook
                cell), where that wait would freeze the loop: use ``async with``.
        """
        if self._runtime.loop is not None and self._runtime.on_thread():
            raise LoopThreadError(
                "a plain 'with' would block the event loop this socket runs on when it "
                "flushes on leaving; use 'async with connect(...)' here"
            )
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.dispose()
        # Give queued sends their chance to leave before the script moves on.
        self._wait_closed(_WAIT_SECONDS)

    async def __aenter__(self) -> Self:
        """Open and wait until READY. If that fails or is cancelled (a timeout around the
        ``async with``), the socket is disposed: no block will, and it must not go on
        reconnecting with nobody holding it."""
        try:
            return await self.opened()
        except BaseException:
            self.dispose()
            raise

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.adispose()


# What each action of the lifecycle table runs; one table for every socket.
_ACTIONS: dict[Action, Callable[[IttySocket, Input, Close | None], None]] = {
    Action.CONNECT: IttySocket._connect,
    Action.FLUSH: IttySocket._flush,
    Action.CLOSE_IF_FLUSHED: IttySocket._close_if_flushed,
    Action.FORGET_LINK: IttySocket._forget_link,
    Action.RESET_PRESENCE: IttySocket._reset_presence,
    Action.REPORT_OPEN: IttySocket._report_open,
    Action.REPORT_CLOSE: IttySocket._report_close,
    Action.REPORT_DROP: IttySocket._report_close,
    Action.START_GRACE: IttySocket._start_grace,
    Action.STOP_GRACE: IttySocket._stop_grace,
    Action.START_STEADY: IttySocket._start_steady,
    Action.RESET_ATTEMPTS: IttySocket._reset_attempts,
    Action.SCHEDULE_RETRY: IttySocket._schedule_retry,
    Action.CANCEL_RETRY: IttySocket._cancel_retry,
    Action.RESOLVE_OPENED: IttySocket._resolve_opened,
    Action.FAIL_OPENED: IttySocket._fail_opened,
    Action.FAIL_FLUSHED: IttySocket._fail_flushed,
    Action.DROP_UNSENT: IttySocket._drop_unsent,
    Action.RESOLVE_CLOSED: IttySocket._resolve_closed,
    Action.COMPLETE_STREAMS: IttySocket._complete,
}


async def _wait(future: concurrent.futures.Future[None], timeout: float | None) -> None:  # noqa: ASYNC109
    # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
    # that lands as the future completes.
    async with asyncio.timeout(timeout):
        await asyncio.wrap_future(future)
