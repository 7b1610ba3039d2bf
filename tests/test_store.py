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

from forecast.data.errors import InputError
from forecast.runs.store import (
    FORMAT_VERSION,
    CorruptRunWarning,
    RunStore,
    StoreBusy,
    StoreError,
    UnknownRun,
    new_run_id,
)

# The keys every run manifest has (forecast.runs.update writes them; the store requires them).
META = {
    "scenario": "mini",
    "created_at": "2026-01-01T00:00:00+00:00",
    "converged": True,
    "diagnostics": {"max_rhat": 1.0, "min_ess_bulk": 900, "min_ess_tail": 800, "divergences": 0},
    "seed": 1,
    "horizons": [6, 12],
}


def meta(**kw) -> dict:
    return {**META, **kw}


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
        run = store.write(new_run_id("ab" * 32), meta(fit_key="k1"), _writer())
    assert [r.id for r in store.runs()] == [run.id]
    loaded = store.latest()
    assert loaded.manifest["fit_key"] == "k1"
    assert set(loaded.manifest["outputs"]) == {"posterior.nc", "forecast.csv", "inputs/a.csv"}
    assert store.find("k1").id == run.id
    assert store.find("other") is None


def test_altered_file_is_refused(tmp_path):
    store = RunStore(tmp_path)
    with store.locked():
        run = store.write(new_run_id("cd" * 32), meta(fit_key="k"), _writer())
    (run.path / "forecast.csv").write_text("outcome,probability\na,0.9\n")
    with pytest.raises(StoreError, match="altered"):
        store.latest()
    store.load(run.id, verify=False)  # reading without verification still works


def test_other_format_version_is_refused(tmp_path):
    store = RunStore(tmp_path)
    with store.locked():
        run = store.write(new_run_id("ef" * 32), meta(fit_key="k"), _writer())
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


KILL_SCRIPT = (
    f"META = {META!r}\n"
    + """
import sys, time
from pathlib import Path
from forecast.runs.store import RunStore, new_run_id
store = RunStore(sys.argv[1])
print("ready", flush=True)
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
        store.write(new_run_id(f"{i:064x}"), {**META, "fit_key": str(i)}, write)
    i += 1
"""
)


def test_sigkill_at_random_moments_leaves_only_complete_runs(tmp_path):
    """Kill a writer at random moments, many times: only complete, verifiable runs are listed."""
    script = tmp_path / "writer.py"
    script.write_text(KILL_SCRIPT)
    root = tmp_path / "runs"
    rng = random.Random(7)
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    for _ in range(12):  # killed at a random moment once it has started (whatever the load)
        p = subprocess.Popen(
            [sys.executable, str(script), str(root)], env=env, stdout=subprocess.PIPE, text=True
        )
        assert p.stdout.readline().strip() == "ready"
        time.sleep(rng.random() * 1.5)
        p.send_signal(signal.SIGKILL)
        p.wait()
        p.stdout.close()
        store = RunStore(root)
        for run in store.runs():  # every listed run verifies (hashes match, nothing missing)
            store.load(run.id, verify=True)
    store = RunStore(root)
    assert len(store.runs()) > 0
    with store.locked():  # next writer proceeds and cleans leftovers
        store.write(new_run_id("f" * 64), meta(fit_key="final"), _writer())
    assert not any(p.name.startswith(".tmp-") for p in root.iterdir())
    assert store.latest().manifest["fit_key"] == "final"


# --- unreadable runs are skipped; reads never mix scenarios ---------------------------------------


def _store_with(tmp_path: Path, *metas: dict) -> tuple[RunStore, list[str]]:
    """A store with one fake run per manifest (oldest first); returns it and the run ids."""
    store = RunStore(tmp_path / "runs")
    ids = []
    with store.locked():
        for i, m in enumerate(metas):
            ids.append(store.write(new_run_id(f"{i:064x}"), m, _writer()).id)
    return store, ids


