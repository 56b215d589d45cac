"""The inbound face of a socket: its hubs, the streams over them, and frame dispatch.

:class:`ChannelStreams` is the base of :class:`~rx_itty.socket.IttySocket`: one
:class:`~rx_itty._hub.Hub` per stream, the public properties and ``on()`` that
expose them as :class:`~rx_itty.streams.Stream`, and ``_on_frame``, the
per-frame path (decode, route to the hubs) that the transport calls for every
frame after the first. Subscribing to an event stream opens the socket; the
socket's lifecycle is the subclass's business.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, Literal, Self, TypeVar, overload

import reactivex
from reactivex import abc
from reactivex.disposable import Disposable, SingleAssignmentDisposable

from rx_itty._hub import Hub
from rx_itty.events import (
    Close,
    Diagnostic,
    Event,
    Join,
    Leave,
    ListenerError,
    Message,
    Open,
    ServerError,
    Signal,
    Uid,
)
from rx_itty.exceptions import InvalidOptionError, LoopThreadError
from rx_itty.lifecycle import ConnectionState
from rx_itty.operators.payloads import decode
from rx_itty.operators.routing import keep
from rx_itty.presence import Presence
from rx_itty.runtime import Runtime
from rx_itty.streams import Stream, refuse_in_a_loop
from rx_itty.wire import decode_frame

__all__ = ["ChannelStreams"]

logger = logging.getLogger("rx_itty")

M = TypeVar("M")

_RESERVED_KEYS = frozenset(("*", "message", "join", "leave", "error", "open", "close"))


class ChannelStreams(ABC):
    """Hot streams of a channel's events, fed frame by frame (the base of ``IttySocket``)."""

    # Slots, not a __dict__: a process may hold thousands of idle sockets.
    __slots__ = (
        "__weakref__",
        "_all",
        "_closes",
        "_diagnostics",
        "_errors",
        "_hub_lock",
        "_joins",
        "_leaves",
        "_messages",
        "_opens",
        "_presence",
        "_runtime",
        "_signals",
        "_state",
        "_typed",
    )

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        report = self._report_listener_error
        # One lock for every hub: it only guards (un)subscribing, which is rare.
        lock = self._hub_lock = threading.Lock()
        self._all: Hub[Event] = Hub(report, lock=lock)
        self._messages: Hub[Message[Any]] = Hub(report, lock=lock)
        self._typed: dict[str, Hub[Message[Any]]] = {}
        self._joins: Hub[Join] = Hub(report, lock=lock)
        self._leaves: Hub[Leave] = Hub(report, lock=lock)
        self._errors: Hub[ServerError] = Hub(report, lock=lock)
        self._signals: Hub[Signal] = Hub(report, lock=lock)
        self._opens: Hub[Open] = Hub(report, lock=lock)
        self._closes: Hub[Close] = Hub(report, lock=lock)
        self._diagnostics: Hub[Diagnostic] = Hub(self._report_diagnostic_failure, lock=lock)
        self._state: Hub[ConnectionState] = Hub(
            report, replay=True, initial=ConnectionState.IDLE, lock=lock
        )
        self._presence: Hub[Presence] = Hub(report, replay=True, initial=Presence(), lock=lock)

    @abstractmethod
    def open(self) -> Self:
        """Connect if not connected."""

    @abstractmethod
    def _subscribed(self) -> None:
        """A subscription to an event stream: connect if idle or closed (not while closing)."""

    def _forbid_loop_thread(self, what: str, instead: str) -> None:
        """Raise where ``what`` (a blocking helper) would freeze the loop that must deliver.

        Raises:
            LoopThreadError: on the socket's loop thread, inside any running loop, or
                on a socket in virtual time (nothing advances its clock meanwhile).
        """
        runtime = self._runtime
        if runtime.loop is None:
            raise LoopThreadError(
                f"{what} cannot wait on a socket in virtual time: its clock moves only when "
                "the test advances it; advance the scheduler (scheduler.advance_to(...), "
                "fake.run()) and subscribe to collect values"
            )
        if runtime.on_thread():
            raise LoopThreadError(
                f"{what} would block the event loop this socket runs on; use '{instead}'"
            )
        refuse_in_a_loop(what, instead)

    @property
    @abstractmethod
    def display_url(self) -> str:
        """The channel's URL without its query string (keys never show)."""

    def _describer(self, name: str, now: Callable[[], str] | None = None) -> Callable[[], str]:
        """A stream's ``repr`` text: ``ch.NAME of URL``, and what it holds ``now``."""

        def describe() -> str:
            where = f"ch.{name} of {self.display_url}"
            return where if now is None else f"{where}: {now()}"

        return describe

    def _stream(
        self,
        hub: Hub[Any],
        name: str,
        *,
        opens: bool = True,
        replay: bool = False,
        now: Callable[[], str] | None = None,
    ) -> Stream[Any]:
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
                self._subscribed()
            return disposable

        return Stream(subscribe, self._forbid_loop_thread, describe=self._describer(name, now))

    def _wrap(self, source: reactivex.Observable[Any], name: str) -> Stream[Any]:
        return Stream.of(source, self._forbid_loop_thread, describe=self._describer(name))

    @property
    def events(self) -> Stream[Event]:
        """Every protocol event (JS ``'*'``): messages, joins, leaves, errors, signals."""
        return self._stream(self._all, "events")

    @property
    def messages(self) -> Stream[Message[Any]]:
        """Every user message, typed or not (JS ``'message'``)."""
        return self._stream(self._messages, "messages")

    @property
    def joins(self) -> Stream[Join]:
        """Join events from the relay (our own first, ``is_self=True``)."""
        return self._stream(self._joins, "joins")

    @property
    def leaves(self) -> Stream[Leave]:
        """Leave events from the relay."""
        return self._stream(self._leaves, "leaves")

    @property
    def errors(self) -> Stream[ServerError]:
        """``error`` events from the relay (unknown DM recipient, send key, limits)."""
        return self._stream(self._errors, "errors")

    @property
    def signals(self) -> Stream[Signal]:
        """Frames with another top-level ``type`` (raw-mode servers)."""
        return self._stream(self._signals, "signals")

    @property
    def opens(self) -> Stream[Open]:
        """Lifecycle: each time a connection opens (after queued sends are flushed)."""
        return self._stream(self._opens, "opens")

    @property
    def closes(self) -> Stream[Close]:
        """Lifecycle: each time a connection closes or fails to open."""
        return self._stream(self._closes, "closes")

    @property
    def diagnostics(self) -> Stream[Diagnostic]:
        """Local trouble, reported instead of raised: bad frames, payloads that did not
        fit a model, subscribers that raised, sink values that could not be sent.
        Subscribing does not open the socket."""
        return self._stream(self._diagnostics, "diagnostics", opens=False)

    @property
    def state(self) -> Stream[ConnectionState]:
        """The connection state, replaying the current one; subscribing does not open."""
        return self._stream(
            self._state,
            "state",
            opens=False,
            replay=True,
            now=lambda: f"now {self._state.latest.name}; the value itself is ch.current_state",
        )

    @property
    def presence(self) -> Stream[Presence]:
        """Who is here (our identity, ``total``, announced users), replaying the latest."""
        return self._stream(
            self._presence,
            "presence",
            replay=True,
            now=lambda: (
                f"{self._presence.latest.total} here; the value itself is ch.current_presence"
            ),
        )

    @property
    def current_state(self) -> ConnectionState:
        """The connection state right now."""
        return self._state.latest

    @property
    def current_presence(self) -> Presence:
        """The latest presence (empty until our own join arrives)."""
        return self._presence.latest

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
        - a function: every event for which it returns true.
        - ``model``: decode the payload into a dataclass, pydantic model, msgspec
          Struct or function result, as :func:`rx_itty.operators.decode` does.

        One error policy for both: a filter function that raises, or a payload that
        does not fit the model, is reported on :attr:`diagnostics` (as a
        :class:`~rx_itty.events.ListenerError` or :class:`~rx_itty.events.PayloadError`)
        and that event is skipped; the stream goes on.

        Raises:
            InvalidOptionError: an empty key, or a model with a system event key.
        """
        if callable(key):
            name = getattr(key, "__qualname__", None) or type(key).__name__
            return self._wrap(
                self.events.pipe(keep(key, on_error=self._diagnostics.on_next)), f"on({name})"
            )
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
            stream = self.messages if key == "message" else self._typed_stream(key)
            decoded = stream.pipe(decode(model, on_error=self._diagnostics.on_next))
            model_name = getattr(model, "__qualname__", None) or type(model).__name__
            return self._wrap(decoded, f"on({key!r}, {model_name})")
        hubs: dict[str, Hub[Any]] = {
            "*": self._all,
            "message": self._messages,
            "join": self._joins,
            "leave": self._leaves,
            "error": self._errors,
            "open": self._opens,
            "close": self._closes,
        }
        hub = hubs.get(key)
        return self._typed_stream(key) if hub is None else self._stream(hub, f"on({key!r})")

    def _typed_stream(self, kind: str) -> Stream[Message[Any]]:
        """Messages of payload type ``kind``, through a hub that lives while observed.

        A hub exists only while someone observes it, so a socket that saw
        ``on(f"reply-{n}")`` for many ``n`` keeps no memory for them. Getting or
        making the hub and joining it happen under the hub lock, as does forgetting
        it when its last observer leaves, so a newcomer never joins a forgotten hub.
        Disposal sets the state, then takes every hub out under the same lock and
        completes it: a newcomer either joins a hub disposal will complete or finds
        none and, the socket being disposed, completes at once.
        """
        lock, typed = self._hub_lock, self._typed

        def subscribe(
            observer: abc.ObserverBase[Message[Any]], scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            with lock:
                hub = typed.get(kind)
                if hub is None and self._state.latest is not ConnectionState.DISPOSED:
                    hub = typed[kind] = self._new_typed_hub(kind)
                added = None if hub is None else hub.add(observer)
            if added is None:  # disposed: every stream has completed
                observer.on_completed()
                return Disposable()
            self._subscribed()
            return added

        return Stream(
            subscribe, self._forbid_loop_thread, describe=self._describer(f"on({kind!r})")
        )

    def _new_typed_hub(self, kind: str) -> Hub[Message[Any]]:
        def forget() -> None:  # the lock is held
            if self._typed.get(kind) is hub:
                del self._typed[kind]

        hub: Hub[Message[Any]] = Hub(
            self._report_listener_error, lock=self._hub_lock, on_empty=forget
        )
        return hub

    # -- inbound -----------------------------------------------------------------------

    def _on_frame(self, data: str | bytes) -> None:
        event = decode_frame(data)
        cls = type(event)
        hub: Hub[Any]
        if cls is Message:
            typed = self._typed
            if typed:  # a hub per payload type exists only while it is observed
                payload = event.message  # type: ignore[union-attr]
                if type(payload) is dict:  # Message.type, inline
                    kind = payload.get("type")
                    if type(kind) is str:
                        typed_hub = typed.get(kind)
                        if typed_hub is not None:
                            typed_hub.on_next(event)  # type: ignore[arg-type]
            hub = self._messages
        elif cls is Join or cls is Leave:
            self._presence.on_next(self._presence.latest.apply(event))  # type: ignore[arg-type]
            hub = self._joins if cls is Join else self._leaves
        elif cls is ServerError:
            hub = self._errors
        elif cls is Signal:
            hub = self._signals
        else:
            self._diagnostics.on_next(event)  # type: ignore[arg-type]
            logger.debug("undecodable frame: %s", event.reason)  # type: ignore[union-attr]
            return
        # Most sockets observe one or two streams: skip the calls that would deliver to nobody.
        if hub.observers:
            hub.on_next(event)  # type: ignore[arg-type]
        if self._all.observers:
            self._all.on_next(event)  # type: ignore[arg-type]

    def _report_listener_error(self, value: Any, error: Exception) -> None:
        logger.error("a subscriber raised while handling %r", value, exc_info=error)
        self._diagnostics.on_next(ListenerError(value, error))

    def _report_diagnostic_failure(self, value: Any, error: Exception) -> None:
        logger.error("a diagnostics subscriber raised on %r", value, exc_info=error)

    def _complete_streams(self) -> None:
        """Complete every stream (disposal); later subscribers complete at once."""
        with self._hub_lock:  # another thread may be adding or forgetting one
            typed = tuple(self._typed.values())
            self._typed.clear()
        hubs: tuple[Hub[Any], ...] = (
            self._all,
            self._messages,
            *typed,
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
