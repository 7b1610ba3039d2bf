"""Explicit forecast origins: ``forecast update --origin``, its checks, and runs keyed by origin.

Fast part: the CLI refuses an origin before the evidence, after the scenario's end or badly
written, naming ``--origin``, before anything runs. Fitted part (the ``mini_runs`` store): a new
origin with the same inputs re-projects the stored fit into a new run, the same origin again
changes nothing. The projection's arithmetic is tested in test_posterior.py.
"""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from forecast.cli import EXIT_BAD_INPUT, app
from forecast.data.inputs import load_inputs
from forecast.runs.store import Run, RunStore
from forecast.runs.update import OriginError, forecast_origin

runner = CliRunner()


def update(root: Path, *origin: str):
    runs = root / "runs"
    args = ["update", "-s", "mini", "--root", str(root), "--runs", str(runs), *origin]
    res = runner.invoke(app, args)
    return res, [p for p in runs.iterdir() if not p.name.startswith(".")] if runs.is_dir() else []


@pytest.mark.parametrize(
    ("origin", "message"),
    [
        ("2023-05-31", "--origin: origin 2023-05-31 is before the last evidence date 2023-06-01"),
        ("2025-01-01", "--origin: origin 2025-01-01 is after the scenario's end (2024-12)"),
        ("2023-13-01", "--origin '2023-13-01': expected a date as YYYY-MM-DD, or 'evidence'"),
        ("2023-6-1", "--origin '2023-6-1': expected a date as YYYY-MM-DD"),
        ("20230901", "--origin '20230901': expected a date as YYYY-MM-DD"),
        ("latest", "--origin 'latest': expected a date as YYYY-MM-DD"),
    ],
)
def test_update_refuses_a_bad_origin_before_anything_runs(mini_copy, origin, message):
    res, runs = update(mini_copy, "--origin", origin)
    assert res.exit_code == EXIT_BAD_INPUT, res.output
    assert message in res.output
    assert "Traceback" not in res.output and runs == []


def test_the_default_origin_is_today_and_the_mini_scenario_has_ended(mini_copy):
    """The mini scenario ends in December 2024, so today's date (the default) is refused, and the
    message says which origin was used and how to forecast from the evidence instead."""
    res, runs = update(mini_copy)
    assert res.exit_code == EXIT_BAD_INPUT, res.output
    assert "--origin (default: today, UTC): origin 20" in res.output
    assert "is after the scenario's end (2024-12)" in res.output
    assert "--origin evidence" in res.output and runs == []


def test_forecast_origin_defaults_to_the_evidence_and_checks_the_scenario(mini_root):
    inputs = load_inputs("mini", mini_root)
    assert forecast_origin(inputs, None) == date(2023, 6, 1)
    assert forecast_origin(inputs, date(2024, 12, 31)) == date(2024, 12, 31)
    with pytest.raises(OriginError, match="before the last evidence date"):
        forecast_origin(inputs, date(2023, 5, 31))
    with pytest.raises(OriginError, match="after the scenario's end"):
        forecast_origin(inputs, date(2025, 1, 1))


def test_a_run_without_evidence_end_forecasts_from_its_evidence():
    """Runs written before origins were explicit recorded the evidence's end as ``origin_date``:
    they forecast from the end of that month (``origin`` None), as ``project`` did then."""
    assert Run(Path("r"), {"origin_date": "2023-06-15"}).origin is None
    new = {"origin_date": "2023-09-20", "evidence_end": "2023-06-15"}
    assert Run(Path("r"), new).origin == date(2023, 9, 20)


# --- runs keyed by origin (the fitted mini store) ------------------------------------------------

SETTINGS = {"draws": 300, "tune": 300, "chains": 2, "seed": 1}  # those of ``mini_runs``


@pytest.fixture
def project(mini_runs, tmp_path) -> Path:
    """A private copy of the ``mini_runs`` project (inputs and its two runs)."""
    root = tmp_path / "project"
    shutil.copytree(mini_runs.parent, root)
    return root


def test_a_new_origin_reprojects_the_stored_fit_and_the_same_origin_changes_nothing(
    project, monkeypatch
):
    from forecast.inference.sampling import SamplerSettings
    from forecast.runs.update import forecast_table, run_update
    from forecast.runs.what_if import whatif

    def refuse(*_args, **_kwargs):
        raise AssertionError("fitted, though only the origin changed")

    monkeypatch.setattr("forecast.runs.update.fit_inputs", refuse)
    store, inputs = RunStore(project / "runs"), load_inputs("mini", project)
    settings = SamplerSettings(**SETTINGS)
    fitted = store.runs()[-1]
    same = run_update(inputs, store, settings)  # --origin evidence: the fixture's run
    assert not same.fitted and same.run.id == fitted.id
    assert fitted.manifest["origin_date"] == fitted.manifest["evidence_end"] == "2023-06-15"

    sept = run_update(inputs, store, settings, origin=date(2023, 9, 20))
    assert sept.fitted and sept.projected_from == fitted.id and sept.run.id != fitted.id
    m = sept.run.manifest
    assert (m["origin_date"], m["evidence_end"]) == ("2023-09-20", "2023-06-15")
    assert m["fit_key"] == fitted.manifest["fit_key"] and m["reused"]["projected_from"] == fitted.id
    table = forecast_table(sept.run)
    assert set(table["end_date"]) == {"2024-03-31", "2024-09-30", "2025-09-30"}
    # the same posterior draws, a new projection
    a, b = fitted.posterior()["posterior"], sept.run.posterior()["posterior"]
    np.testing.assert_array_equal(a["alpha"].values, b["alpha"].values)
    before = fitted.forecast().set_index(["outcome", "candidate", "horizon_months"])["probability"]
    after = table.set_index(["outcome", "candidate", "horizon_months"])["probability"]
    assert not np.allclose(before.to_numpy(), after.reindex(before.index).to_numpy())
    # a what-if on the run projects from its origin: holding nothing gives its own forecast
    held = whatif(sept.run, {})
    np.testing.assert_allclose(held["probability"], table["probability"], atol=1e-6)
    assert list(held["end_date"]) == list(table["end_date"])

    again = run_update(inputs, store, settings, origin=date(2023, 9, 20))
    assert not again.fitted and again.run.id == sept.run.id
    later = run_update(inputs, store, settings, origin=date(2023, 10, 2))
    assert later.fitted and later.projected_from == fitted.id  # the fit, not the re-projection
    assert len(store.runs()) == 4
    oct_table = pd.read_csv(later.run.path / "forecast.csv")
    assert oct_table["end_date"].min() == "2024-04-30"
    # every reader shows the origin beside the evidence's end
    read = ["-s", "mini", "--runs", str(store.root)]
    res = runner.invoke(app, ["summary", *read, "--format", "json"])
    run = json.loads(res.stdout)["run"]
    assert (run["origin_date"], run["evidence_end"]) == ("2023-10-02", "2023-06-15")
    res = runner.invoke(app, ["summary", *read])
    assert "origin 2023-10-02, evidence to 2023-06-15" in " ".join(res.output.split())
    res = runner.invoke(app, ["history", *read, "--format", "json"])
    days = [(r["origin_date"], r["evidence_end"]) for r in json.loads(res.stdout)["runs"]]
    assert days[-3:] == [(d, "2023-06-15") for d in ("2023-06-15", "2023-09-20", "2023-10-02")]
