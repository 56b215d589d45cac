"""The TLS option both client transports take: an ``SSLContext``, or a CA file to trust."""

from __future__ import annotations

import os
import ssl as ssl_module
from typing import TypeAlias

from rx_itty._logging import without_query
from rx_itty.exceptions import InvalidOptionError

__all__ = ["SSLOption", "check_tls", "client_context"]

SSLOption: TypeAlias = "ssl_module.SSLContext | str | os.PathLike[str] | None"
"""``ssl=``: a context, the path of a PEM file of CA certificates to trust, or ``None``."""


def client_context(option: SSLOption) -> ssl_module.SSLContext | None:
    """The context for ``wss://`` URLs; ``None`` means the system's default trust.

    Raises:
        InvalidOptionError: ``option`` is neither a context nor a readable CA file.
    """
    if option is None or isinstance(option, ssl_module.SSLContext):
        return option
    if not isinstance(option, str | os.PathLike):
        raise InvalidOptionError(
            f"ssl must be an ssl.SSLContext or the path of a CA file, not {type(option).__name__}"
        )
    try:
        return ssl_module.create_default_context(cafile=option)
    except (OSError, ssl_module.SSLError) as exc:
        raise InvalidOptionError(
            f"cannot load CA certificates from {os.fspath(option)!r} ({exc}); "
            "pass a PEM file, or an ssl.SSLContext"
        ) from None


def check_tls(url: str, context: ssl_module.SSLContext | None) -> None:
    """Refuse a TLS context for a plain ``ws://`` URL: the user meant ``wss://``.

    Raises:
        InvalidOptionError: ``context`` is set and ``url`` is not ``wss://``.
    """
    if context is not None and not url.startswith("wss:"):
        raise InvalidOptionError(
            f"an ssl context was given but {without_query(url)} is not a wss:// URL; "
            "use wss:// or drop ssl="
        )
