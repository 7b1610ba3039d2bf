"""`forecast backtest` end to end on a slice of the dev questions, in a real process with a real
local Dask cluster: the JSON line, the results folder, and no crowd value from after an origin."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import needs
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]


def dev_slice(tmp_path: Path, start: str, end: str) -> tuple[Path, Path]:
    """Dev questions resolved in [start, end) and their crowd series, in files of that format."""
    shared = needs.shared_data("questions")
    q = pd.read_csv(shared / "questions_dev.csv", dtype=str, keep_default_na=False)
    c = pd.read_csv(shared / "crowd_series_dev.csv", dtype=str, keep_default_na=False)
    sel = q[(q["resolve_date"] >= start) & (q["resolve_date"] < end)]
    keys = set(sel["platform"] + ":" + sel["id"])
    qf, cf = tmp_path / "questions.csv", tmp_path / "crowd.csv"
    sel.to_csv(qf, index=False)
    c[(c["platform"] + ":" + c["id"]).isin(keys)].to_csv(cf, index=False)
    return qf, cf


def backtest(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "forecast", "backtest", "--quiet", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        timeout=3000,
    )


def check_results(proc, out: Path, leads: tuple[int, ...]) -> pd.DataFrame:
    assert proc.returncode == 0, proc.stderr
    last = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(last["leads"]) == {str(x) for x in leads}
    assert set(last["calendar"]) >= {"n", "model_brier", "extremized_log", "mdd_brier"}
    for v in last["leads"].values():
        assert v["n"] > 0
        for key in (
            *("model_brier", "crowd_brier", "model_log", "crowd_log"),
            *("extremized_brier", "extremized_log"),
        ):
            assert 0 <= v[key] < 1, (key, v)
        d = v["model_minus_extremized_log"]
        assert d["lower"] <= d["value"] <= d["upper"]
        assert v["mdd_log"] > 0 if v["n"] > 1 else v["mdd_log"] is None
    for name in ("forecasts.csv", "scores.json", "reliability.csv", "reliability.png", "fits.csv"):
        assert (out / name).stat().st_size > 0, name
    manifest = json.loads((out / "manifest.json").read_text())
    assert any(k.endswith("questions.csv") for k in manifest["files"])
    # the same provenance as a run's manifest: scenario, its files, seed, versions
    assert {"created_at", "scenario", "input_hash", "seed", "settings", "versions"} <= set(manifest)
    assert any(k.endswith(".toml") for k in manifest["files"])
    f = pd.read_csv(out / "forecasts.csv", parse_dates=["origin", "crowd_date"])
    has = f["crowd_date"].notna()
    assert (f.loc[has, "crowd_date"] <= f.loc[has, "origin"]).all()
    assert f["model"].between(0, 1).all()
    return f


@pytest.mark.fit  # crowd-calibration fits in Dask workers
def test_crowd_calibration_backtest_on_a_dev_slice(tmp_path):
    qf, cf = dev_slice(tmp_path, "2024-06-01", "2025-09-01")
    out = tmp_path / "out"
    proc = backtest(
        "--questions", str(qf), "--crowd", str(cf), "--leads", "7,30", "--calendar-days", "none",
        "--no-factors", "--workers", "1", "--format", "json", "--out", str(out),
    )  # fmt: skip
    f = check_results(proc, out, (7, 30))
    assert f["factor_level"].isna().all()
    assert set(f["kind"]) == {"lead"}
    assert json.loads(proc.stdout.strip().splitlines()[-1])["leads"]["7"]["scenario_weight"] is None


@pytest.mark.slow
def test_backtest_with_scenario_fits_on_a_dev_slice(tmp_path):
    """The scenario's vintage (2026-07-04) is after these origins: only --hindsight uses its fits,
    and then every linked row says so."""
    qf, cf = dev_slice(tmp_path, "2025-09-01", "2026-01-01")
    out = tmp_path / "out"
    proc = backtest(
        "--questions", str(qf), "--crowd", str(cf), "--leads", "7,30", "--calendar-days", "none",
        "--hindsight", "--format", "json", "--out", str(out),
    )  # fmt: skip
    f = check_results(proc, out, (7, 30))
    linked = f[f["factor"].notna()]
    assert len(linked) and linked["factor_level"].notna().all()
    assert linked["flag"].str.contains("scenario written with data after the origin").all()
    w = json.loads(proc.stdout.strip().splitlines()[-1])["leads"]["7"]["scenario_weight"]
    assert w["lower"] <= w["mean"] <= w["upper"]


def test_bad_calendar_days_are_refused(tmp_path):
    qf, cf = dev_slice(tmp_path, "2025-09-01", "2025-10-01")
    for bad in ("0", "32", "1,x", ""):
        proc = backtest("--questions", str(qf), "--crowd", str(cf), "--calendar-days", bad)
        assert proc.returncode == 2, bad
        assert "--calendar-days must be days 1..31" in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr


def test_bad_question_file_is_located(tmp_path):
    qf, cf = dev_slice(tmp_path, "2025-09-01", "2025-10-01")
    q = pd.read_csv(qf, dtype=str, keep_default_na=False)
    q.loc[0, "resolution"] = "maybe"
    q.to_csv(qf, index=False)
    proc = backtest("--questions", str(qf), "--crowd", str(cf), "--no-factors")
    assert proc.returncode == 2
    assert "questions.csv:2: resolution: must be 0, 1 or empty, got 'maybe'" in proc.stderr
    assert "Traceback" not in proc.stderr
