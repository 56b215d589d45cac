"""Argument types and option groups shared by the commands: one-line errors for bad values."""

from __future__ import annotations

import argparse
import dataclasses
import os
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

from rx_itty.client import SERVER_ENV
from rx_itty.wire import DEFAULT_BASE

__all__ = [
    "JOIN_KEY_ENV",
    "LOG_LEVELS",
    "SEND_KEY_ENV",
    "SERVER_HELP",
    "Commands",
    "add_client_options",
    "add_key_option",
    "count",
    "level_name",
    "options_from",
    "port",
    "positive",
    "server",
    "text",
    "utf8",
    "whole",
]

Options = TypeVar("Options", bound="DataclassInstance")

SERVER_HELP = (
    f"relay base URL for channel names; a missing final / is added "
    f"(default ${SERVER_ENV}, else {DEFAULT_BASE})"
)

JOIN_KEY_ENV = "RX_ITTY_JOIN_KEY"
"""Environment variable for ``--join-key``: unlike an argument, it does not show in ``ps``."""

SEND_KEY_ENV = "RX_ITTY_SEND_KEY"
"""Environment variable for ``--send-key``."""


class Commands(Protocol):
    """What ``add_subparsers()`` returns: each command module adds its parser with it."""

    def add_parser(self, name: str, **kwargs: object) -> argparse.ArgumentParser: ...


def port(value: str) -> int:
    """A TCP port, 0 to 65535 (0 picks a free one)."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"port must be a number, got {value!r}") from None
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0-65535 (0 picks a free one), got {number}")
    return number


def utf8(value: str) -> str:
    """Any text, as long as it is UTF-8 (an argument's bytes that are not arrive as lone
    surrogates, which no message, name or URL can carry)."""
    for index, char in enumerate(value):
        if "\udc80" <= char <= "\udcff":
            raise argparse.ArgumentTypeError(
                f"is not UTF-8 text (byte 0x{ord(char) - 0xDC00:02x} at character {index}); "
                "check the terminal's encoding (e.g. LANG=C.UTF-8)"
            )
    return value


def text(value: str) -> str:
    """Any non-empty UTF-8 text."""
    if not value:
        raise argparse.ArgumentTypeError("must not be empty")
    return utf8(value)


def server(value: str) -> str:
    """A relay base URL: ``ws://`` or ``wss://``."""
    utf8(value)
    if not value.startswith(("ws://", "wss://")):
        raise argparse.ArgumentTypeError(
            f"must start with ws:// or wss://, e.g. ws://127.0.0.1:8080/c/, got {value!r}"
        )
    return value


def positive(value: str) -> float:
    """A finite number above zero."""
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {value!r}") from None
    if not 0 < number < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {value!r}")
    return number


def whole(value: str) -> int:
    """A whole number."""
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {value!r}") from None


def count(value: str) -> int:
    """A whole number, 1 or more."""
    number = whole(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {number}")
    return number


LOG_LEVELS = ("debug", "info", "warning", "error")
"""The names ``--log-level`` takes (in any case)."""


def level_name(value: str) -> str:
    """A logging level's name, in lower case."""
    name = value.lower()
    if name not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(f"must be one of {', '.join(LOG_LEVELS)}, got {value!r}")
    return name


def add_key_option(command: argparse.ArgumentParser, flag: str, env: str, what: str) -> None:
    """A key option whose default comes from the environment variable ``env``.

    A key given as an argument is visible to every user of the machine (``ps``);
    the environment variable is the private way. An empty variable counts as unset.
    """
    command.add_argument(
        flag,
        type=text,
        metavar="KEY",
        default=os.environ.get(env) or None,
        help=f"the channel's {what} (default ${env}, which unlike an argument is not "
        "visible in ps)",
    )


def add_client_options(command: argparse.ArgumentParser) -> None:
    """CHANNEL, ``--server``, ``--as`` and ``--join-key``, for the commands that connect."""
    command.add_argument(
        "channel", metavar="CHANNEL", type=text, help="channel name, or a full ws:// URL"
    )
    command.add_argument("--server", type=server, metavar="URL", help=SERVER_HELP)
    command.add_argument("--as", dest="alias", type=text, metavar="ALIAS", help="your alias")
    add_key_option(command, "--join-key", JOIN_KEY_ENV, "join key")


def options_from(cls: type[Options], args: argparse.Namespace, **values: Any) -> Options:
    """A command's options dataclass from the parsed arguments of the same names.

    Args:
        cls: The options dataclass (``ListenOptions``, ``SendOptions``...).
        args: What the parser produced.
        **values: Fields computed from the arguments rather than copied.
    """
    copied = {
        f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if hasattr(args, f.name)
    }
    return cls(**{**copied, **values})
