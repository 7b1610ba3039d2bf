"""The notebooks: committed with their outputs, run top to bottom (fast checks of the committed
files), and each re-executed on a fresh kernel with the same kinds of output (slow).

``scripts/run_notebooks.py`` executes them and writes the outputs back; the slow test runs them
the same way, in a scratch copy of ``notebooks/``, ``priors/`` and ``data/``, so nothing in the
repository changes.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import re
from pathlib import Path

import nbformat
import needs
import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
ABSOLUTE_PATH = re.compile(r"""(["'\s]|^)(/(home|tmp|work|usr|root|Users)/|[A-Za-z]:\\)""", re.M)
MAX_BYTES = 1_500_000  # a notebook with a handful of PNG figures; more means a figure too large


@functools.cache
def _runner():
    """``scripts/run_notebooks.py`` as a module (scripts are not a package)."""
    spec = importlib.util.spec_from_file_location(
        "run_notebooks", REPO / "scripts" / "run_notebooks.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _text(output) -> str:
    if output.output_type == "stream":
        return output.text
    return "".join(str(v) for k, v in output.get("data", {}).items() if k.startswith("text/"))


def _kinds(nb) -> list[list[str]]:
    """Per code cell, what it shows: printed text, tables, figures (the richest MIME type), in
    order, runs of one kind merged; warnings on stderr are left out (they depend on caches)."""
    kinds = []
    for c in nb.cells:
        if c.cell_type != "code":
            continue
        shown = []
        for o in c.outputs:
            if o.get("name") == "stderr":
                continue
            data = o.get("data", {})
            kind = next((m for m in ("image/png", "text/html") if m in data), o.get("name", "text"))
            if not shown or shown[-1] != kind:
                shown.append(kind)
        kinds.append(shown)
    return kinds


def test_there_are_at_least_four_notebooks():
    assert len(NOTEBOOKS) >= 4, NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_run_with_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and nb.cells[0].cell_type == "markdown"  # each opens by saying its story
    # ran top to bottom on one kernel: counts 1, 2, 3, ... in cell order
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1))
    outputs = [o for c in code for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert not [o for o in outputs if "Traceback" in _text(o)]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 2, "every notebook shows its story in figures"
    assert path.stat().st_size <= MAX_BYTES, f"{path.name}: {path.stat().st_size} bytes"
    for c in code:
        assert not ABSOLUTE_PATH.search(c.source), c.source
        assert "pm.Model" not in c.source and "import pymc" not in c.source  # library calls only
        for o in c.outputs:  # nothing of the machine that ran it (paths, user names)
            assert not ABSOLUTE_PATH.search(_text(o)), _text(o)[:500]


def tree_hash(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(root).as_posix().encode() + p.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    return _runner().workspace(tmp_path_factory.mktemp("notebooks"))


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path, workspace):
    if "shared/data" in path.read_text(encoding="utf-8"):
        needs.shared_data()
    data_before = tree_hash(workspace / "data") + tree_hash(workspace / "priors")
    nb = _runner().execute(path, workspace)  # raises CellExecutionError, naming the cell
    assert tree_hash(workspace / "data") + tree_hash(workspace / "priors") == data_before
    # the committed outputs are of this code: the same kinds of output, cell by cell
    assert _kinds(nb) == _kinds(nbformat.read(path, as_version=4)), "rerun scripts/run_notebooks.py"
