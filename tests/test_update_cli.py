"""End to end through the CLI on the mini scenario: update, idempotency, reproducibility, evidence
add, explain, whatif, history, the lock. One shared store, fitted a few times with short chains."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import typing
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from forecast.cli import EXIT_BAD_INPUT, EXIT_BUSY, EXIT_NOT_CONVERGED, app
from forecast.inference.sensitivity import Verdict

pytestmark = pytest.mark.fit  # one store fitted a few times with short chains

FIXTURE = Path(__file__).parent / "fixtures" / "mini"
FAST = ["--origin", "evidence", "--draws", "300", "--tune", "300", "--chains", "2", "--quiet"]
runner = CliRunner()


def cli(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def tree_hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A copy of the mini project with one fitted run."""
    root = tmp_path_factory.mktemp("proj")
    shutil.copytree(FIXTURE / "priors", root / "priors")
    shutil.copytree(FIXTURE / "data", root / "data")
    before = tree_hashes(root / "data") | tree_hashes(root / "priors")
    res = cli("update", "-s", "mini", "--root", str(root), "--runs", str(root / "runs"), *FAST)
    assert res.exit_code in (0, EXIT_NOT_CONVERGED), res.output
    assert tree_hashes(root / "data") | tree_hashes(root / "priors") == before  # inputs untouched
    return root


def runs_of(root: Path) -> list[Path]:
    return sorted(p for p in (root / "runs").iterdir() if not p.name.startswith("."))


def test_summary_json_lists_every_target_coherently(project):
    res = cli("summary", "-s", "mini", "--runs", str(project / "runs"), "--format", "json")
    assert res.exit_code == 0
    body = json.loads(res.output)
    assert set(body["run"]) >= {"id", "converged", "diagnostics"}
    fc = pd.DataFrame(body["forecasts"])
    targets = set(zip(fc["outcome"], fc["candidate"].fillna(""), strict=True))
    assert targets == {
        ("deal", ""),
        ("deal", "alpha"),
        ("deal", "beta"),
        ("bases_kept", ""),
        ("calm", ""),
    }
    assert set(fc["horizon_months"]) == {6, 12, 24}
    assert ((fc["lower"] <= fc["probability"]) & (fc["probability"] <= fc["upper"])).all()
    for (o, _c), g in fc.groupby(["outcome", fc["candidate"].fillna("")]):
        p = g.sort_values("horizon_months")["probability"].to_numpy()
        if o == "bases_kept":  # persistence: P(still holds) cannot rise with the horizon
            assert (p[1:] <= p[:-1] + 1e-12).all()
        else:
            assert (p[1:] >= p[:-1] - 1e-12).all()
    beta = fc[(fc["outcome"] == "deal") & (fc["candidate"] == "beta")]
    assert (beta["probability"] == 1.0).all()  # resolved candidate is certain
    # prior versus data, and Monte Carlo error, on every row
    assert (beta["evidence_verdict"] == "insensitive").all()
    sens = ["prior_sensitivity", "prior_noise", "likelihood_sensitivity", "likelihood_noise"]
    assert (beta[[*sens, "mcse"]] == 0).all().all()
    assert set(fc["evidence_verdict"]) <= set(typing.get_args(Verdict))
    assert (fc["mcse"] >= 0).all() and (fc["mcse"] < 0.05).all()
    assert fc[sens].notna().all().all()


def test_unchanged_inputs_do_not_refit(project):
    n = len(runs_of(project))
    res = cli(
        "update", "-s", "mini", "--root", str(project), "--runs", str(project / "runs"), *FAST[:-1]
    )
    assert res.exit_code in (0, EXIT_NOT_CONVERGED)
    assert "Nothing changed" in res.output
    assert len(runs_of(project)) == n
    res = cli(
        "update", "-s", "mini", "--root", str(project), "--runs", str(project / "runs"), *FAST,
        "--format", "json",
    )  # fmt: skip
    body = json.loads(res.stdout)  # the not-converged banner, if any, goes to stderr
    last = runs_of(project)[-1]
    assert body == {
        "run_id": last.name,
        "path": str(last),
        "scenario": "mini",
        "fitted": False,
        "converged": res.exit_code == 0,
        "method": "nuts",
        "problems": json.loads((last / "manifest.json").read_text())["diagnostics"]["problems"],
        "origin_date": "2023-06-01",  # the mini log's last row is month-dated June 2023
        "evidence_end": "2023-06-01",
        "projected_from": None,
    }


def test_force_refit_reproduces_forecast_exactly(project):
    first = runs_of(project)[0]
    res = cli(
        "update",
        "-s",
        "mini",
        "--root",
        str(project),
        "--runs",
        str(project / "runs"),
        "--force",
        *FAST,
    )
    assert res.exit_code in (0, EXIT_NOT_CONVERGED)
    newest = runs_of(project)[-1]
    assert newest != first
    assert (newest / "forecast.csv").read_bytes() == (first / "forecast.csv").read_bytes()


