"""Routing operators: select events by a predicate, payload type, class or sender; drop echoes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from reactivex import Observable, abc

from rx_itty.events import Event, ListenerError, Message
from rx_itty.exceptions import InvalidOptionError
from rx_itty.operators._policy import OnError, check_policy, handle_failure

__all__ = ["from_user", "keep", "of_class", "of_type", "without_echoes"]

_C = TypeVar("_C")
_T = TypeVar("_T")
_E = TypeVar("_E", bound=Event)


class _HasUid(Protocol):
    """Anything that knows our current uid (an :class:`~rx_itty.socket.IttySocket`)."""

    @property
    def uid(self) -> str | None: ...


def keep(
    predicate: Callable[[_T], bool], on_error: OnError[ListenerError] = "raise"
) -> Callable[[Observable[_T]], Observable[_T]]:
    """Keep the values for which ``predicate`` returns true: ``ops.filter`` with an error policy.

    A predicate that raises is handled by ``on_error``, the same policy as
    :func:`~rx_itty.operators.decode`'s: ``"raise"`` (default) fails the stream as
    ``ops.filter`` would, ``"skip"`` drops the value, and a function receives a
    :class:`~rx_itty.events.ListenerError` (the value and the exception), then
    the value is dropped.

    .. marble::
        :alt: keep

        --1--5--x--9--|
        [ keep(lambda n: n > 2, on_error="skip") ]   (x makes the predicate raise)
        -----5-----9--|

    Example:
        >>> big = ch.messages.pipe(itty_ops.keep(lambda m: m["n"] > 10, on_error=print))

    Args:
        predicate: The test each value must pass.
        on_error: The policy for a predicate that raises.

    Returns:
        An operator keeping the values that pass.

    Raises:
        InvalidOptionError: ``on_error`` is unknown.
    """
    check_policy("keep", on_error)

    def operator(source: Observable[_T]) -> Observable[_T]:
        def subscribe(
            observer: abc.ObserverBase[_T], scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            def on_next(value: _T) -> None:
                try:
                    kept = predicate(value)
                except Exception as exc:
                    handle_failure(
                        observer,
                        on_error,
                        exc,
                        lambda error: ListenerError(value, error),
                        f"while keep()'s predicate tested a {type(value).__name__}",
                    )
                    return
                if kept:
                    observer.on_next(value)

            return source.subscribe(
                on_next, observer.on_error, observer.on_completed, scheduler=scheduler
            )

        return Observable(subscribe)

    return operator


def _where(predicate: Callable[[Any], bool]) -> Callable[[Observable[Any]], Observable[Any]]:
    """:func:`keep` with its default policy, typed loosely for the narrowing filters below."""
    return keep(predicate)


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
    return _where(lambda event: isinstance(event, Message) and event.type in wanted)


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
    return _where(lambda value: isinstance(value, cls))


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

    return _where(sent_by)


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

    return _where(not_ours)
