"""Execute the notebooks top to bottom on fresh kernels and keep their outputs, so a reader on a
code host sees the figures.

They run in order in a scratch copy of ``notebooks/``, ``priors/`` and ``data/`` sharing one run
store, as in the repository, so nothing else in the repository changes; the executed notebooks
(outputs, no run-dependent metadata) are written back to ``notebooks/``. The slow test
``tests/test_notebooks.py`` runs them the same way through :func:`execute`.

    python scripts/run_notebooks.py            # all notebooks
    python scripts/run_notebooks.py 03         # those whose name contains "03"
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
TIMEOUT_S = 1200  # per cell: a cold default fit on 2 cores takes about 5 minutes


def workspace(root: Path) -> Path:
    """A copy of the repository's notebooks, priors and data under ``root``, with ``../shared``
    linked beside it as the repository has it; returns the copy's folder."""
    ws = root / "repo"
    for sub in ("notebooks", "priors", "data"):
        shutil.copytree(REPO / sub, ws / sub, ignore=shutil.ignore_patterns("runs", "report"))
    shared = root / "shared"
    if not shared.exists() and (REPO.parent / "shared").exists():
        shared.symlink_to(REPO.parent / "shared")
    return ws


def execute(path: Path, ws: Path) -> nbformat.NotebookNode:
    """Run the notebook named like ``path`` in ``ws`` on a fresh kernel and return it executed;
    raises ``CellExecutionError`` (naming the cell) on any error."""
    from nbclient import NotebookClient

    nb = nbformat.read(ws / "notebooks" / path.name, as_version=4)
    client = NotebookClient(
        nb,
        timeout=TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(ws / "notebooks")}},
    )
    client.execute()
    return nb


def strip_metadata(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Drop what changes from run to run without changing what a reader sees (cell timings,
    execution metadata), so a re-execution's diff shows only outputs."""
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        for out in cell.get("outputs", []):
            out.get("metadata", {}).pop("execution", None)
    return nb


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help="run only notebooks whose file name contains one")
    args = ap.parse_args()
    paths = sorted((REPO / "notebooks").glob("*.ipynb"))
    if args.names:
        paths = [p for p in paths if any(n in p.name for n in args.names)]
    with tempfile.TemporaryDirectory(prefix="notebooks-") as tmp:
        ws = workspace(Path(tmp))
        for p in paths:
            t0 = time.perf_counter()
            nb = strip_metadata(execute(p, ws))
            nbformat.validate(nb)
            nbformat.write(nb, p)
            print(f"{p.name}: {time.perf_counter() - t0:.0f} s, {p.stat().st_size / 1e3:.0f} kB")


if __name__ == "__main__":
    main()
