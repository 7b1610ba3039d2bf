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
from conftest import os_errors

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
            {"posterior": {"p": rng.random((2, 5)), "mu": rng.normal(size=(2, 5, 3))}}
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
    assert set(idata["posterior"].data_vars) == {"p", "mu"}
    assert dict(idata["posterior"]["mu"].sizes) == {"chain": 2, "draw": 5, "mu_dim_0": 3}
    import numpy as np

    assert float(idata["posterior"]["p"][1, 4]) == np.random.default_rng(3).random((2, 5))[1, 4]


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


# --- the store's contract in detail: ids, messages, the format, what verification refuses ---------


def test_new_run_id_is_utc_time_and_the_hash_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import UTC, datetime, timedelta

    at = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)
    assert new_run_id("0123456789abcdef", at) == "20260304T050607890123Z-01234567"
    # without a time: now, in UTC whatever the local time zone
    monkeypatch.setenv("TZ", "Asia/Kathmandu")  # UTC+5:45
    time.tzset()
    try:
        rid = new_run_id("f" * 64)
    finally:
        monkeypatch.undo()
        time.tzset()
    stamp = datetime.strptime(rid[:22], "%Y%m%dT%H%M%S%fZ").replace(tzinfo=UTC)
    assert abs(datetime.now(UTC) - stamp) < timedelta(minutes=5)
    assert rid.endswith("Z-ffffffff")


def test_a_run_written_by_format_1_stays_readable(tmp_path: Path) -> None:
    """A run folder as format 1 writes it (by hand here): listed, loaded and verified."""
    import hashlib

    root = tmp_path / "runs"
    run = root / "20250101T000000000000Z-0123abcd"
    run.mkdir(parents=True)
    files = {"posterior.nc": b"p", "forecast.csv": b"outcome\n", "inputs/data/x/a.csv": b"d\n"}
    for name, data in files.items():
        (run / name).parent.mkdir(parents=True, exist_ok=True)
        (run / name).write_bytes(data)
    outputs = {k: hashlib.sha256(v).hexdigest() for k, v in files.items()}
    (run / "manifest.json").write_text(
        json.dumps({**META, "id": run.name, "format_version": 1, "outputs": outputs})
    )
    store = RunStore(root)
    assert store.load(run.name).manifest["outputs"] == outputs
    assert [r.id for r in store.runs(verify=True)] == [run.name]
    assert store.latest().id == run.name


def test_written_manifest_records_id_format_and_every_file(tmp_path: Path) -> None:
    import hashlib

    store = RunStore(tmp_path / "runs")
    with store.locked():
        run = store.write(new_run_id("ab" * 32), meta(fit_key="k"), _writer("y"))
    on_disk = json.loads((run.path / "manifest.json").read_text(encoding="utf-8"))
    assert on_disk == run.manifest
    assert on_disk["id"] == run.id and on_disk["format_version"] == FORMAT_VERSION == 1
    assert on_disk["outputs"] == {
        "posterior.nc": hashlib.sha256(b"y" * 1000).hexdigest(),
        "forecast.csv": hashlib.sha256(b"outcome,probability\na,0.5\n").hexdigest(),
        "inputs/a.csv": hashlib.sha256(b"date\n").hexdigest(),
    }
    assert {k: on_disk[k] for k in META} == META
    # readable and diffable: one key per line, indented, keys sorted (the same run, the same text)
    text = (run.path / "manifest.json").read_text(encoding="utf-8")
    assert text == json.dumps(run.manifest, indent=2, sort_keys=True)
    assert text.splitlines()[1] == '  "converged": true,'


