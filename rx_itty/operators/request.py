"""Request/reply over a channel: see :func:`rx_itty.operators.request`."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Mapping
from typing import Any, Protocol

from reactivex import Observable, abc
from reactivex.disposable import (
    CompositeDisposable,
    Disposable,
    SingleAssignmentDisposable,
)

from rx_itty.events import Message
from rx_itty.exceptions import InvalidOptionError, ReplyTimeout, SocketDisposed
from rx_itty.streams import Stream

__all__ = ["reply", "request"]


class _Channel(Protocol):
    """What :func:`request` needs from a socket: its messages and a way to send."""

    @property
    def messages(self) -> Observable[Message[Any]]: ...

    def send(self, message: Any, to: str | None = None) -> object: ...

    @property
    def scheduler(self) -> abc.SchedulerBase: ...


def request(
    socket: _Channel,
    message: Mapping[str, Any],
    *,
    to: str | None = None,
    timeout: float | None = 5.0,
    scheduler: abc.SchedulerBase | None = None,
    key: str = "id",
    reply_key: str = "re",
) -> Stream[Message[Any]]:
    """Send a request and emit its reply: a cold Observable, one request per subscription.

    On subscribe it listens to ``socket.messages`` first, then sends ``message``
    with a fresh correlation id under ``key``; it emits the first message whose
    payload carries that id under ``reply_key``, then completes. Unsubscribing
    stops waiting. Responders answer with :func:`reply`.

    .. marble::
        :alt: request

        socket.messages  --x--y--r--z--      (r answers the id sent on subscribe)
        [      request(ch, {"type": "ping"})      ]
                         --------r|

    Example:
        >>> pong = await itty_ops.request(ch, {"type": "ping"}, to=bot_uid, timeout=2)
        >>> pong = itty_ops.request(ch, {"type": "ping"}).run()       # in a script

    Args:
        socket: The socket to send on and listen to.
        message: The request payload (an object); ``key`` is set to a fresh id.
        to: Send as a direct message to this uid instead of broadcasting.
        timeout: Seconds to wait for the reply; ``None`` waits forever.
        scheduler: The clock for the timeout; by default the scheduler given to
            ``subscribe``, else the socket's own loop (virtual time on a ``TestScheduler``).
        key: The payload field carrying the request id.
        reply_key: The reply payload field carrying the id it answers.

    Returns:
        An Observable of the one reply message: a :class:`~rx_itty.streams.Stream`,
        so ``await`` it in async code, or ``.run()`` it in a script (which refuses
        to block an event loop, where it would wait forever).

    Raises:
        InvalidOptionError: ``message`` is not a mapping, ``timeout`` is not positive,
            or ``key`` equals ``reply_key`` (our own echo would answer itself).
    """
    if not isinstance(message, Mapping):
        raise InvalidOptionError(
            f"request() sends an object payload, got {type(message).__name__}; "
            "wrap it, e.g. {'type': 'ask', 'value': ...}"
        )
    if timeout is not None and not timeout > 0:
        raise InvalidOptionError(f"request(timeout=...) must be positive or None, got {timeout!r}")
    if not key or not reply_key or key == reply_key:
        raise InvalidOptionError(
            f"request() needs distinct non-empty key and reply_key, got {key!r} and {reply_key!r}"
        )

    def subscribe(
        observer: abc.ObserverBase[Message[Any]], scheduler_: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        correlation = uuid.uuid4().hex[:12]
        lock = threading.Lock()
        done = False
        listening = SingleAssignmentDisposable()
        timer = SingleAssignmentDisposable()
        resources = CompositeDisposable(listening, timer)

        def finish() -> bool:
            """Claim the right to end the request: exactly one reply, error or dispose."""
            nonlocal done
            with lock:
                if done:
                    return False
                done = True
            resources.dispose()
            return True

        def on_next(event: Message[Any]) -> None:
            payload: Any = event.message
            if type(payload) is dict and payload.get(reply_key) == correlation and finish():
                observer.on_next(event)
                observer.on_completed()

        def on_error(error: Exception) -> None:
            if finish():
                observer.on_error(error)

        def on_completed() -> None:
            on_error(SocketDisposed(f"the socket ended before a reply to request {correlation}"))

        def on_timeout(_: abc.SchedulerBase, __: Any = None) -> None:
            target = f" from {to}" if to is not None else ""
            on_error(
                ReplyTimeout(
                    f"no reply{target} to request {correlation} within {timeout} s; "
                    f"check that a responder answers with {reply_key!r} set to the request's "
                    f"{key!r}, or raise the timeout"
                )
            )

        listening.disposable = socket.messages.subscribe(
            on_next, on_error, on_completed, scheduler=scheduler_
        )
        if timeout is not None:
            clock = scheduler or scheduler_ or socket.scheduler
            timer.disposable = clock.schedule_relative(timeout, on_timeout)
        if not done:
            try:
                socket.send({**message, key: correlation}, to=to)
            except Exception as exc:
                on_error(exc)

        def cancel() -> None:
            finish()

        return Disposable(cancel)

    # A Stream: .run() refuses to block the loop the reply must arrive on.
    messages = socket.messages
    return Stream(subscribe, messages._refuse_blocking if isinstance(messages, Stream) else None)


def reply(
    request: Message[Any], payload: Mapping[str, Any], *, key: str = "id", reply_key: str = "re"
) -> dict[str, Any]:
    """The reply payload to a :func:`request`: ``payload`` with ``reply_key`` set to its id.

    Example:
        >>> def answer(m: Message[Any]) -> None:
        ...     ch.send(itty_ops.reply(m, {"type": "pong"}), to=m.uid)
        >>> ch.on("ping").subscribe(answer)

    Args:
        request: The request message as received.
        payload: What to answer (an object).
        key: The request payload field carrying its id.
        reply_key: The reply payload field that names the request answered.

    Returns:
        A new dict to send back, usually as a direct message to ``request.uid``.

    Raises:
        InvalidOptionError: ``request`` carries no id under ``key``.
    """
    body: Any = request.message
    if type(body) is not dict or key not in body:
        raise InvalidOptionError(
            f"the message from {request.uid or 'unknown'} is not a request: its payload has "
            f"no {key!r}; reply only to messages sent with request()"
        )
    return {**payload, reply_key: body[key]}
