"""Payload operators: unwrap messages, and decode payloads into models."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeAlias, TypeVar

from reactivex import Observable, abc

from rx_itty.events import Message, PayloadError
from rx_itty.models import decoder_for
from rx_itty.operators._policy import OnError, check_policy, handle_failure

__all__ = ["OnPayloadError", "decode", "payloads"]

_T = TypeVar("_T")
_M = TypeVar("_M")

OnPayloadError: TypeAlias = OnError[PayloadError]
"""What :func:`decode` does with a payload that does not fit: skip it, fail, or report it."""


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
    check_policy("decode", on_error)
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
                    handle_failure(
                        observer,
                        on_error,
                        exc,
                        lambda error: PayloadError(event, model, error),
                        f"while decoding a message from {event.uid or 'unknown'} into {name}",
                    )
                    return
                observer.on_next(Message(value, event.uid, event.alias, event.date, event.raw))

            return source.subscribe(
                on_next, observer.on_error, observer.on_completed, scheduler=scheduler
            )

        return Observable(subscribe)

    return operator
