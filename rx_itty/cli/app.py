"""The ``rx-itty`` command line (also ``python -m rx_itty``): the parser and ``main``.

Commands (each in its own module of :mod:`rx_itty.cli`):
    serve   run a wire-compatible relay until SIGINT/SIGTERM.
    listen  print a channel's events, one line each (``--json`` for JSON lines).
    send    send messages (JSON if they parse as JSON, else strings) and exit.
    demo    a relay, scripted participants and Rx pipelines, offline, ~10 s.

``-v``/``-q`` and ``--log-level`` work before or after the command.

Exit statuses: 0 done (a signal is a normal way to stop), 1 could not listen,
connect or send, 2 bad arguments, input or configuration.
"""

from __future__ import annotations

import argparse
import io
import logging
import platform
import sys
from collections.abc import Sequence
from importlib import metadata
from typing import NoReturn

from rx_itty.cli import demo, listen, send, serve
from rx_itty.cli.common import error, set_quiet
from rx_itty.cli.format import terminal_safe
from rx_itty.cli.options import LOG_LEVELS, level_name
from rx_itty.exceptions import IttyError

__all__ = ["build_parser", "log_level", "main", "version"]

_LEVELS = {name: logging.getLevelNamesMapping()[name.upper()] for name in LOG_LEVELS}

# The output options are accepted on both sides of the command. On the command's
# parser they get their own names, so its defaults never overwrite what was given
# before the command; main() adds the two up.
_SUB = "command_"


class _TerminalSafeFormatter(logging.Formatter):
    """Log lines with control characters escaped; a traceback keeps its line breaks."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return terminal_safe(super().formatMessage(record))


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line, not a usage dump."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def version() -> str:
    """``rx-itty 0.1.0 (websockets 17.4, reactivex 6.1.0, Python 3.11.9)``."""
    from rx_itty import __version__

    parts = [f"{name} {metadata.version(name)}" for name in ("websockets", "reactivex")]
    return f"rx-itty {__version__} ({', '.join(parts)}, Python {platform.python_version()})"


def _add_output_options(parser: argparse.ArgumentParser, prefix: str = "") -> None:
    group = parser.add_argument_group("output")
    group.add_argument(
        "-v",
        "--verbose",
        dest=prefix + "verbose",
        action="count",
        default=0,
        help="log more: -v connections (INFO), -vv everything (DEBUG)",
    )
    group.add_argument(
        "-q",
        "--quiet",
        dest=prefix + "quiet",
        action="count",
        default=0,
        help="errors only: no status lines, no warnings",
    )
    group.add_argument(
        "--log-level",
        dest=prefix + "log_level",
        type=level_name,
        metavar="LEVEL",
        help=f"log at LEVEL ({', '.join(LOG_LEVELS)}); overrides -v and -q",
    )


def build_parser() -> argparse.ArgumentParser:
    """The whole command line: output options, then one command with its own options."""
    parser = _Parser(prog="rx-itty", description="ReactiveX client and relay for itty-sockets.")
    parser.add_argument("--version", action="version", version=version())
    _add_output_options(parser)
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_Parser
    )
    for command in (serve, listen, send, demo):
        command.register(commands)
    for command_parser in commands.choices.values():
        _add_output_options(command_parser, _SUB)
    return parser


def log_level(args: argparse.Namespace) -> int:
    """The logging level the output options ask for: WARNING unless told otherwise."""
    named = getattr(args, _SUB + "log_level", None) or args.log_level
    if named is not None:
        return _LEVELS[str(named)]
    loudness = _loudness(args)
    if loudness < 0:
        return logging.ERROR
    if loudness == 0:
        return logging.WARNING
    return logging.INFO if loudness == 1 else logging.DEBUG


def _loudness(args: argparse.Namespace) -> int:
    verbose = args.verbose + getattr(args, _SUB + "verbose", 0)
    return int(verbose - args.quiet - getattr(args, _SUB + "quiet", 0))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit status."""
    args = build_parser().parse_args(argv)
    if isinstance(sys.stdout, io.TextIOWrapper):
        # A payload in a script the terminal cannot encode is escaped, not a crash.
        sys.stdout.reconfigure(errors="backslashreplace")
    set_quiet(_loudness(args) < 0)
    handler = logging.StreamHandler()
    handler.setFormatter(_TerminalSafeFormatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logging.basicConfig(level=log_level(args), handlers=[handler])
    try:
        code: int = args.run(args)
    except IttyError as exc:  # a value the parser cannot check: config, channel name, ...
        error(str(exc))
        return 2
    except KeyboardInterrupt:  # Ctrl-C before a command installed its own handler
        return 0
    return code
