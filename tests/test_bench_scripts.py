"""The reliability scripts under bench/ run in CI in their --quick mode, so they cannot rot.

Each checks its own figures and exits non-zero when something was lost,
duplicated or reordered (or a stalled member was never dropped).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import scaled

BENCH = Path(__file__).parents[1] / "bench"


@pytest.mark.parametrize(
    ("script", "figures"),
    [
        ("load.py", ["delivered", "duplicated", "KiB per connection"]),
        ("slow_consumers.py", ["stalled members dropped", "last drop after", "relay RSS peak"]),
        ("restart.py", ["open again after a restart", "duplicated"]),
        ("soak.py", ["relay RSS growth", "members replaced"]),
    ],
)
def test_a_quick_run_passes_and_prints_its_figures(script: str, figures: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH / script), "--quick"],
        capture_output=True,
        text=True,
        timeout=scaled(180),
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for figure in figures:
        assert figure in done.stdout
