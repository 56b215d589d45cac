"""The ``ssl=`` option both network transports take (``rx_itty.asyncio._tls``).

A context is used as given, a path is read as a PEM file of CA certificates, and
anything else is refused when the transport is made; a context for a plain
``ws://`` URL is refused when it is opened. The handshakes themselves are in
tests/asyncio/test_transport.py.
"""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import Any

import pytest

from rx_itty.asyncio import LoopRuntime
from rx_itty.asyncio._tls import check_tls, client_context
from rx_itty.exceptions import InvalidOptionError
from tests.conftest import Tls, TransportClass
from tests.support import WaitingRecorder


def test_no_option_means_the_system_trust_and_a_context_is_used_as_given(tls: Tls) -> None:
    assert client_context(None) is None
    assert client_context(tls.client) is tls.client


@pytest.mark.parametrize("as_path", [str, Path])
def test_a_ca_file_gives_a_verifying_context_that_trusts_it(tls: Tls, as_path: Any) -> None:
    context = client_context(as_path(tls.cafile))
    assert context is not None
    assert (context.verify_mode, context.check_hostname) == (ssl.CERT_REQUIRED, True)
    (trusted,) = context.get_ca_certs()  # only the file's: not the system's as well
    assert (("commonName", "localhost"),) in trusted["subject"]


@pytest.mark.parametrize(("option", "name"), [(3, "int"), (b"/etc/ca.pem", "bytes")])
def test_an_option_of_another_type_is_refused_naming_it(option: Any, name: str) -> None:
    with pytest.raises(InvalidOptionError) as caught:
        client_context(option)
    assert str(caught.value) == (
        f"ssl must be an ssl.SSLContext or the path of a CA file, not {name}"
    )


@pytest.mark.parametrize("content", [None, b"not a certificate\n"])
def test_a_ca_file_that_is_missing_or_not_pem_is_refused_saying_what_to_pass(
    tmp_path: Path, content: bytes | None
) -> None:
    path = tmp_path / "ca.pem"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(
        InvalidOptionError, match=r"pass a PEM file, or an ssl\.SSLContext"
    ) as caught:
        client_context(path)
    assert str(caught.value).startswith(f"cannot load CA certificates from {str(path)!r}")


def test_a_context_for_a_plain_ws_url_is_refused_without_the_query(tls: Tls) -> None:
    check_tls("wss://relay.test/c/room?joinKey=secret", tls.client)
    check_tls("ws://relay.test/c/room?joinKey=secret", None)
    with pytest.raises(InvalidOptionError) as caught:
        check_tls("ws://relay.test/c/room?joinKey=secret", tls.client)
    assert str(caught.value) == (
        "an ssl context was given but ws://relay.test/c/room is not a wss:// URL; "
        "use wss:// or drop ssl="
    )


# -- through the transports ------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_tls_context_for_a_plain_ws_url_is_refused_at_open(
    tls: Tls, transport_class: TransportClass
) -> None:
    transport = transport_class(ssl=tls.client)
    listener = WaitingRecorder()
    runtime = LoopRuntime(asyncio.get_running_loop())
    with pytest.raises(InvalidOptionError, match="not a wss:// URL; use wss:// or drop ssl="):
        transport.open("ws://127.0.0.1:9/c/room?", listener, runtime)
    assert listener.calls == []


def test_a_ca_file_that_cannot_be_read_is_refused_at_once(
    tmp_path: Path, transport_class: TransportClass
) -> None:
    with pytest.raises(InvalidOptionError, match="cannot load CA certificates from"):
        transport_class(ssl=str(tmp_path / "missing.pem"))
