"""Fixtures shared by the operator tests: a virtual-time world with an in-memory relay."""

from __future__ import annotations

import pytest

from tests.operators.support import World


@pytest.fixture
def world() -> World:
    return World()
