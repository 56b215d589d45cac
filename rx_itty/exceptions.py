"""The exceptions rx_itty raises.

Every exception derives from :class:`IttyError`, so one ``except IttyError``
catches anything the library raises on purpose::

    IttyError
    ├── InvalidOptionError       (also a ValueError)   bad argument to connect()/serve
    ├── SerializationError       (also a TypeError)    a message that is not JSON-serialisable
    └── RelayConfigError         (also a ValueError)   a bad relay configuration file or value

Messages say what happened and what to do about it, in one line.
"""

from __future__ import annotations

__all__ = [
    "InvalidOptionError",
    "IttyError",
    "RelayConfigError",
    "SerializationError",
]


class IttyError(Exception):
    """Root of every exception rx_itty raises on purpose."""


class InvalidOptionError(IttyError, ValueError):
    """An option passed to a public function has the wrong type or value."""


class SerializationError(IttyError, TypeError):
    """A message cannot be encoded as JSON for the wire."""


class RelayConfigError(IttyError, ValueError):
    """The relay configuration is invalid."""
