"""The ``rx-itty`` command line (also ``python -m rx_itty``).

Commands:
    serve   run a wire-compatible relay until SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Sequence
from typing import NoReturn

from rx_itty.exceptions import IttyError
from rx_itty.relay import Limits, Relay, RelayConfig, load_config

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line, not a usage dump."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"port must be a number, got {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0-65535 (0 picks a free one), got {port}")
    return port


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="rx-itty", description="ReactiveX client and relay for itty-sockets.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log connections")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    serve = commands.add_parser(
        "serve",
        help="run a wire-compatible relay",
        description="Run an itty-sockets relay; prints its URL, stops on Ctrl-C or SIGTERM.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    serve.add_argument("--port", type=_port, default=8080, help="TCP port, 0 = any (default 8080)")
    serve.add_argument(
        "--config", metavar="FILE", help="JSON file with namespaces (keys) and limits"
    )
    serve.add_argument(
        "--compression", action="store_true", help="offer permessage-deflate (off by default)"
    )
    serve.add_argument(
        "--no-limits", action="store_true", help="turn off rate and connection limits"
    )
    return parser


def _serve_config(args: argparse.Namespace) -> RelayConfig:
    config = load_config(args.config) if args.config else RelayConfig()
    limits = config.limits
    if args.no_limits:
        limits = Limits(
            max_frame_bytes=limits.max_frame_bytes,
            messages_per_window=None,
            connections_per_second=None,
            ban_seconds=0,
        )
    return RelayConfig(
        limits=limits,
        namespaces=config.namespaces,
        compression=config.compression or args.compression,
    )


async def _serve(relay: Relay) -> None:
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    url = await relay.start()
    print(f"rx_itty relay listening on {url}  (Ctrl-C to stop)", flush=True)
    print(f"connect with: rx_itty.connect('{url}my-room')", flush=True)
    with contextlib.suppress(asyncio.CancelledError):
        await relay.serve_forever()
    print("relay stopped", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit status."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    try:
        config = _serve_config(args)
        relay = Relay(config, host=args.host, port=args.port)
        asyncio.run(_serve(relay))
    except IttyError as exc:
        print(f"rx-itty: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(
            f"rx-itty: error: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}; "
            "choose another --port (0 picks a free one)",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        pass
    return 0
