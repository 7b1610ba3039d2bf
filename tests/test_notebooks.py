"""The notebooks: clean as committed (fast), and each runs top to bottom on a fresh kernel (slow).

The slow test runs them in order in a temporary copy of ``notebooks/``, ``priors/`` and ``data/``,
sharing one run store as they would in the repository, so nothing in the repository changes.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import nbformat
import needs
import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
ABSOLUTE_PATH = re.compile(r"""["'](/(home|tmp|work|usr|root|Users)/|[A-Za-z]:\\)""")


def test_there_are_at_least_four_notebooks():
    assert len(NOTEBOOKS) >= 4, NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_clean(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and nb.cells[0].cell_type == "markdown"  # each opens by saying its story
    for c in code:
        assert not c.outputs and c.execution_count is None, "commit notebooks without outputs"
        assert not ABSOLUTE_PATH.search(c.source), c.source
        assert "pm.Model" not in c.source and "import pymc" not in c.source  # library calls only


def tree_hash(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(root).as_posix().encode() + p.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    ws = tmp_path_factory.mktemp("notebooks")
    for sub in ("notebooks", "priors", "data"):
        shutil.copytree(REPO / sub, ws / sub, ignore=shutil.ignore_patterns("runs", "report"))
    # the forecast-skill notebook reads the shared questions in place, beside the repository
    shared = ws.parent / "shared"
    if not shared.exists():
        shared.symlink_to(REPO.parent / "shared")
    return ws


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path, workspace):
    from nbclient import NotebookClient

    if "shared/data" in path.read_text(encoding="utf-8"):
        needs.shared_data()
    data_before = tree_hash(workspace / "data") + tree_hash(workspace / "priors")
    nb = nbformat.read(workspace / "notebooks" / path.name, as_version=4)
    client = NotebookClient(
        nb,
        timeout=1200,
        kernel_name="python3",
        resources={"metadata": {"path": str(workspace / "notebooks")}},
    )
    client.execute()  # raises CellExecutionError, naming the cell, on any error
    images = sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))
    assert images >= 2, "every notebook shows its story in figures"
    assert tree_hash(workspace / "data") + tree_hash(workspace / "priors") == data_before