def test_busy_store_exits_clearly(project, tmp_path, hold_store_lock):
    runs = tmp_path / "runs"
    hold_store_lock(runs)
    res = cli("update", "-s", "mini", "--root", str(project), "--runs", str(runs), *FAST)
    assert res.exit_code == EXIT_BUSY
    assert "another update is running" in res.output
    assert [p for p in runs.iterdir() if not p.name.startswith(".")] == []


def test_evidence_add_refuses_bad_row_and_leaves_log_unchanged(project):
    log = project / "data" / "mini" / "evidence.csv"
    before = log.read_bytes()
    res = cli(
        "evidence",
        "add",
        "--root",
        str(project),
        "-s",
        "mini",
        "--file",
        "evidence.csv",
        "--date",
        "2023-02-30",
        "--kind",
        "event",
        "--target",
        "tension",
        "--value",
        "2",
        "--source",
        "Test",
        "--source-url",
        "https://example.org/x",
    )
    assert res.exit_code == EXIT_BAD_INPUT
    assert f"{log}:12: date:" in res.output
    assert log.read_bytes() == before


@pytest.fixture(scope="module")
def informed(project):
    """Add one strongly informative row and refit."""
    res = cli(
        "evidence",
        "add",
        "--root",
        str(project),
        "-s",
        "mini",
        "--file",
        "added.csv",
        "--date",
        "2023-06-15",
        "--kind",
        "likelihood_ratio",
        "--target",
        "deal:alpha",
        "--value",
        "40",
        "--horizon-months",
        "6",
        "--source",
        "Strong signal",
        "--source-url",
        "https://example.org/strong",
    )
    assert res.exit_code == 0, res.output
    n = len(runs_of(project))
    res = cli(
        "update", "-s", "mini", "--root", str(project), "--runs", str(project / "runs"), *FAST
    )
    assert res.exit_code in (0, EXIT_NOT_CONVERGED)
    assert len(runs_of(project)) == n + 1  # one changed row means a new run
    return project


def test_explain_ranks_the_informative_row_first(informed):
    res = cli(
        "explain", "deal:alpha", "-s", "mini", "--runs", str(informed / "runs"), "--format", "json"
    )
    assert res.exit_code == 0, res.output
    body = json.loads(res.output)
    assert body["groups"][0]["label"] == "likelihood_ratio:deal:alpha"
    since = body["since_previous"]
    assert [r["source"] for r in since["added_rows"]] == ["Strong signal"]
    assert since["current"]["12"] > since["previous"]["12"]
    assert since["joint"]["effect"]["12"] > 0


def test_whatif_raising_a_positive_factor_raises_the_outcome(informed):
    res = cli(
        "whatif",
        "--set",
        "appetite=2.5",
        "-s",
        "mini",
        "--runs",
        str(informed / "runs"),
        "--format",
        "json",
    )
    assert res.exit_code == 0, res.output
    fc = pd.DataFrame(json.loads(res.output)["forecasts"])
    alpha = fc[(fc["outcome"] == "deal") & (fc["candidate"] == "alpha")]
    assert (alpha["probability_whatif"] > alpha["probability"]).all()
    res = cli("whatif", "--set", "nonsense=1", "-s", "mini", "--runs", str(informed / "runs"))
    assert res.exit_code == EXIT_BAD_INPUT


def test_history_shows_every_run_with_changes(informed):
    res = cli("history", "-s", "mini", "--runs", str(informed / "runs"), "--format", "json")
    assert res.exit_code == 0
    runs = json.loads(res.output)["runs"]
    assert len(runs) == len(runs_of(informed))
    assert runs[0]["change"] == {}
    assert set(runs[-1]["change"]) == {"deal", "bases_kept", "calm"}


@pytest.mark.slow
def test_sigkilled_updates_leave_store_consistent(tmp_path):
    """Kill real `forecast update` processes at random moments; then the store lists only complete
    runs, inputs are unchanged, and the next update succeeds."""
    import os
    import random
    import signal
    import time

    from forecast.runs.store import RunStore

    shutil.copytree(FIXTURE / "priors", tmp_path / "priors")
    shutil.copytree(FIXTURE / "data", tmp_path / "data")
    before = tree_hashes(tmp_path / "data") | tree_hashes(tmp_path / "priors")
    runs = tmp_path / "runs"
    cmd = [
        sys.executable,
        "-m",
        "forecast",
        "update",
        "-s",
        "mini",
        "--root",
        str(tmp_path),
        "--runs",
        str(runs),
        *FAST,
    ]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    rng = random.Random(3)
    for trial in range(4):
        p = subprocess.Popen([*cmd, "--seed", str(trial)], env=env)
        time.sleep(rng.uniform(2.0, 60.0))
        p.send_signal(signal.SIGKILL)
        p.wait()
        store = RunStore(runs)
        for run in store.runs():
            store.load(run.id, verify=True)
    done = subprocess.run([*cmd, "--seed", "99"], env=env, capture_output=True, text=True)
    assert done.returncode in (0, EXIT_NOT_CONVERGED), done.stderr
    store = RunStore(runs)
    assert any(r.manifest["seed"] == 99 for r in store.runs(verify=True))
    assert not any(p.name.startswith(".tmp-") for p in runs.iterdir())
    assert tree_hashes(tmp_path / "data") | tree_hashes(tmp_path / "priors") == before
