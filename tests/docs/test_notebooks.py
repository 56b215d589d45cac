"""Every notebook in notebooks/ runs top to bottom in a real Jupyter kernel.

The kernel runs its own asyncio loop in the main thread, as in Jupyter: this is
where "no asyncio.run, deliver on the running loop" is proved for real. The
notebooks are committed executed, with their outputs, so they read well on
GitHub; both the committed and the fresh outputs are checked for what a reader
should (a PNG beside each chart, presences as tables) and should not see (a
stray socket repr after a send).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from tests.support import scaled

NOTEBOOKS = sorted((Path(__file__).parents[2] / "notebooks").glob("*.ipynb"))
IDS = [p.stem for p in NOTEBOOKS]
EXECUTED: dict[Path, Any] = {}  # each notebook as the kernel left it, run once per session


def read(path: Path) -> Any:
    return nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]


def executed(path: Path) -> Any:
    """The notebook after a fresh run in a real kernel (which raises on any cell's error)."""
    if path not in EXECUTED:
        notebook = read(path)
        client = NotebookClient(
            notebook,
            timeout=int(scaled(60)),
            kernel_name="python3",
            resources={"metadata": {"path": str(path.parent)}},
        )
        client.execute()  # raises CellExecutionError, naming the cell, on any error
        EXECUTED[path] = notebook
    return EXECUTED[path]


def outputs(notebook: Any) -> list[dict[str, Any]]:
    return [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
    ]


def stray_sockets(notebook: Any) -> list[str]:
    """Socket reprs shown only because a cell ended in send(...) or await opened()."""
    texts = ("".join(o.get("data", {}).get("text/plain", "")) for o in outputs(notebook))
    return [text for text in texts if text.startswith("<IttySocket")]


def test_there_are_notebooks_to_run() -> None:
    assert NOTEBOOKS, "notebooks/ is empty"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_runs_in_a_real_kernel_without_errors(path: Path) -> None:
    errors = [
        output
        for output in outputs(executed(path))
        if output.get("output_type") == "error" or output.get("name") == "stderr"
    ]
    assert not errors, errors


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_is_committed_executed_in_order_with_its_outputs(path: Path) -> None:
    cells = [cell for cell in read(path).cells if cell.cell_type == "code"]
    assert [cell.execution_count for cell in cells] == list(range(1, len(cells) + 1))
    assert any(cell.outputs for cell in cells)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_no_cell_shows_a_stray_socket(path: Path) -> None:
    assert stray_sockets(read(path)) == []
    assert stray_sockets(executed(path)) == []


def charts(notebook: Any) -> list[dict[str, Any]]:
    return [o["data"] for o in outputs(notebook) if "image/svg+xml" in o.get("data", {})]


@pytest.mark.parametrize("fresh", [False, True], ids=["committed", "executed"])
def test_the_live_plot_shows_each_chart_as_svg_with_a_png_alongside(fresh: bool) -> None:
    path = next(p for p in NOTEBOOKS if p.stem == "live_plot")
    found = charts(executed(path) if fresh else read(path))
    assert len(found) == 2
    for data in found:
        assert data["image/png"]  # base64 of the PNG, for viewers that drop SVG
        assert "".join(data["text/plain"]).startswith("<Sparkline ")


def test_a_presence_at_the_end_of_a_cell_shows_as_a_table() -> None:
    path = next(p for p in NOTEBOOKS if p.stem == "quickstart")
    tables = [
        "".join(o["data"]["text/html"])
        for o in outputs(executed(path))
        if "".join(o.get("data", {}).get("text/plain", "")).startswith("Presence(")
    ]
    assert tables
    assert all("<table>" in table and "Alice" in table for table in tables)