CORRUPT = {
    "truncated": '{"scenario": "mi',
    "null": "null",
    "array": "[]",
    "number": "3",
    "empty": "",
    "not_utf8": b"\xff\xfe{}",
    "deeply_nested": "[" * 100_000,
    "no_scenario": json.dumps({k: v for k, v in META.items() if k != "scenario"}),
    "scenario_not_text": json.dumps(meta(scenario=3)),
    "boolean_seed": json.dumps(meta(seed=True)),
    "no_rhat": json.dumps(meta(diagnostics={"min_ess_bulk": 1})),
}


@pytest.mark.parametrize("name", list(CORRUPT))
def test_unreadable_manifest_is_skipped_with_a_warning(tmp_path, name):
    store, (good,) = _store_with(tmp_path, meta(fit_key="k"))
    bad = store.root / new_run_id("e" * 64)  # newer than the good run
    bad.mkdir()
    text = CORRUPT[name]
    mpath = bad / "manifest.json"
    mpath.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.warns(CorruptRunWarning, match=bad.name):
        assert [r.id for r in store.runs()] == [good]
    with pytest.warns(CorruptRunWarning):
        assert store.latest().id == good
    with pytest.warns(CorruptRunWarning):
        assert store.find("k").id == good
    with pytest.warns(CorruptRunWarning):
        assert [r.id for r in store.select("mini")] == [good]
    with pytest.raises(StoreError, match="manifest"):  # asked for by id: an error, not a skip
        store.load(bad.name)


def test_runs_are_filtered_by_scenario_and_run(tmp_path):
    store, ids = _store_with(
        tmp_path, meta(scenario="a"), meta(scenario="b"), meta(scenario="a"), meta(scenario="b")
    )
    assert [r.id for r in store.runs(scenario="a")] == [ids[0], ids[2]]
    assert store.latest(scenario="b").id == ids[3]
    assert store.latest(scenario="c") is None
    assert store.scenarios() == ["a", "b"]
    assert [r.id for r in store.select("a")] == [ids[0], ids[2]]
    assert [r.id for r in store.select("a", last=1)] == [ids[2]]
    assert [r.id for r in store.select("b", ids[1])] == [ids[1]]  # up to the chosen run
    assert store.select("c") == []
    with pytest.raises(UnknownRun, match="of scenario 'b', not 'a'"):
        store.select("a", ids[1])
    for bad in ("nope", "../runs", new_run_id("0" * 64) + "\n", "", "\x00"):
        with pytest.raises(UnknownRun, match="no run"):
            store.select("a", bad)


def test_load_refuses_a_manifest_listing_files_outside_the_run(tmp_path):
    store, (rid,) = _store_with(tmp_path, meta())
    mpath = store.root / rid / "manifest.json"
    m = json.loads(mpath.read_text())
    m["outputs"]["../../elsewhere"] = "0" * 64
    mpath.write_text(json.dumps(m))
    with pytest.raises(StoreError, match="outside the run"):
        store.load(rid)


def test_find_base_skips_unreadable_and_altered_runs(tmp_path):
    """The warm update's base search tolerates damaged runs beside good ones."""
    from dataclasses import asdict

    from forecast.inference.reweighting import find_base
    from forecast.inference.sampling import SamplerSettings

    settings = SamplerSettings()
    base = meta(structure_key="s", sampler=asdict(settings))
    store, ids = _store_with(tmp_path, base, base)
    (store.root / ids[1] / "forecast.csv").write_text("altered\n")
    bad = store.root / new_run_id("e" * 64)
    bad.mkdir()
    (bad / "manifest.json").write_text("null")
    with pytest.warns(CorruptRunWarning) as caught:
        assert find_base(store, "s", settings).id == ids[0]
    messages = " ".join(str(w.message) for w in caught)
    assert bad.name in messages and f"not reweighting run {ids[1]}" in messages


def test_select_runs_up_to_a_run_and_the_last_n(tmp_path):
    a, b = meta(scenario="a"), meta(scenario="b")
    store, ids = _store_with(tmp_path, a, b, a, a)

    def selected(*args, **kw) -> list[str]:
        return [r.id for r in store.select(*args, **kw)]

    assert selected("a") == [ids[0], ids[2], ids[3]]
    assert selected("a", ids[2]) == [ids[0], ids[2]]
    assert selected("a", ids[0]) == [ids[0]]
    assert selected("a", last=2) == [ids[2], ids[3]]
    assert selected("a", ids[2], last=1) == [ids[2]]
    assert selected("a", last=0) == []
    assert selected("c") == []


