"""Rx operators for itty channels: routing, decoding, presence, request/reply, retry.

Import as ``from rx_itty import operators as itty_ops`` and use them in ``pipe``::

    ch.events.pipe(itty_ops.of_type("chat"), itty_ops.decode(Chat), itty_ops.payloads())

- Routing: :func:`keep` (a filter with an error policy), :func:`of_type`, :func:`of_class`,
  :func:`from_user`, :func:`without_echoes`.
- Payloads: :func:`payloads`, :func:`decode`.
- Presence: :func:`presence` (the roster from any stream of events).
- Request/reply: :func:`request` (a cold Observable of the reply) and :func:`reply`.
- Resilience: :func:`retry_with_backoff`.

Every operator works on any Observable of events, so pipelines are marble-tested
with ``reactivex.testing`` and no socket at all.
"""

from __future__ import annotations

from rx_itty.operators.payloads import OnPayloadError, decode, payloads
from rx_itty.operators.presence import presence
from rx_itty.operators.request import reply, request
from rx_itty.operators.retry import retry_with_backoff
from rx_itty.operators.routing import from_user, keep, of_class, of_type, without_echoes

__all__ = [
    "OnPayloadError",
    "decode",
    "from_user",
    "keep",
    "of_class",
    "of_type",
    "payloads",
    "presence",
    "reply",
    "request",
    "retry_with_backoff",
    "without_echoes",
]
