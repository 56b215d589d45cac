"""Every end-to-end test runs once per network transport (picows where it is installed)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def each_transport(transport_name: str) -> str:
    """``connect()`` (and every program a test starts) uses this transport by default."""
    return transport_name
