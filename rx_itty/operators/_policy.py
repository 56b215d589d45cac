"""The one error policy of the operators that run user code on each value.

:func:`~rx_itty.operators.decode` (a model that does not fit) and
:func:`~rx_itty.operators.keep` (a predicate that raises) handle the failure the
same way, chosen by their ``on_error`` argument:

- ``"raise"``: fail the stream with the exception, as ``reactivex`` operators do;
- ``"skip"``: drop the value; the stream goes on;
- a function: call it with a report (a :class:`~rx_itty.events.PayloadError` or a
  :class:`~rx_itty.events.ListenerError`), then drop the value. If the function
  raises, that exception fails the stream.

The socket's own streams (``ch.on(fn)``, ``ch.on("chat", Model)``) pass
``ch.diagnostics``' report function, so a bad value never ends them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, TypeAlias, TypeVar

from reactivex import abc

from rx_itty.exceptions import InvalidOptionError

__all__ = ["OnError", "check_policy", "handle_failure"]

_D = TypeVar("_D")

OnError: TypeAlias = Literal["skip", "raise"] | Callable[[_D], None]
"""What an operator does with a value its user code failed on: skip it, fail, or report it."""


def check_policy(operator: str, on_error: object) -> None:
    """Raise :class:`InvalidOptionError` unless ``on_error`` is a known policy."""
    if not callable(on_error) and on_error not in ("skip", "raise"):
        raise InvalidOptionError(
            f"{operator}(on_error=...) takes 'skip', 'raise' or a function, got {on_error!r}"
        )


def handle_failure(
    observer: abc.ObserverBase[Any],
    on_error: OnError[_D],
    error: Exception,
    report: Callable[[Exception], _D],
    note: str,
) -> None:
    """Apply ``on_error`` to ``error``; ``report(error)`` builds what a function policy gets."""
    if on_error == "raise":
        error.add_note(note)
        observer.on_error(error)
    elif callable(on_error):
        try:
            on_error(report(error))
        except Exception as exc:
            observer.on_error(exc)
