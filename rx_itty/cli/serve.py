"""``rx-itty serve``: run a wire-compatible relay until SIGINT or SIGTERM.

It prints the URL clients connect to (with ``-q``, the URL alone), then serves; a
signal closes every client with a normal close (1000) and exits 0. An address
that cannot be bound exits 1,
with a hint naming the option to change (``--host``, ``--port``, ``--http-port``);
so does a backplane (Redis) that cannot be reached.

With ``--backplane redis://HOST:PORT/DB`` several ``serve`` processes, on one
machine or many, act as one relay; each prints its node id after its URL.
``--engine picows`` runs the sockets on picows (``rx_itty[fast]``): the same relay,
faster.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses

from rx_itty._logging import without_credentials
from rx_itty._signals import STOP_SIGNALS
from rx_itty.asyncio.choose import new_event_loop
from rx_itty.cli.common import bind_failure, error, quiet
from rx_itty.cli.options import Commands, port, positive
from rx_itty.exceptions import BackplaneUnavailable, InvalidOptionError, RelayConfigError
from rx_itty.relay.config import ENGINES, RelayConfig, backplane_at, load_config
from rx_itty.relay.server import ALL_INTERFACES, Relay

__all__ = ["register", "run", "serve_config"]


def register(commands: Commands) -> None:
    """Add the ``serve`` command to the parser."""
    serve = commands.add_parser(
        "serve",
        help="run a wire-compatible relay",
        description="Run an itty-sockets relay; prints its URL, stops on Ctrl-C or SIGTERM.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    serve.add_argument("--port", type=port, default=8080, help="TCP port, 0 = any (default 8080)")
    serve.add_argument(
        "--config", metavar="FILE", help="JSON file with namespaces (keys) and limits"
    )
    serve.add_argument(
        "--compression", action="store_true", help="offer permessage-deflate (off by default)"
    )
    serve.add_argument(
        "--no-limits", action="store_true", help="turn off rate and connection limits"
    )
    serve.add_argument(
        "--http-port",
        type=port,
        metavar="PORT",
        help="also accept HTTP pushes (POST /c/CHANNEL, x-send-key header) on this port",
    )
    serve.add_argument(
        "--backplane",
        metavar="URL",
        help="share channels with the other relays on this Redis: redis://HOST:PORT/DB, "
        "rediss://..., unix:///PATH?db=N (needs rx_itty[redis])",
    )
    serve.add_argument(
        "--node-ttl",
        type=positive,
        metavar="SECONDS",
        help="with --backplane: after this long without a heartbeat a node counts as dead "
        "and its members leave (default 5)",
    )
    serve.add_argument(
        "--trusted-proxy",
        action="append",
        default=[],
        metavar="ADDR",
        help="a reverse proxy (address or CIDR) whose X-Forwarded-For names the client for "
        "limits and bans; repeatable. '*' trusts any peer (the relay then takes the address "
        "the nearest proxy appended): only when nothing but that proxy can reach the relay",
    )
    serve.add_argument(
        "--engine",
        choices=ENGINES,
        help="what runs the sockets: websockets (the default) or picows (faster; needs "
        "rx_itty[fast]; no --compression)",
    )
    serve.set_defaults(run=run)


def serve_config(args: argparse.Namespace) -> RelayConfig:
    """The relay configuration: the ``--config`` file, then the flags on top.

    Raises:
        RelayConfigError: the file is missing, not JSON, or not a valid configuration,
            ``--node-ttl`` was given without a backplane, or ``--compression`` with the
            picows engine.
    """
    config = load_config(args.config) if args.config else RelayConfig()
    limits = config.limits
    if args.no_limits:
        limits = dataclasses.replace(
            limits, messages_per_window=None, connections_per_second=None, ban_seconds=0
        )
    backplane = config.backplane
    if args.backplane:
        backplane = backplane_at(args.backplane, backplane)
    if args.node_ttl is not None:
        if backplane is None:
            raise RelayConfigError("--node-ttl needs a backplane: add --backplane URL")
        backplane = dataclasses.replace(backplane, node_ttl=args.node_ttl)
    return dataclasses.replace(
        config,
        limits=limits,
        compression=config.compression or args.compression,
        backplane=backplane,
        trusted_proxies=(*config.trusted_proxies, *args.trusted_proxy),
        engine=args.engine or config.engine,
    )


async def _serve(relay: Relay, args: argparse.Namespace) -> int:
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, task.cancel)
    try:
        url = await relay.start()
    except BackplaneUnavailable as exc:  # a ConnectionError, but not the address's fault
        await relay.aclose()
        where = "--backplane" if args.backplane else f'"backplane" in {args.config}'
        error(f"{exc}; start Redis there or fix {where}")
        return 1
    except OSError as exc:  # only binding: a failure later is not the address's fault
        await relay.aclose()  # the WebSocket port may be bound when the HTTP one failed
        error(bind_failure(exc, args.host, args.port, args.http_port))
        return 1
    if quiet():  # errors only: the URL alone, for a script to read
        print(url, flush=True)
    else:
        _banner(relay, url, args.host)
    with contextlib.suppress(asyncio.CancelledError):
        await relay.serve_forever()
    if not quiet():
        print("relay stopped", flush=True)
    return 0


def _banner(relay: Relay, url: str, host: str) -> None:
    """What ``serve`` prints once it listens: where, and how to connect."""
    if host in ALL_INTERFACES:
        where = f"all interfaces (port {relay.port}); from this machine: {url}"
    else:
        where = url
    print(f"rx_itty relay listening on {where}  (Ctrl-C to stop)", flush=True)
    backplane = relay.config.backplane
    if relay.node_id is not None and backplane is not None:
        shared = without_credentials(backplane.url)
        print(f"node {relay.node_id} sharing channels through {shared}", flush=True)
    if relay.http_url is not None:
        print(f"HTTP push: POST {relay.http_url}<channel> with an x-send-key header", flush=True)
    print(f"connect with: rx_itty.connect('{url}my-room')", flush=True)


def run(args: argparse.Namespace) -> int:
    """Serve until a signal; 0 then, 1 if the address cannot be bound or Redis reached.

    Raises:
        InvalidOptionError: ``--port`` and ``--http-port`` are the same port.
        RelayConfigError: as :func:`serve_config`.
    """
    if args.http_port is not None and args.http_port == args.port != 0:
        raise InvalidOptionError(
            f"--port and --http-port are both {args.port}: give HTTP pushes a port of their own"
        )
    config = serve_config(args)
    relay = Relay(config, host=args.host, port=args.port, http_port=args.http_port)
    with asyncio.Runner(loop_factory=new_event_loop) as runner:  # uvloop when installed
        return runner.run(_serve(relay, args))