def test_a_run_is_written_in_a_hidden_folder_and_renamed(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs")
    seen = []

    def write(folder: Path) -> None:
        seen.append(folder)
        assert folder.parent == store.root and folder.name.startswith(".")
        assert store.runs() == []  # not listed while it is written
        _writer()(folder)

    with store.locked():
        run = store.write(new_run_id("ab" * 32), meta(), write)
    assert not seen[0].exists() and run.path == store.root / run.id
    assert sorted(p.name for p in store.root.iterdir()) == [".lock", run.id]


def test_incomplete_run_names_every_missing_file(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    with pytest.raises(StoreError) as exc, store.locked():
        store.write(new_run_id("01" * 32), meta(), lambda folder: None)
    assert str(exc.value).endswith("run incomplete, missing posterior.nc, forecast.csv")


def test_locked_makes_the_store_folder_and_can_be_taken_again(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "a" / "b" / "runs")
    with store.locked():
        assert (store.root / ".lock").is_file()
    with store.locked():  # released, and the existing folder is fine
        pass


def test_busy_store_fails_at_once_with_the_lock_named(tmp_path, hold_store_lock) -> None:
    store = RunStore(tmp_path / "runs")
    hold_store_lock(store.root)
    t0 = time.monotonic()
    with pytest.raises(StoreBusy) as exc, store.locked():
        pass
    assert time.monotonic() - t0 < 0.75  # no waiting by default
    assert str(exc.value) == f"{store.root}: another update is running (lock {store.root}/.lock)"
    with pytest.raises(StoreBusy), store.locked(timeout=0.2):
        pass


def test_a_leftover_that_cannot_be_removed_does_not_block_writers(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs")
    store.root.mkdir()
    (store.root / ".tmp-stray-file").write_text("not a folder")
    (store.root / ".tmp-20250101T000000000000Z-0123abcd").mkdir()
    (store.root / "notes.txt").write_text("mine")
    with store.locked():
        store.write(new_run_id("ab" * 32), meta(), _writer())
    names = sorted(p.name for p in store.root.iterdir())
    assert ".tmp-20250101T000000000000Z-0123abcd" not in names
    assert "notes.txt" in names and len(store.runs()) == 1


def test_store_that_is_missing_or_not_a_folder_has_no_runs(tmp_path: Path) -> None:
    assert RunStore(tmp_path / "none").runs() == []
    (tmp_path / "file").write_text("x")
    assert RunStore(tmp_path / "file").runs() == []
    assert RunStore(tmp_path / "file").latest() is None


@os_errors
def test_store_that_cannot_be_listed_is_a_store_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: OSError, message: str
) -> None:
    store, _ = _store_with(tmp_path, meta())

    def fail(self):
        raise error

    monkeypatch.setattr(Path, "iterdir", fail)
    with pytest.raises(StoreError) as exc:
        store.runs()
    assert str(exc.value) == f"{store.root}: cannot list the run store ({message})"


def test_corrupt_run_warning_names_the_run_and_points_at_the_caller(tmp_path: Path) -> None:
    store, _ = _store_with(tmp_path, meta())
    bad = store.root / new_run_id("e" * 64)
    bad.mkdir()
    (bad / "manifest.json").write_text("[]")
    for read in (store.runs, store.scenarios):
        with pytest.warns(CorruptRunWarning) as caught:
            read()
        (w,) = caught
        assert str(w.message) == (
            f"skipped a run: {bad / 'manifest.json'}: the run manifest is an array,"
            " not a JSON object"
        )
        if "MUTANT_UNDER_TEST" not in os.environ:  # mutmut's trampolines add stack frames
            assert w.filename == __file__  # attributed to the code that asked for the runs


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ('"text"', "the run manifest is a string, not a JSON object"),
        ("true", "the run manifest is a boolean, not a JSON object"),
        ("null", "the run manifest is null, not a JSON object"),
        ("[1]", "the run manifest is an array, not a JSON object"),
        ("2.5", "the run manifest is a number, not a JSON object"),
        ("{", "cannot read the run manifest (Expecting property name enclosed in double quotes"),
        (json.dumps(meta(converged="yes")), "the run manifest's 'converged' is not a bool"),
        (json.dumps(meta(horizons={})), "the run manifest's 'horizons' is not a list"),
        (json.dumps(meta(diagnostics=[])), "the run manifest's 'diagnostics' is not a dict"),
        (json.dumps(meta(seed=1.5)), "the run manifest's 'seed' is not a int"),
        (
            json.dumps({k: v for k, v in META.items() if k != "created_at"}),
            "the run manifest has no 'created_at'",
        ),
        (
            json.dumps(meta(diagnostics={**META["diagnostics"], "divergences": True})),
            "the run manifest's diagnostics have no number 'divergences'",
        ),
        (
            json.dumps(meta(diagnostics={**META["diagnostics"], "min_ess_tail": "800"})),
            "the run manifest's diagnostics have no number 'min_ess_tail'",
        ),
    ],
)
def test_why_a_manifest_is_unreadable(tmp_path: Path, text: str, why: str) -> None:
    store, (rid,) = _store_with(tmp_path, meta())
    mpath = store.root / rid / "manifest.json"
    mpath.write_text(text)
    with pytest.raises(StoreError) as exc:
        store.load(rid, verify=False)
    assert str(exc.value).startswith(f"{mpath}: {why}")


def test_manifest_that_cannot_be_read_names_the_os_reason(tmp_path: Path, monkeypatch) -> None:
    store, (rid,) = _store_with(tmp_path, meta())
    real = Path.read_text

    def read_text(self, *a, **k):
        if self.name == "manifest.json":
            raise PermissionError(13, "Permission denied")
        return real(self, *a, **k)

    monkeypatch.setattr(Path, "read_text", read_text)
    with pytest.raises(StoreError) as exc:
        store.load(rid)
    mpath = store.root / rid / "manifest.json"
    assert str(exc.value) == f"{mpath}: cannot read the run manifest (Permission denied)"


