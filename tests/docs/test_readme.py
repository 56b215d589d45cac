"""Every code example in README.md runs, so the README never rots.

Python blocks run top to bottom, each in a fresh namespace; ``test_*`` functions
a block defines are then called. JSON blocks must be valid relay configurations.
The set-up commands are checked against ``.ci/run``, which must run the README's
test command exactly.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from rx_itty.relay.config import config_from_dict

ROOT = Path(__file__).parents[2]
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"```(\w+)\n(.*?)```", README, re.S)
PYTHON = [code for lang, code in BLOCKS if lang == "python"]


def test_the_readme_has_python_examples() -> None:
    assert len(PYTHON) >= 4


@pytest.mark.parametrize("code", PYTHON, ids=[f"python-{i}" for i in range(len(PYTHON))])
def test_python_example_runs(code: str, monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("readme_example")  # a real module, as dataclasses need
    monkeypatch.setitem(sys.modules, module.__name__, module)
    namespace: dict[str, Any] = module.__dict__
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    for name, value in list(namespace.items()):
        if name.startswith("test_") and callable(value):
            result = value()
            if asyncio.iscoroutine(result):
                asyncio.run(result)


def test_json_examples_are_valid_relay_configs() -> None:
    configs = [json.loads(code) for lang, code in BLOCKS if lang == "json"]
    assert configs
    for raw in configs:
        config_from_dict(raw)


def test_ci_runs_exactly_the_readmes_test_command() -> None:
    commands = [
        line
        for lang, code in BLOCKS
        if lang == "bash"
        for line in code.splitlines()
        if "pytest" in line
    ]
    assert len(commands) == 1, commands
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert ci_lines[-1] == commands[0]
