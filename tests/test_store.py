"""The run store: atomic runs, leftovers, the lock, verification on load, kill safety."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from forecast.store import FORMAT_VERSION, RunStore, StoreBusy, StoreError, new_run_id


def _writer(text: str = "x"):
    def write(folder: Path) -> None:
        (folder / "posterior.nc").write_text(text * 1000)
        (folder / "forecast.csv").write_text("outcome,probability\na,0.5\n")
        (folder / "inputs").mkdir()
        (folder / "inputs" / "a.csv").write_text("date\n")

    return write


def test_write_is_listed_and_verified(tmp_path):
    store = RunStore(tmp_path)
    with store.locked():
        run = store.write(new_run_id("ab" * 32), {"fit_key": "k1", "converged": True}, _writer())
    assert [r.id for r in store.runs()] == [run.id]
    loaded = store.latest()
    assert loaded.manifest["fit_key"] == "k1"
    assert set(loaded.manifest["outputs"]) == {"posterior.nc", "forecast.csv", "inputs/a.csv"}
    assert store.find("k1").id == run.id
    assert store.find("other") is None


def test_altered_file_is_refused(tmp_path):
    store = RunStore(tmp_path)
    with store.locked():
        run = store.write(new_run_id("cd" * 32), {"fit_key": "k"}, _writer())
    (run.path / "forecast.csv").write_text("outcome,probability\na,0.9\n")
    with pytest.raises(StoreError, match="altered"):
        store.latest()
    store.load(run.id, verify=False)  # reading without verification still works


def test_other_format_version_is_refused(tmp_path):
    store = RunStore(tmp_path)
    with store.locked():
        run = store.write(new_run_id("ef" * 32), {"fit_key": "k"}, _writer())
    m = json.loads((run.path / "manifest.json").read_text())
    m["format_version"] = FORMAT_VERSION + 1
    (run.path / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(StoreError, match="run format"):
        store.latest()


def test_incomplete_writer_leaves_nothing_listed(tmp_path):
    store = RunStore(tmp_path)

    def partial(folder: Path) -> None:
        (folder / "posterior.nc").write_text("x")

    with pytest.raises(StoreError, match=r"missing forecast\.csv"), store.locked():
        store.write(new_run_id("01" * 32), {}, partial)
    assert store.runs() == []
    with store.locked():  # the next writer cleans the leftover
        pass
    assert not any(p.name.startswith(".tmp-") for p in tmp_path.iterdir())


def test_lock_held_elsewhere_is_busy(tmp_path, hold_store_lock):
    store = RunStore(tmp_path / "runs")
    hold_store_lock(store.root)
    with pytest.raises(StoreBusy, match="another update"), store.locked():
        pass


def test_lock_of_killed_holder_does_not_block(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    code = (
        f"from filelock import FileLock; FileLock({str(runs / '.lock')!r}).acquire()\n"
        "import os; os.kill(os.getpid(), 9)"
    )
    subprocess.run([sys.executable, "-c", code], check=False)
    with RunStore(runs).locked():
        pass


KILL_SCRIPT = """
import sys, time
from pathlib import Path
from forecast.store import RunStore, new_run_id
store = RunStore(sys.argv[1])
def write(folder: Path) -> None:
    for name in ("posterior.nc", "forecast.csv"):
        with open(folder / name, "w") as fh:
            for _ in range(200):
                fh.write("x" * 10000)
                fh.flush()
    (folder / "inputs").mkdir()
    (folder / "inputs" / "evidence.csv").write_text("date\\n")
i = 0
while True:
    with store.locked(timeout=5):
        store.write(new_run_id(f"{i:064x}"), {"fit_key": str(i), "converged": True}, write)
    i += 1
"""


def test_sigkill_at_random_moments_leaves_only_complete_runs(tmp_path):
    """Kill a writer at random moments, many times: only complete, verifiable runs are listed."""
    script = tmp_path / "writer.py"
    script.write_text(KILL_SCRIPT)
    root = tmp_path / "runs"
    rng = random.Random(7)
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    for _ in range(20):
        p = subprocess.Popen([sys.executable, str(script), str(root)], env=env)
        time.sleep(0.5 + rng.random() * 2.5)
        p.send_signal(signal.SIGKILL)
        p.wait()
        store = RunStore(root)
        for run in store.runs():  # every listed run verifies (hashes match, nothing missing)
            store.load(run.id, verify=True)
    store = RunStore(root)
    assert len(store.runs()) > 0
    with store.locked():  # next writer proceeds and cleans leftovers
        store.write(new_run_id("f" * 64), {"fit_key": "final"}, _writer())
    assert not any(p.name.startswith(".tmp-") for p in root.iterdir())
    assert store.latest().manifest["fit_key"] == "final"
