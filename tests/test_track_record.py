"""The report's track record: a backtest folder read back (bad folders named), the verdicts in
words, and the section in the report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecast.data.errors import InputError
from forecast.report.track_record import comparison, read_backtest, track_record
from forecast.skill.backtest import BacktestSettings
from forecast.skill.scoring import score_set


def backtest_folder(folder: Path, *, flag: str = "") -> Path:
    """A backtest results folder as ``forecast backtest --out`` writes it: 12 questions at lead 7
    and two calendar origins each; the model is closer to the outcome than the crowd."""
    rng = np.random.default_rng(4)
    rows = []
    for i in range(12):
        y = float(i % 3 == 0)
        crowd = float(np.clip(0.5 + (0.2 if y else -0.2) + rng.normal(0, 0.1), 0.05, 0.95))
        for kind, lead in (("lead", 7.0), ("calendar", np.nan), ("calendar", np.nan)):
            rows.append(
                {
                    "key": f"q:{i}", "kind": kind, "lead": lead, "y": y, "crowd": crowd,
                    "model": 0.9 if y else 0.1, "calibrated": 0.9 if y else 0.1,
                    "extremized": 0.8 if y else 0.2,
                    "base_rate": 0.3, "half": 0.5, "factor_level": np.nan, "flag": flag,
                }
            )  # fmt: skip
    f = pd.DataFrame(rows)
    settings = BacktestSettings(bootstrap=200)
    scores = {
        "leads": {"7": score_set(f[f["lead"] == 7], settings)},
        "calendar": score_set(f[f["kind"] == "calendar"], settings),
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "scores.json").write_text(json.dumps(scores))
    f.to_csv(folder / "forecasts.csv", index=False)
    return folder


def test_comparison_words_follow_the_interval():
    assert comparison({"value": -0.02, "lower": -0.03, "upper": -0.01}, "X") == "better than X"
    assert comparison({"value": 0.02, "lower": 0.01, "upper": 0.03}, "X") == "worse than X"
    assert comparison({"value": -0.02, "lower": -0.03, "upper": 0.0}, "X") == (
        "not distinguishable from X"
    )  # an interval reaching 0 does not exclude it
    assert comparison(None, "X") == "not compared with X (no crowd forecasts)"


def test_track_record_tables_and_verdicts(tmp_path):
    scores, forecasts = read_backtest(backtest_folder(tmp_path / "bt"))
    t = track_record(scores, forecasts)
    assert [s["name"] for s in t["sets"]] == [
        "7 days before the scheduled close",
        "1st and 15th of each month open, averaged per question",
    ]
    lead = t["sets"][0]
    assert lead["n"] == 12 and [r["who"] for r in lead["rows"]] == [
        "the model", "its learned calibration alone", "the crowd", "the fixed extremized crowd",
        "the base rate of earlier questions", "always 50%",
    ]  # fmt: skip
    assert lead["rows"][0]["brier"] == pytest.approx(0.01)
    assert lead["verdict"] == (
        "On log loss the model was better than the crowd and better than the fixed extremized "
        "crowd."
    )
    assert lead["detect"].startswith("With 12 questions, differences below ")
    assert (t["n_forecasts"], t["n_questions"], t["with_scenario"]) == (36, 12, 0)
    assert t["kept_out"] == 0 and t["hindsight"] == 0 and t["figure"] is not None


def test_track_record_counts_forecasts_kept_from_the_scenario(tmp_path):
    kept = "scenario written with data after the origin: no factor information"
    t = track_record(*read_backtest(backtest_folder(tmp_path / "a", flag=kept)))
    assert (t["kept_out"], t["hindsight"]) == (36, 0)
    used = "scenario written with data after the origin (--hindsight)"
    t = track_record(*read_backtest(backtest_folder(tmp_path / "b", flag=used)))
    assert (t["kept_out"], t["hindsight"]) == (0, 36)


def test_a_folder_that_is_not_a_backtest_is_named(tmp_path):
    with pytest.raises(InputError) as exc:
        read_backtest(tmp_path)
    assert str(exc.value.problems[0]).startswith(f"{tmp_path / 'scores.json'}:")
    (tmp_path / "scores.json").write_text('{"leads": {}}')
    with pytest.raises(InputError, match="needs 'leads' and 'calendar'"):
        read_backtest(tmp_path)
    (tmp_path / "scores.json").write_text('{"leads": {}, "calendar": {}}')
    with pytest.raises(InputError) as exc:
        read_backtest(tmp_path)
    assert str(exc.value.problems[0]).startswith(f"{tmp_path / 'forecasts.csv'}:")
    (tmp_path / "forecasts.csv").write_text("key,lead\nq:1,7\n")
    with pytest.raises(InputError, match="no column crowd, extremized, flag, model, y"):
        read_backtest(tmp_path)