def test_int_diagnostics_and_float_diagnostics_are_both_numbers(tmp_path: Path) -> None:
    d = {"max_rhat": 1, "min_ess_bulk": 900.5, "min_ess_tail": 800, "divergences": 0.0}
    store, (rid,) = _store_with(tmp_path, meta(diagnostics=d))
    assert store.load(rid).manifest["diagnostics"] == d


def test_unknown_run_messages(tmp_path: Path) -> None:
    empty = RunStore(tmp_path / "empty")
    with pytest.raises(UnknownRun) as exc:
        empty.load("20250101T000000000000Z-0123abcd")
    assert str(exc.value) == (
        f"no run '20250101T000000000000Z-0123abcd' in {empty.root} (the store has no runs)"
    )
    store, ids = _store_with(tmp_path, meta(), meta(), meta())
    with pytest.raises(UnknownRun) as exc:
        store.load("nope")
    assert str(exc.value) == f"no run 'nope' in {store.root} (newest: {ids[2]})"


def _edit_manifest(store: RunStore, rid: str, **changes) -> None:
    mpath = store.root / rid / "manifest.json"
    m = json.loads(mpath.read_text())
    for k, v in changes.items():
        if v is None:
            m.pop(k)
        else:
            m[k] = v
    mpath.write_text(json.dumps(m))


def test_verification_refuses_what_it_cannot_check(tmp_path: Path) -> None:
    import hashlib

    store, (rid,) = _store_with(tmp_path, meta())
    path = store.root / rid
    good = json.loads((path / "manifest.json").read_text())["outputs"]

    _edit_manifest(store, rid, format_version=None)
    with pytest.raises(StoreError) as exc:
        store.load(rid)
    assert str(exc.value) == (
        f"{path}: written in run format None, this version reads 1;"
        " refit with `forecast update --force`"
    )

    _edit_manifest(store, rid, format_version=1, outputs=None)
    with pytest.raises(StoreError) as exc:
        store.load(rid)
    assert str(exc.value) == f"{path}: the run manifest lists no output files"

    # an absolute name would check (and vouch for) a file outside the run, even if it matches
    outside = tmp_path / "outside.txt"
    outside.write_text("x")
    digest = hashlib.sha256(b"x").hexdigest()
    _edit_manifest(store, rid, outputs={**good, str(outside): digest})
    with pytest.raises(StoreError) as exc:
        store.load(rid)
    assert str(exc.value) == (
        f"{path}: the run manifest lists a file outside the run: {str(outside)!r}"
    )

    _edit_manifest(store, rid, outputs=good)
    (path / "posterior.nc").unlink()
    with pytest.raises(StoreError) as exc:
        store.load(rid)
    assert str(exc.value) == f"{path / 'posterior.nc'}: missing from the run"
    store.load(rid, verify=False)  # still readable without verification


def test_runs_does_not_verify_unless_asked(tmp_path: Path) -> None:
    store, (rid,) = _store_with(tmp_path, meta())
    (store.root / rid / "forecast.csv").write_text("altered")
    assert [r.id for r in store.runs()] == [rid]
    assert store.latest(verify=False).id == rid
    with pytest.raises(StoreError, match="altered"):
        store.runs(verify=True)
    with pytest.raises(StoreError, match="altered"):
        store.load(rid)


def test_manifest_is_utf8_whatever_the_locale(tmp_path: Path) -> None:
    import locale

    store = RunStore(tmp_path / "runs")
    old = locale.setlocale(locale.LC_CTYPE)
    locale.setlocale(locale.LC_CTYPE, "C")  # ASCII: reading without an encoding would fail
    try:
        with store.locked():
            run = store.write(new_run_id("ab" * 32), meta(scenario="caf\u00e9"), _writer())
        # as another tool (or a hand edit) may write it: raw UTF-8, not \\u escapes
        mpath = run.path / "manifest.json"
        mpath.write_bytes(json.dumps(run.manifest, ensure_ascii=False).encode("utf-8"))
        assert "caf\u00e9".encode() in mpath.read_bytes()
        assert store.load(run.id).scenario == "caf\u00e9"
        assert store.scenarios() == ["caf\u00e9"]
    finally:
        locale.setlocale(locale.LC_CTYPE, old)


def test_only_run_folders_are_listed(tmp_path: Path) -> None:
    """A writer killed after writing its manifest leaves a complete-looking temporary folder;
    it, and any other folder holding a manifest.json, is never listed as a run."""
    store, (rid,) = _store_with(tmp_path, meta())
    for name in (".tmp-" + new_run_id("e" * 64), "backup", rid + "-copy"):
        (store.root / name).mkdir()
        (store.root / name / "manifest.json").write_text(
            (store.root / rid / "manifest.json").read_text()
        )
    (store.root / new_run_id("d" * 64)).mkdir()  # a run id without a manifest
    assert [r.id for r in store.runs()] == [rid]
    assert [p.name for p in store.run_dirs()] == [rid]
