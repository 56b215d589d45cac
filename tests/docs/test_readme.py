"""Every code example in README.md runs, so the README never rots.

Python blocks run top to bottom, each in a fresh namespace; ``test_*`` functions
a block defines are then called. JSON blocks must be valid relay configurations.
The JavaScript block runs in Node against ``rx-itty serve``, as the README says
to run it. The set-up commands are checked against ``.ci/run``, which must run
the README's test command exactly.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
import shutil
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from rx_itty.relay.config import config_from_dict
from tests.cli.support import spawn
from tests.interop.jspeer import INSTALL, JS_DIR
from tests.support import scaled

ROOT = Path(__file__).parents[2]
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"```(\w+)\n(.*?)```", README, re.S)
PYTHON = [code for lang, code in BLOCKS if lang == "python"]

pytest_plugins = ["pytester"]
JS = [code for lang, code in BLOCKS if lang == "js"]


def test_the_readme_has_python_examples() -> None:
    assert len(PYTHON) >= 4


@pytest.mark.parametrize("code", PYTHON, ids=[f"python-{i}" for i in range(len(PYTHON))])
def test_python_example_runs(
    code: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    module = types.ModuleType("readme_example")  # a real module, as dataclasses need
    monkeypatch.setitem(sys.modules, module.__name__, module)
    namespace: dict[str, Any] = module.__dict__
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    tests = [v for k, v in namespace.items() if k.startswith("test_") and callable(v)]
    if any(inspect.signature(test).parameters for test in tests):
        # Tests that take fixtures are run by pytest itself, with the installed plugin.
        pytester: pytest.Pytester = request.getfixturevalue("pytester")
        pytester.makepyfile(test_readme_example=code)
        pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=len(tests))
        return
    for test in tests:
        result = test()
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


@pytest.mark.asyncio
async def test_the_javascript_example_runs_in_node_against_rx_itty_serve() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.fail(f"the README's JS example needs Node.js 20+, then: {INSTALL}", pytrace=False)
    assert len(JS) == 1
    relay = await spawn(["serve", "--port", "0"])
    try:
        assert relay.stdout is not None
        async with asyncio.timeout(scaled(20)):
            banner = (await relay.stdout.readline()).decode()
        found = re.search(r"ws://\S+/c/", banner)
        assert found, banner
        # The one change: the port rx-itty serve picked instead of the README's 8080.
        code = JS[0].replace("ws://127.0.0.1:8080/c/", found.group(0))
        # As `node chat.mjs` in a project with the packages (here: the interop tests').
        proc = await asyncio.create_subprocess_exec(
            node,
            "--input-type=module",
            cwd=JS_DIR,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        async with asyncio.timeout(scaled(20)):
            out, err = await proc.communicate(code.encode())
    finally:
        relay.kill()
        await relay.wait()
    assert (proc.returncode, err.decode()) == (0, "")
    assert out.decode() == "Kevin { type: 'chat', text: 'hi' }\n"  # what the comment says
