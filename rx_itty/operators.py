"""Rx operators for itty channels: routing, decoding, presence, request/reply, retry.

Import as ``from rx_itty import operators as itty_ops`` and use them in ``pipe``::

    ch.events.pipe(itty_ops.of_type("chat"), itty_ops.decode(Chat), itty_ops.payloads())

- Routing: :func:`of_type`, :func:`of_class`, :func:`from_user`, :func:`without_echoes`.
- Payloads: :func:`payloads`, :func:`decode`.
- Presence: :func:`presence` (the roster from any stream of events).
- Request/reply: :func:`request` (a cold Observable of the reply) and :func:`reply`.
- Resilience: :func:`retry_with_backoff`.

Every operator works on any Observable of events, so pipelines are marble-tested
with ``reactivex.testing`` and no socket at all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, Protocol, TypeAlias, TypeVar

from reactivex import Observable, abc

from rx_itty._ops_request import reply, request
from rx_itty._ops_retry import retry_with_backoff
from rx_itty.events import Event, Join, Leave, Message, PayloadError
from rx_itty.exceptions import InvalidOptionError
from rx_itty.models import decoder_for
from rx_itty.presence import Presence

__all__ = [
    "OnPayloadError",
    "decode",
    "from_user",
    "of_class",
    "of_type",
    "payloads",
    "presence",
    "reply",
    "request",
    "retry_with_backoff",
    "without_echoes",
]

_T = TypeVar("_T")
_C = TypeVar("_C")
_M = TypeVar("_M")
_E = TypeVar("_E", bound=Event)

OnPayloadError: TypeAlias = Literal["skip", "raise"] | Callable[[PayloadError], None]
"""What :func:`decode` does with a payload that does not fit: skip it, fail, or report it."""


class _HasUid(Protocol):
    """Anything that knows our current uid (an :class:`~rx_itty.socket.IttySocket`)."""

    @property
    def uid(self) -> str | None: ...


def _keep(predicate: Callable[[Any], bool]) -> Callable[[Observable[Any]], Observable[Any]]:
    """A filter whose predicate exceptions go to ``on_error`` (the shared body of the filters)."""

    def operator(source: Observable[Any]) -> Observable[Any]:
        def subscribe(
            observer: abc.ObserverBase[Any], scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            def on_next(value: Any) -> None:
                try:
                    keep = predicate(value)
                except Exception as exc:
                    observer.on_error(exc)
                    return
                if keep:
                    observer.on_next(value)

            return source.subscribe(
                on_next, observer.on_error, observer.on_completed, scheduler=scheduler
            )

        return Observable(subscribe)

    return operator


# -- routing -------------------------------------------------------------------------


def of_type(*types: str) -> Callable[[Observable[Event]], Observable[Message[Any]]]:
    """Keep the user messages whose payload ``type`` is one of ``types``.

    System events never pass, even though they have a ``type`` of their own:
    a :class:`~rx_itty.events.Join` is not a message of type ``"join"``.

    .. marble::
        :alt: of_type

        --c--j--p--c--|
        [ of_type("chat") ]
        --c--------c--|

    Example:
        >>> chats = ch.events.pipe(itty_ops.of_type("chat", "emote"))

    Args:
        types: Payload ``type`` values to keep.

    Returns:
        An operator from events to the matching messages.

    Raises:
        InvalidOptionError: no type, or a type that is not a non-empty str.
    """
    if not types or not all(isinstance(t, str) and t for t in types):
        raise InvalidOptionError(f"of_type() needs one or more non-empty type names, got {types!r}")
    wanted = frozenset(types)
    return _keep(lambda event: isinstance(event, Message) and event.type in wanted)


def of_class(cls: type[_C]) -> Callable[[Observable[object]], Observable[_C]]:
    """Keep the values that are instances of ``cls``, typed as such.

    .. marble::
        :alt: of_class

        --m--J--m--L--J--|
        [  of_class(Join) ]
        -----J--------J--|

    Example:
        >>> joins = ch.events.pipe(itty_ops.of_class(Join))        # Observable[Join]
        >>> bad = ch.diagnostics.pipe(itty_ops.of_class(PayloadError))

    Args:
        cls: The class to keep (an event class, or any class).

    Returns:
        An operator that keeps instances of ``cls``.

    Raises:
        InvalidOptionError: ``cls`` is not a class.
    """
    if not isinstance(cls, type):
        raise InvalidOptionError(f"of_class() needs a class such as Join, got {cls!r}")
    return _keep(lambda value: isinstance(value, cls))


def from_user(*who: str) -> Callable[[Observable[_E]], Observable[_E]]:
    """Keep the events sent by, or about, the users named by uid or alias.

    A message passes when its sender's uid or alias is in ``who``; so do the
    joins and leaves of those users (when they announced themselves).

    .. marble::
        :alt: from_user

        --a--b--a--c--|
        [ from_user("ann") ]
        --a-----a-----|

    Example:
        >>> ann = ch.messages.pipe(itty_ops.from_user("Ann", "u-42"))

    Args:
        who: Uids or aliases.

    Returns:
        An operator keeping those users' events.

    Raises:
        InvalidOptionError: no user, or one that is not a non-empty str.
    """
    if not who or not all(isinstance(w, str) and w for w in who):
        raise InvalidOptionError(f"from_user() needs one or more uids or aliases, got {who!r}")
    names = frozenset(who)

    def sent_by(event: Any) -> bool:
        return getattr(event, "uid", None) in names or getattr(event, "alias", None) in names

    return _keep(sent_by)


def without_echoes(socket: _HasUid) -> Callable[[Observable[_E]], Observable[_E]]:
    """Drop the messages we sent ourselves (echoes), judged by our uid at that moment.

    ``socket.uid`` is read for each message, so echoes stay filtered after a
    reconnect gives the socket a new uid. Other events pass unchanged.

    .. marble::
        :alt: without_echoes

        --o--m--o--m--|
        [ without_echoes(ch) ]
        -----m-----m--|

    Example:
        >>> ch = connect("room", echo=True)
        >>> others = ch.messages.pipe(itty_ops.without_echoes(ch))

    Args:
        socket: The socket whose own messages to drop (anything with a ``uid``).

    Returns:
        An operator dropping our own messages.
    """

    def not_ours(event: Any) -> bool:
        if not isinstance(event, Message) or event.uid is None:
            return True
        return event.uid != socket.uid

    return _keep(not_ours)


# -- payloads -------------------------------------------------------------------------


def payloads() -> Callable[[Observable[Message[_T]]], Observable[_T]]:
    """Unwrap each message into its payload.

    .. marble::
        :alt: payloads

        --M(a)--M(b)--|
        [  payloads()  ]
        --a-----b-----|

    Example:
        >>> texts = ch.on("chat", Chat).pipe(itty_ops.payloads())   # Observable[Chat]

    Returns:
        An operator from messages to their payloads.
    """

    def operator(source: Observable[Message[_T]]) -> Observable[_T]:
        def subscribe(
            observer: abc.ObserverBase[_T], scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            def on_next(event: Message[_T]) -> None:
                observer.on_next(event.message)

            return source.subscribe(
                on_next, observer.on_error, observer.on_completed, scheduler=scheduler
            )

        return Observable(subscribe)

    return operator


def decode(
    model: type[_M] | Callable[[Any], _M], on_error: OnPayloadError = "skip"
) -> Callable[[Observable[Message[Any]]], Observable[Message[_M]]]:
    """Decode each message's payload into ``model``, keeping the envelope.

    Models are what :func:`~rx_itty.models.decoder_for` accepts: dataclasses,
    pydantic models, msgspec Structs, or a function of the payload. A payload
    that does not fit is handled by ``on_error``:

    - ``"skip"`` (default): drop the message; the stream goes on.
    - ``"raise"``: fail the stream with the decoder's exception (with a note
      naming the sender and the model).
    - a function ``(PayloadError) -> None``: report it there, then drop the message.
      If the function raises, that exception fails the stream.

    Values that are not messages are dropped.

    .. marble::
        :alt: decode

        --a--x--b--|
        [ decode(Chat) ]
        --A-----B--|

    Example:
        >>> chats = ch.on("chat").pipe(itty_ops.decode(Chat, on_error=print))

    Args:
        model: What to decode payloads into.
        on_error: The policy for payloads that do not fit.

    Returns:
        An operator from messages to messages carrying ``model`` instances.

    Raises:
        InvalidOptionError: ``model`` cannot decode anything, or ``on_error`` is unknown.
    """
    if not callable(on_error) and on_error not in ("skip", "raise"):
        raise InvalidOptionError(
            f"decode(on_error=...) takes 'skip', 'raise' or a function, got {on_error!r}"
        )
    convert = decoder_for(model)
    name = getattr(model, "__qualname__", repr(model))

    def operator(source: Observable[Message[Any]]) -> Observable[Message[_M]]:
        def subscribe(
            observer: abc.ObserverBase[Message[_M]], scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            def on_next(event: Message[Any]) -> None:
                if not isinstance(event, Message):
                    return
                try:
                    value = convert(event.message)
                except Exception as exc:
                    bad_payload(observer, event, exc)
                    return
                observer.on_next(Message(value, event.uid, event.alias, event.date, event.raw))

            return source.subscribe(
                on_next, observer.on_error, observer.on_completed, scheduler=scheduler
            )

        return Observable(subscribe)

    def bad_payload(
        observer: abc.ObserverBase[Message[_M]], event: Message[Any], error: Exception
    ) -> None:
        if on_error == "raise":
            error.add_note(f"while decoding a message from {event.uid or 'unknown'} into {name}")
            observer.on_error(error)
        elif callable(on_error):
            try:
                on_error(PayloadError(event, model, error))
            except Exception as exc:
                observer.on_error(exc)

    return operator


# -- presence -------------------------------------------------------------------------


def presence() -> Callable[[Observable[Event]], Observable[Presence]]:
    """The roster after each join or leave, built from an empty :class:`Presence`.

    Each subscription starts from nobody, so subscribe before the socket opens to
    see our own join (or use ``ch.presence``, which replays the latest roster).

    .. marble::
        :alt: presence

        --J(me)--m--J(ann)--L(ann)--|
        [        presence()         ]
        --P1--------P2------P3------|

    Example:
        >>> ch.events.pipe(itty_ops.presence()).subscribe(lambda p: print(p.total))

    Returns:
        An operator from events to presence snapshots.
    """

    def operator(source: Observable[Event]) -> Observable[Presence]:
        def subscribe(
            observer: abc.ObserverBase[Presence], scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            roster = Presence()

            def on_next(event: Event) -> None:
                nonlocal roster
                if isinstance(event, Join | Leave):
                    roster = roster.apply(event)
                    observer.on_next(roster)

            return source.subscribe(
                on_next, observer.on_error, observer.on_completed, scheduler=scheduler
            )

        return Observable(subscribe)

    return operator