def test_select_verifies_by_default_and_names_another_scenarios_run(tmp_path):
    a, b = meta(scenario="a"), meta(scenario="b")
    store, ids = _store_with(tmp_path, a, b)
    (store.root / ids[1] / "forecast.csv").write_text("tampered")
    with pytest.raises(UnknownRun, match=f"run {ids[1]} .* is of scenario 'b', not 'a'"):
        store.select("a", ids[1])
    (store.root / ids[0] / "forecast.csv").write_text("tampered")
    with pytest.raises(StoreError, match="altered since the run was written"):
        store.select("a")
    assert [r.id for r in store.select("a", verify=False)] == [ids[0]]


# --- a run's files: forecast table, posterior, inputs (hand-built, no sampling) -------------------


def _run_with_files(tmp_path: Path, mini_root: Path) -> tuple[RunStore, str]:
    """A run whose files are written by hand: a forecast table with empty and NA-like cells, a
    small posterior (arviz, two chains), and a copy of the mini scenario as ``inputs/``."""
    import shutil

    import arviz as az
    import numpy as np

    def write(folder: Path) -> None:
        rng = np.random.default_rng(3)
        az.from_dict(
            posterior={"p": rng.random((2, 5)), "mu": rng.normal(size=(2, 5, 3))}
        ).to_netcdf(str(folder / "posterior.nc"))
        (folder / "forecast.csv").write_text(
            "outcome,candidate,horizon_months,probability,lower,upper\n"
            "deal,,6,0.250000,0.100000,0.400000\n"
            "leader,NA,12,0.500000,,0.700000\n"
            "leader,None,12,0.125000,0.050000,0.200000\n"
        )
        for sub in ("priors", "data"):
            shutil.copytree(mini_root / sub, folder / "inputs" / sub)

    store = RunStore(tmp_path / "runs")
    with store.locked():
        run = store.write(new_run_id("ab" * 32), meta(), write)
    return store, run.id


def test_run_forecast_keeps_na_like_names_and_reads_empty_cells_as_missing(
    tmp_path: Path, mini_root: Path
) -> None:
    store, rid = _run_with_files(tmp_path, mini_root)
    df = store.load(rid).forecast()
    assert list(df.columns) == [
        "outcome",
        "candidate",
        "horizon_months",
        "probability",
        "lower",
        "upper",
    ]
    # "NA" and "None" are candidate names (not missing values); an empty cell is missing
    assert df["candidate"].iloc[1:].tolist() == ["NA", "None"]
    assert df["candidate"].isna().tolist() == [True, False, False]
    assert df["lower"].isna().tolist() == [False, True, False]
    assert df["probability"].tolist() == [0.25, 0.5, 0.125]
    assert df["horizon_months"].tolist() == [6, 12, 12]


def test_run_posterior_is_read_from_its_file(tmp_path: Path, mini_root: Path) -> None:
    store, rid = _run_with_files(tmp_path, mini_root)
    idata = store.load(rid).posterior()
    assert set(idata.posterior.data_vars) == {"p", "mu"}
    assert dict(idata.posterior["mu"].sizes) == {"chain": 2, "draw": 5, "mu_dim_0": 3}


def test_run_inputs_are_loaded_from_its_own_copy(tmp_path: Path, mini_root: Path) -> None:
    from forecast.data.inputs import load_inputs

    store, rid = _run_with_files(tmp_path, mini_root)
    run = store.load(rid)
    inputs = run.inputs()
    expected = load_inputs("mini", mini_root)
    assert inputs.scenario.name == "mini"
    assert inputs.scenario_file == run.path / "inputs" / "priors" / "mini.toml"
    assert inputs.evidence_dir == run.path / "inputs" / "data" / "mini"
    assert inputs.file_hashes() == expected.file_hashes()
    assert len(inputs.evidence.frame) == len(expected.evidence.frame)
    # read from the run's own copy: damaging the copy (not the project) is what fails
    (run.path / "inputs" / "data" / "mini" / "evidence.csv").write_text("date,kind\n")
    with pytest.raises(InputError):
        run.inputs()
