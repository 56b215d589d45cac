"""``IttySocket``: one channel as hot Observables of typed events, and a send sink.

All of a socket's state lives on its runtime's thread (an asyncio loop); public
methods may be called from any thread and marshal there. The send queue is the
only state shared across threads, behind a lock, so sends from one thread keep
their order and none is lost.

Lifecycle (``ch.state`` replays the current one)::

    IDLE --open/send/subscribe--> CONNECTING --opened--> OPEN --close()--> CLOSING
                                   ^      |                |                  |
                       retry due   |      | failed         | lost             v
                                   |      v                v                CLOSED
                                   +-- RECONNECTING <------+        (open/send/subscribe
                                        (backoff)                    connects again)

    any state --dispose()--> DISPOSED: queued sends are flushed first, then every
    stream completes and nothing connects again.

A close that reconnecting cannot fix ends in CLOSED instead of RECONNECTING:
``close()``, ``push()``, a handshake refused with HTTP 400, 401, 403 or 404, a
1008 policy close, or a ``Backoff`` whose ``max_attempts`` are used up.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import enum
import logging
import random
import threading
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import Any, Literal, Self, TypeVar, final, overload

from reactivex import abc
from reactivex.disposable import SingleAssignmentDisposable
from reactivex.observer import Observer

from rx_itty._hub import Hub
from rx_itty._logging import without_query
from rx_itty.backoff import Backoff
from rx_itty.events import (
    Close,
    Diagnostic,
    Event,
    Join,
    Leave,
    ListenerError,
    Message,
    Open,
    PayloadError,
    SendError,
    ServerError,
    Signal,
    Uid,
)
from rx_itty.exceptions import (
    ConnectionFailed,
    HandshakeRejected,
    InvalidOptionError,
    LoopThreadError,
    SendQueueFull,
    SocketDisposed,
)
from rx_itty.models import decoder_for
from rx_itty.presence import Presence
from rx_itty.runtime import Runtime
from rx_itty.streams import Stream
from rx_itty.transport import Link, Transport
from rx_itty.wire import CloseCode, decode_frame, encode_frame

__all__ = ["ConnectionState", "IttySocket"]

logger = logging.getLogger("rx_itty")

M = TypeVar("M")

_GREETING_GRACE_SECONDS = 1.0
# Handshake statuses that retrying cannot fix: bad request, keys, path.
_FINAL_STATUSES = frozenset((400, 401, 403, 404))
_RESERVED_KEYS = frozenset(("*", "message", "join", "leave", "error", "open", "close"))


class ConnectionState(enum.Enum):
    """Where a socket is in its lifecycle; ``IttySocket.state`` replays the current one."""

    IDLE = "idle"
    CONNECTING = "connecting"
    OPEN = "open"
    CLOSING = "closing"
    RECONNECTING = "reconnecting"
    CLOSED = "closed"
    DISPOSED = "disposed"


@final
class _Listener:
    """Transport callbacks for one link, ignored once that link is stale."""

    __slots__ = ("_socket", "generation", "on_frame")

    def __init__(self, socket: IttySocket, generation: int) -> None:
        self._socket = socket
        self.generation = generation
        # The first frame (our own join) is special; after it, frames go straight
        # to the socket's dispatch with no per-frame check.
        self.on_frame: Callable[[str | bytes], None] = self._first_frame

    def _first_frame(self, data: str | bytes) -> None:
        socket = self._socket
        self.on_frame = socket._on_frame
        socket._on_frame(data)
        if socket._generation == self.generation:
            socket._greet()

    def on_open(self) -> None:
        if self._socket._generation == self.generation:
            self._socket._on_open()

    def on_close(self, close: Close) -> None:
        if self._socket._generation == self.generation:
            self._socket._on_close(close)


@final
class IttySocket:
    """A channel: hot streams of its events, and ways to send to it.

    Create one with :func:`rx_itty.connect`. Nothing connects until the first
    subscription, send or :meth:`open`; the socket then stays open until
    :meth:`close`, :meth:`push` or the end of its ``with`` block.
    """

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
        self.url = url
        self._transport = transport
        self._runtime = runtime
        self._backoff = reconnect
        self._max_queue = max_queue
        self._random = random_source

        report = self._report_listener_error
        self._all: Hub[Event] = Hub(report)
        self._messages: Hub[Message[Any]] = Hub(report)
        self._typed: dict[str, Hub[Message[Any]]] = {}
        self._joins: Hub[Join] = Hub(report)
        self._leaves: Hub[Leave] = Hub(report)
        self._errors: Hub[ServerError] = Hub(report)
        self._signals: Hub[Signal] = Hub(report)
        self._opens: Hub[Open] = Hub(report)
        self._closes: Hub[Close] = Hub(report)
        self._diagnostics: Hub[Diagnostic] = Hub(self._report_diagnostic_failure)
        self._state: Hub[ConnectionState] = Hub(report, replay=True, initial=ConnectionState.IDLE)
        self._presence: Hub[Presence] = Hub(report, replay=True, initial=Presence())

        # Shared with other threads: guarded by _lock.
        self._lock = threading.Lock()
        self._queue: deque[str] = deque()
        self._flush_scheduled = False
        self._close_after_flush = False
        self._disposed = False

        # Runtime-thread only.
        self._finished = False  # _dispose ran: never connect again except to flush
        self._link: Link | None = None
        self._link_open = False
        self._link_opened = False  # the current/last link reached on_open
        self._generation = 0
        self._user_closed = False
        self._attempt = 0
        self._timer: abc.DisposableBase | None = None
        self._grace: abc.DisposableBase | None = None
        self._greeted = False  # the current link delivered its first frame (our join)
        self._last_close: Close | None = None
        self._waiters: list[concurrent.futures.Future[None]] = []
        self._closed_waiters: list[concurrent.futures.Future[None]] = []

    def __repr__(self) -> str:
        return f"<IttySocket {self.display_url} {self.current_state.value}>"

    # -- streams ---------------------------------------------------------------

    def _stream(self, hub: Hub[Any], *, opens: bool = True, replay: bool = False) -> Stream[Any]:
        runtime = self._runtime

        def subscribe(
            observer: abc.ObserverBase[Any], scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            if replay and not runtime.on_thread():
                # Replay on the emitting thread, so a newer value can never overtake it.
                holder = SingleAssignmentDisposable()
                runtime.call(lambda: holder.set_disposable(hub.subscribe(observer)))
                disposable: abc.DisposableBase = holder
            else:
                disposable = hub.subscribe(observer)
            if opens:
                self.open()
            return disposable

        return Stream(subscribe, runtime.on_thread)

    @property
    def events(self) -> Stream[Event]:
        """Every protocol event (JS ``'*'``): messages, joins, leaves, errors, signals."""
        return self._stream(self._all)

    @property
    def messages(self) -> Stream[Message[Any]]:
        """Every user message, typed or not (JS ``'message'``)."""
        return self._stream(self._messages)

    @property
    def joins(self) -> Stream[Join]:
        """Join events from the relay (our own first, ``is_self=True``)."""
        return self._stream(self._joins)

    @property
    def leaves(self) -> Stream[Leave]:
        """Leave events from the relay."""
        return self._stream(self._leaves)

    @property
    def errors(self) -> Stream[ServerError]:
        """``error`` events from the relay (unknown DM recipient, send key, limits)."""
        return self._stream(self._errors)

    @property
    def signals(self) -> Stream[Signal]:
        """Frames with another top-level ``type`` (raw-mode servers)."""
        return self._stream(self._signals)

    @property
    def opens(self) -> Stream[Open]:
        """Lifecycle: each time a connection opens (after queued sends are flushed)."""
        return self._stream(self._opens)

    @property
    def closes(self) -> Stream[Close]:
        """Lifecycle: each time a connection closes or fails to open."""
        return self._stream(self._closes)

    @property
    def diagnostics(self) -> Stream[Diagnostic]:
        """Local trouble, reported instead of raised: bad frames, payloads that did not
        fit a model, subscribers that raised, sink values that could not be sent.
        Subscribing does not open the socket."""
        return self._stream(self._diagnostics, opens=False)

    @property
    def state(self) -> Stream[ConnectionState]:
        """The connection state, replaying the current one; subscribing does not open."""
        return self._stream(self._state, opens=False, replay=True)

    @property
    def presence(self) -> Stream[Presence]:
        """Who is here (our identity, ``total``, announced users), replaying the latest."""
        return self._stream(self._presence, replay=True)

    @property
    def current_state(self) -> ConnectionState:
        """The connection state right now."""
        return self._state.latest

    @property
    def current_presence(self) -> Presence:
        """The latest presence (empty until our own join arrives)."""
        return self._presence.latest

    @property
    def display_url(self) -> str:
        """:attr:`url` without its query string, so keys never reach logs or messages."""
        return without_query(self.url)

    @property
    def scheduler(self) -> abc.SchedulerBase:
        """The clock this socket runs on (its loop, or virtual time in tests).

        Safe to schedule on from any thread; operators such as
        :func:`rx_itty.operators.request` use it for their timeouts.
        """
        return self._runtime.threadsafe_scheduler

    @property
    def uid(self) -> Uid | None:
        """Our uid on the current connection (a reconnect brings a new one)."""
        me = self._presence.latest.me
        return me.uid if me is not None else None

    @overload
    def on(self, key: Literal["*"]) -> Stream[Event]: ...  # type: ignore[overload-overlap]
    @overload
    def on(self, key: Literal["join"]) -> Stream[Join]: ...  # type: ignore[overload-overlap]
    @overload
    def on(self, key: Literal["leave"]) -> Stream[Leave]: ...  # type: ignore[overload-overlap]
    @overload
    def on(self, key: Literal["error"]) -> Stream[ServerError]: ...  # type: ignore[overload-overlap]
    @overload
    def on(self, key: Literal["open"]) -> Stream[Open]: ...  # type: ignore[overload-overlap]
    @overload
    def on(self, key: Literal["close"]) -> Stream[Close]: ...  # type: ignore[overload-overlap]
    @overload
    def on(self, key: str) -> Stream[Message[Any]]: ...
    @overload
    def on(self, key: str, model: type[M] | Callable[[Any], M]) -> Stream[Message[M]]: ...
    @overload
    def on(self, key: Callable[[Event], bool]) -> Stream[Event]: ...

    def on(
        self,
        key: str | Callable[[Event], bool],
        model: type[Any] | Callable[[Any], Any] | None = None,
    ) -> Stream[Any]:
        """A stream by JS listener key, payload ``type``, or filter function.

        - ``"*"``, ``"message"``, ``"join"``, ``"leave"``, ``"error"``, ``"open"``,
          ``"close"``: as in the JS client (system events only from the envelope).
        - any other string: user messages whose payload ``type`` equals it.
        - a function: every event for which it returns true (an exception it
          raises is reported on :attr:`diagnostics` and the event skipped).
        - ``model``: decode the payload into a dataclass, pydantic model, msgspec
          Struct or function result; payloads that do not fit go to :attr:`diagnostics`.

        Raises:
            InvalidOptionError: an empty key, or a model with a system event key.
        """
        if callable(key):
            return self._filtered(key)
        if not isinstance(key, str) or not key:
            raise InvalidOptionError(
                f"on() takes a non-empty event key or a filter function, got {key!r}"
            )
        if model is not None:
            if key in _RESERVED_KEYS and key != "message":
                raise InvalidOptionError(
                    f"on({key!r}, model): models decode user message payloads; "
                    "use a payload type such as on('chat', Chat) or on('message', Chat)"
                )
            source = self._messages if key == "message" else self._typed_hub(key)
            return self._decoded(source, model)
        hubs: dict[str, Hub[Any]] = {
            "*": self._all,
            "message": self._messages,
            "join": self._joins,
            "leave": self._leaves,
            "error": self._errors,
            "open": self._opens,
            "close": self._closes,
        }
        return self._stream(hubs.get(key) or self._typed_hub(key))

    def _typed_hub(self, kind: str) -> Hub[Message[Any]]:
        hub = self._typed.get(kind)
        if hub is None:
            hub = self._typed.setdefault(kind, Hub(self._report_listener_error))
        return hub

    def _filtered(self, predicate: Callable[[Event], bool]) -> Stream[Event]:
        events = self._stream(self._all)

        def subscribe(
            observer: abc.ObserverBase[Event], scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            def on_next(event: Event) -> None:
                try:
                    keep = predicate(event)
                except Exception as exc:
                    self._diagnostics.on_next(ListenerError(event, exc))
                    return
                if keep:
                    observer.on_next(event)

            return events.subscribe(on_next, observer.on_error, observer.on_completed)

        return Stream(subscribe, self._runtime.on_thread)

    def _decoded(
        self, hub: Hub[Message[Any]], model: type[Any] | Callable[[Any], Any]
    ) -> Stream[Message[Any]]:
        decode = decoder_for(model)
        source = self._stream(hub)

        def subscribe(
            observer: abc.ObserverBase[Message[Any]], scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            def on_next(event: Message[Any]) -> None:
                try:
                    value = decode(event.message)
                except Exception as exc:
                    self._diagnostics.on_next(PayloadError(event, model, exc))
                    return
                observer.on_next(Message(value, event.uid, event.alias, event.date, event.raw))

            return source.subscribe(on_next, observer.on_error, observer.on_completed)

        return Stream(subscribe, self._runtime.on_thread)

    # -- sending -------------------------------------------------------------------

    def send(self, message: Any, to: str | None = None) -> Self:
        """Send a JSON value to the channel, or to one uid (a direct message).

        Before the socket is open, sends queue in order and flush on open; sending
        also opens the socket, or reopens it after :meth:`close` (as in JS).

        Raises:
            SerializationError: ``message`` is not JSON-serialisable (nothing is queued).
            SendQueueFull: ``max_queue`` frames are already waiting.
            SocketDisposed: the socket was disposed.
        """
        self._enqueue(encode_frame(message, to), close_after=False)
        return self

    def push(self, message: Any, to: str | None = None) -> Self:
        """Send, then close once the frame is handed over (opening first if needed).

        Unlike JS 0.9, this also closes an already-open socket, as its docs promise.
        A socket closed by ``push`` does not reconnect.
        """
        self._enqueue(encode_frame(message, to), close_after=True)
        return self

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

    def _enqueue(self, frame: str, *, close_after: bool) -> None:
        with self._lock:
            if self._disposed:
                raise SocketDisposed(
                    "this socket was disposed (its 'with' block ended); create a new one "
                    "with connect()"
                )
            if len(self._queue) >= self._max_queue:
                raise SendQueueFull(
                    f"{len(self._queue)} frames are already waiting to be sent to "
                    f"{self.display_url}; wait for the socket to open, or raise max_queue"
                )
            self._queue.append(frame)
            if close_after:
                self._close_after_flush = True
            if self._flush_scheduled:
                return
            self._flush_scheduled = True
        self._runtime.call(self._flush)

    def _take_queue(self) -> tuple[list[str], bool]:
        with self._lock:
            self._flush_scheduled = False
            frames = list(self._queue)
            self._queue.clear()
            close_after, self._close_after_flush = self._close_after_flush, False
        return frames, close_after

    def _flush(self) -> None:
        if not self._link_open:
            with self._lock:
                self._flush_scheduled = False
            if self._timer is None:  # a pending reconnect keeps its backoff: just queue
                self._open()
            return
        frames, close_after = self._take_queue()
        link = self._link
        assert link is not None
        for frame in frames:
            link.send(frame)
        if close_after:
            self._close_link()

    # -- lifecycle -------------------------------------------------------------------

    def open(self) -> Self:
        """Connect if not connected; harmless when connecting or open (idempotent)."""
        self._runtime.call(self._open)
        return self

    def close(self) -> Self:
        """Close normally; no reconnect follows. Harmless when already closed.

        While connecting, the socket closes right after it opens and flushes
        queued sends (as in JS). A later :meth:`open`, send or subscription
        connects again, keeping every subscription.
        """
        self._runtime.call(self._close)
        return self

    def _set_state(self, state: ConnectionState) -> None:
        if self._state.latest is not state and self._state.latest is not ConnectionState.DISPOSED:
            self._state.on_next(state)

    def _open(self) -> None:
        if self._finished or self._link is not None:
            return
        self._cancel_timer()
        self._user_closed = False
        self._connect()

    def _connect(self) -> None:
        self._generation += 1
        self._link_opened = False
        self._greeted = False
        self._set_state(ConnectionState.CONNECTING)
        listener = _Listener(self, self._generation)
        try:
            self._link = self._transport.open(self.url, listener, self._runtime)
        except Exception as exc:
            # A transport that cannot even start is a bug, not a network blip:
            # report it and stay closed rather than retry forever.
            logger.exception("transport failed to start a connection")
            self._on_close(Close(None, f"transport error: {exc}"), final=True)

    def _close(self) -> None:
        self._user_closed = True
        self._cancel_timer()
        if self._link is None:
            self._set_state(
                ConnectionState.CLOSED
                if self._state.latest is not ConnectionState.IDLE
                else ConnectionState.IDLE
            )
            self._fail_waiters(Close(None, "closed by close() before the connection opened"))
            self._resolve_closed()
            return
        if self._link_open:
            self._close_link()
        else:
            self._close_while_connecting()

    def _close_while_connecting(self) -> None:
        with self._lock:
            pending = bool(self._queue)
            self._close_after_flush = pending
        if not pending and self._link is not None:
            # Nothing to deliver: abandon the attempt rather than wait out a
            # server that may never answer (on_close follows).
            self._link.close(CloseCode.NORMAL, "")

    def _close_link(self) -> None:
        self._user_closed = True
        if self._link is not None and self._link_open:
            # Frames sent from now on wait in the queue for the next connection.
            self._link_open = False
            self._set_state(ConnectionState.CLOSING)
            self._link.close(CloseCode.NORMAL, "")

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.dispose()
            self._timer = None

    def _on_open(self) -> None:
        self._link_open = True
        self._link_opened = True
        self._attempt = 0
        self._set_state(ConnectionState.OPEN)
        frames, close_after = self._take_queue()
        link = self._link
        assert link is not None
        for frame in frames:
            link.send(frame)
        self._opens.on_next(Open(self.display_url))
        if not self._greeted:
            # A relay greets with our own join; a server that sends nothing
            # still counts as ready after a grace period.
            self._grace = self._runtime.scheduler.schedule_relative(
                _GREETING_GRACE_SECONDS, self._greet_after_grace
            )
        if close_after:
            self._close_link()

    def _greet_after_grace(self, scheduler: abc.SchedulerBase, state: Any = None) -> None:
        self._grace = None
        self._greet()

    def _greet(self) -> None:
        """The connection is ready: open, and our own join (if any) is processed."""
        self._greeted = True
        if self._grace is not None:
            self._grace.dispose()
            self._grace = None
        if not self._link_open:
            return
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _on_close(self, close: Close, *, final: bool = False) -> None:
        self._link = None
        self._link_open = False
        if self._grace is not None:
            self._grace.dispose()
            self._grace = None
        self._last_close = close
        if self._presence.latest != Presence():
            self._presence.on_next(Presence())
        delay = None if final else self._reconnect_delay(close)
        self._closes.on_next(
            Close(close.code, close.reason, close.rejected, reconnecting=delay is not None)
        )
        if delay is not None:
            self._set_state(ConnectionState.RECONNECTING)
            self._attempt += 1
            self._timer = self._runtime.scheduler.schedule_relative(delay, self._reconnect)
            return
        if self._user_closed and self._link_opened and self._queue:
            # Sent after close() (or after dispose began): nothing is dropped, so
            # connect again to deliver them, as a send after close does in JS.
            self._connect()
            return
        with self._lock:
            self._close_after_flush = False  # a push that never got through is over (as in JS)
        self._set_state(ConnectionState.CLOSED)
        self._fail_waiters(close)
        self._resolve_closed()

    def _reconnect_delay(self, close: Close) -> float | None:
        if self._user_closed or self._finished or self._backoff is None:
            return None
        if close.rejected in _FINAL_STATUSES or close.code == CloseCode.POLICY_VIOLATION:
            return None
        return self._backoff.delay(self._attempt, self._random)

    def _reconnect(self, scheduler: abc.SchedulerBase, state: Any = None) -> None:
        self._timer = None
        if self._link is None and not self._user_closed and not self._finished:
            self._connect()

    def _fail_waiters(self, close: Close) -> None:
        waiters, self._waiters = self._waiters, []
        error = self._open_error(close)
        for waiter in waiters:
            if not waiter.done():
                waiter.set_exception(error)

    def _open_error(self, close: Close) -> ConnectionFailed:
        url = self.display_url
        if close.rejected is not None:
            return HandshakeRejected(url, close.rejected, close.reason)
        return ConnectionFailed(f"connection to {url} closed before it opened: {close.reason}")

    def _resolve_closed(self) -> None:
        waiters, self._closed_waiters = self._closed_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    # -- waiting -----------------------------------------------------------------------

    def _open_future(self) -> concurrent.futures.Future[None]:
        future: concurrent.futures.Future[None] = concurrent.futures.Future()

        def register() -> None:
            if self._link_open and self._greeted:
                future.set_result(None)
            elif self._finished:
                future.set_exception(SocketDisposed("this socket was disposed"))
            else:
                self._waiters.append(future)
                self._open()

        self._runtime.call(register)
        return future

    def _timeout_error(self, timeout: float | None) -> ConnectionFailed:
        last = self._last_close
        detail = f" (last attempt: {last.reason or last.code})" if last is not None else ""
        return ConnectionFailed(f"could not open {self.display_url} within {timeout} s{detail}")

    async def opened(self, timeout: float | None = None) -> Self:  # noqa: ASYNC109
        """Open if needed and wait until the socket is open and greeted.

        Ready means the relay's first frame, our own join, has been processed, so
        :attr:`uid` and :attr:`current_presence` are set (a server that sends no
        join counts as ready one second after opening).

        Raises:
            HandshakeRejected: the server refused (e.g. 403 for a wrong join key).
            ConnectionFailed: closed before opening with no reconnect, or ``timeout`` passed.
        """
        future = asyncio.wrap_future(self._open_future())
        try:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a
            # cancellation that lands as the future completes.
            async with asyncio.timeout(timeout):
                await future
        except TimeoutError:
            raise self._timeout_error(timeout) from None
        return self

    def wait_open(self, timeout: float | None = None) -> Self:
        """Blocking :meth:`opened`, for scripts and threads.

        Raises:
            LoopThreadError: called on the socket's own loop thread (use ``await ch.opened()``).
            HandshakeRejected, ConnectionFailed: as :meth:`opened`.
        """
        self._forbid_loop_thread("wait_open()", "await ch.opened()")
        try:
            self._open_future().result(timeout)
        except concurrent.futures.TimeoutError:
            raise self._timeout_error(timeout) from None
        return self

    def _forbid_loop_thread(self, what: str, instead: str) -> None:
        if self._runtime.on_thread() and self._runtime.loop is not None:
            raise LoopThreadError(
                f"{what} would block the event loop this socket runs on; use '{instead}'"
            )

    # -- disposal ----------------------------------------------------------------------

    def _closed_future(self) -> concurrent.futures.Future[None]:
        future: concurrent.futures.Future[None] = concurrent.futures.Future()

        def register() -> None:
            if self._link is None:
                future.set_result(None)
            else:
                self._closed_waiters.append(future)

        self._runtime.call(register)
        return future

    def dispose(self) -> None:
        """Flush queued sends, close, and complete every stream. Idempotent.

        Does not wait for the close to finish; ``with``/``async with`` do.
        """
        with self._lock:
            if self._disposed:
                return
            self._disposed = True
        self._runtime.call(self._dispose)

    def _dispose(self) -> None:
        self._finished = True
        self._cancel_timer()
        self._user_closed = True
        if self._link_open:
            self._flush_queued_then_close()
        elif self._link is not None:
            self._close_while_connecting()
        elif self._queue:
            with self._lock:
                self._close_after_flush = True
            self._connect()  # queued sends still go out before the socket goes
        if self._link is None:  # no close will come to fail them
            waiters, self._waiters = self._waiters, []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(SocketDisposed("the socket was disposed before it opened"))
        self._set_state(ConnectionState.DISPOSED)
        hubs: tuple[Hub[Any], ...] = (
            self._all,
            self._messages,
            *self._typed.values(),
            self._joins,
            self._leaves,
            self._errors,
            self._signals,
            self._opens,
            self._closes,
            self._state,
            self._presence,
            self._diagnostics,
        )
        for hub in hubs:
            hub.on_completed()

    def _flush_queued_then_close(self) -> None:
        frames, _ = self._take_queue()
        link = self._link
        assert link is not None
        for frame in frames:
            link.send(frame)
        self._close_link()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.dispose()
        closed = self._closed_future()  # registered after disposal began (calls keep order)
        if not self._runtime.on_thread():
            # Give queued sends their chance to leave before the script moves on.
            try:
                closed.result(timeout=10)
            except concurrent.futures.TimeoutError:
                logger.warning("socket to %s did not close within 10 s", self.display_url)

    async def __aenter__(self) -> Self:
        return await self.opened()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Dispose (flushing queued sends) and wait until the connection has closed.

        Unlike ``async with``, this never opens the socket first.
        """
        self.dispose()
        closed = asyncio.wrap_future(self._closed_future())
        try:
            async with asyncio.timeout(timeout):
                await closed
        except TimeoutError:
            logger.warning("socket to %s did not close within %s s", self.display_url, timeout)

    # -- inbound -----------------------------------------------------------------------

    def _on_frame(self, data: str | bytes) -> None:
        event = decode_frame(data)
        cls = type(event)
        if cls is Message:
            kind = event.type  # type: ignore[union-attr]
            if kind is not None:
                typed = self._typed.get(kind)
                if typed is not None:
                    typed.on_next(event)  # type: ignore[arg-type]
            self._messages.on_next(event)  # type: ignore[arg-type]
        elif cls is Join or cls is Leave:
            self._presence.on_next(self._presence.latest.apply(event))  # type: ignore[arg-type]
            (self._joins if cls is Join else self._leaves).on_next(event)  # type: ignore[arg-type]
        elif cls is ServerError:
            self._errors.on_next(event)  # type: ignore[arg-type]
        elif cls is Signal:
            self._signals.on_next(event)  # type: ignore[arg-type]
        else:
            self._diagnostics.on_next(event)  # type: ignore[arg-type]
            logger.debug("undecodable frame: %s", event.reason)  # type: ignore[union-attr]
            return
        self._all.on_next(event)  # type: ignore[arg-type]

    def _report_listener_error(self, value: Any, error: Exception) -> None:
        logger.error("a subscriber raised while handling %r", value, exc_info=error)
        self._diagnostics.on_next(ListenerError(value, error))

    def _report_diagnostic_failure(self, value: Any, error: Exception) -> None:
        logger.error("a diagnostics subscriber raised on %r", value, exc_info=error)
