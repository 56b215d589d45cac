"""Argument types and option groups shared by the commands: one-line errors for bad values."""

from __future__ import annotations

import argparse
import dataclasses
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

from rx_itty.client import SERVER_ENV
from rx_itty.wire import DEFAULT_BASE

__all__ = [
    "SERVER_HELP",
    "Commands",
    "add_client_options",
    "options_from",
    "port",
    "positive",
    "server",
    "text",
    "whole",
]

Options = TypeVar("Options", bound="DataclassInstance")

SERVER_HELP = f"relay base URL for channel names (default ${SERVER_ENV}, else {DEFAULT_BASE})"


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


def text(value: str) -> str:
    """Any non-empty text."""
    if not value:
        raise argparse.ArgumentTypeError("must not be empty")
    return value


def server(value: str) -> str:
    """A relay base URL: ``ws://`` or ``wss://``."""
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


def add_client_options(command: argparse.ArgumentParser) -> None:
    """CHANNEL, ``--server``, ``--as`` and ``--join-key``, for the commands that connect."""
    command.add_argument(
        "channel", metavar="CHANNEL", type=text, help="channel name, or a full ws:// URL"
    )
    command.add_argument("--server", type=server, metavar="URL", help=SERVER_HELP)
    command.add_argument("--as", dest="alias", type=text, metavar="ALIAS", help="your alias")
    command.add_argument("--join-key", type=text, metavar="KEY", help="the channel's join key")


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
