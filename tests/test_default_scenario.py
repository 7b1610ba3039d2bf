"""The shipped scenario fits under the diagnostics gate with seed 1 (the README's main job)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from forecast.cli import app

ROOT = Path(__file__).parent.parent


@pytest.mark.slow
def test_default_scenario_converges_with_seed_1(tmp_path):
    runner = CliRunner()
    res = runner.invoke(
        app,
        ["update", "--root", str(ROOT), "--runs", str(tmp_path), "--seed", "1", "--quiet"],
        catch_exceptions=False,
    )
    assert res.exit_code == 0, res.output  # 3 would mean the gate failed
    res = runner.invoke(app, ["summary", "--runs", str(tmp_path), "--format", "json"])
    body = json.loads(res.output)
    d = body["run"]["diagnostics"]
    assert body["run"]["converged"] and d["divergences"] == 0
    assert d["max_rhat"] <= 1.01 and min(d["min_ess_bulk"], d["min_ess_tail"]) >= 400
    fc = pd.DataFrame(body["forecasts"])
    assert set(fc["outcome"]) == {
        "accords_expansion",
        "hezbollah_aggression_reduced",
        "israel_iran_thaw",
        "russia_keeps_syria_bases",
        "russia_mediates_israel_iran",
        "us_russia_rapprochement",
    }
    assert ((fc["lower"] <= fc["probability"]) & (fc["probability"] <= fc["upper"])).all()
    kz = fc[fc["candidate"] == "kazakhstan"]
    assert (kz["probability"] == 1.0).all()  # joined the Accords in 2025-11
