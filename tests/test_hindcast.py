"""The scenario's own track record (``forecast hindcast``): hindsight taken out of the scenario,
resolutions read from the log, scores against the prior alone, origins kept and reused, the
evidence behind each big move, and the report's section."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from sim import mini_inputs, with_rows
from typer.testing import CliRunner

import forecast.skill.hindcast as hc
from forecast.cli import EXIT_BAD_INPUT, app
from forecast.inference.sampling import SamplerSettings
from forecast.report.hindcast_report import big_moves, read_hindcast, write_hindcast
from forecast.skill.backtest import known_evidence
from forecast.skill.hindcast import (
    Hindcast,
    HindcastSettings,
    resolution,
    run_hindcast,
    score_table,
    without_hindsight,
)
from forecast.skill.vintage import trend_spread

runner = CliRunner()


def stockpile_inputs():
    """The mini inputs with a May 2022 stockpile reading besides March's and June's (each public
    at the end of its month: the rows give months only)."""
    inputs = mini_inputs()
    extra = [{"month": 4, "kind": "indicator", "target": "stockpile", "value": 50.0}]
    return type(inputs)(**{**vars(inputs), "evidence": with_rows(inputs.evidence, extra)})


def test_hindsight_is_replaced_by_what_was_public_on_the_vintage_day():
    inputs = stockpile_inputs()
    s, changes = without_hindsight(inputs.scenario, inputs.evidence, date(2022, 7, 1))
    fr = inputs.evidence.frame
    public = fr[(fr["target"] == "stockpile") & (inputs.evidence.public_on() <= "2022-07-01")]
    v = np.log(public["value"].to_numpy(float))
    assert len(v) == 3
    ind = s.indicators["stockpile"]
    assert ind.center.value == pytest.approx(v.mean())
    t = public["month"].to_numpy(float)
    slope = np.sum((t - t.mean()) * (v - v.mean())) / np.sum((t - t.mean()) ** 2)
    span = s.month_index(s.end_date) + 1
    assert ind.spread.value == pytest.approx(max(v.std(ddof=1), abs(slope) * span / np.sqrt(12)))
    assert all(f.initial.mean == 0 for f in s.factors.values())
    assert all(c.offset is None for o in s.outcomes.values() for c in o.candidates.values())
    assert s.vintage.as_of == date(2022, 7, 1)
    assert any("deal:beta" in c for c in changes) and any("stockpile" in c for c in changes)
    # a day before the June reading was public: one value fewer
    earlier, _ = without_hindsight(inputs.scenario, inputs.evidence, date(2022, 6, 29))
    assert earlier.indicators["stockpile"].center.value == pytest.approx(v[:2].mean())
    with pytest.raises(ValueError, match="stockpile: 1 distinct"):
        without_hindsight(inputs.scenario, inputs.evidence, date(2022, 4, 15))


def test_a_growing_indicator_gets_the_spread_of_its_trend():
    """Four early values of a series that grows 8 % a month: their sd would put values a few
    years on many units out; the spread is the trend's sd over the span, the centre their mean."""
    months = np.array([0.0, 3.0, 6.0, 9.0])
    values = 3.0 + 0.08 * months + np.array([0.01, -0.02, 0.02, -0.01])
    got = trend_spread(months, values, 72)
    assert got == pytest.approx(0.08 * 72 / np.sqrt(12), rel=0.05)
    assert got > 5 * values.std(ddof=1)
    assert trend_spread(np.zeros(3), values[:3], 72) == 0.0


def test_resolutions_are_read_from_the_whole_log():
    """Mini log: deal:beta happened 2023-01-15; bases_kept held on 2023-06-01."""
    inputs = mini_inputs()
    s, ev = inputs.scenario, inputs.evidence

    def y(target, start, end):
        return resolution(s, ev, target, date.fromisoformat(start), date.fromisoformat(end))

    assert y("deal:beta", "2022-10-01", "2023-01-31") == 1.0
    # not known either way before it happened: no "still open" row
    assert np.isnan(y("deal:beta", "2022-10-01", "2023-01-14"))
    assert y("deal", "2022-10-01", "2023-01-31") == 1.0  # any candidate
    assert np.isnan(y("deal:beta", "2023-02-01", "2023-06-30"))  # known before the origin
    assert y("bases_kept", "2022-10-01", "2023-05-31") == 1.0  # held after the window
    assert np.isnan(y("bases_kept", "2022-10-01", "2023-08-31"))  # not known that late
    ended = with_rows(ev, [{"month": 14, "kind": "resolution", "target": "bases_kept", "value": 0}])
    assert resolution(s, ended, "bases_kept", date(2022, 10, 1), date(2023, 5, 31)) == 0.0
    still = with_rows(ev, [{"month": 18, "kind": "resolution", "target": "deal:alpha", "value": 0}])
    assert resolution(s, still, "deal:alpha", date(2022, 10, 1), date(2023, 5, 31)) == 0.0


def test_a_state_outcome_is_read_from_its_count_rows():
    """calm: attacks below 10 a month for 3 consecutive months (mini scenario). Months are known
    below only when rows cover all their days; a partial row at or over 10 is known not below."""
    inputs = mini_inputs()
    s = inputs.scenario
    o = s.outcomes["calm"]
    assert (o.measure, o.condition, o.threshold.value, o.window.value) == (
        "attacks",
        "below",
        10,
        3,
    )

    def month(m: int, value: float, days: float) -> dict:
        return {"month": m, "kind": "count", "target": "attacks", "value": value,
                "exposure_days": days}  # fmt: skip

    def y(*rows):  # forecast on 2022-12-01: the whole months 2023-01 (index 12) to 2023-04
        ev = with_rows(inputs.evidence, list(rows))
        return resolution(s, ev, "calm", date(2022, 12, 1), date(2023, 4, 30))

    assert y(month(12, 2, 31), month(13, 0, 28), month(14, 0, 31)) == 1.0
    assert np.isnan(y(month(12, 2, 31), month(13, 0, 28), month(14, 0, 20)))  # March partly
    assert y(month(12, 12, 7), month(13, 0, 28), month(14, 0, 31), month(15, 15, 5)) == 0.0
    assert np.isnan(y(month(12, 12, 7), month(14, 0, 31)))  # February unknown
    # December is the origin month's: a quiet December does not start the run
    assert np.isnan(y(month(11, 0, 31), month(12, 0, 31), month(13, 0, 28)))
    assert y(month(11, 0, 31), month(12, 0, 31), month(13, 0, 28), month(14, 0, 31)) == 1.0


def test_scores_compare_the_model_with_its_prior_per_horizon():
    rows = []
    for i, origin in enumerate(["2023-01-01", "2023-02-01", "2023-03-01"]):
        for t, y in (("a", 1.0), ("b", 0.0), ("c", np.nan)):
            rows.append(
                {"origin": origin, "target": t, "horizon_months": 6, "y": y,
                 "probability": 0.8 if y == 1 else 0.2, "prior": 0.5 + 0.01 * i}
            )  # fmt: skip
    sc = score_table(pd.DataFrame(rows))["6"]
    assert (sc["n"], sc["n_origins"], sc["n_targets"], sc["n_happened"]) == (6, 3, 2, 3)
    assert sc["model_brier"] == pytest.approx(0.04)
    assert sc["prior_brier"] > 0.24
    d = sc["model_minus_prior_log"]
    prior = 0.5 + 0.01 * np.arange(3)
    a = np.mean(-np.log(0.8) + np.log(prior))  # target a happened
    b = np.mean(-np.log(0.8) + np.log(1 - prior))  # target b did not
    assert d["value"] == pytest.approx((a + b) / 2)  # averaged per target, then over targets
    assert d["upper"] < 0


def fake_forecast_at(calls):
    def fit(inputs, s, month, horizons, settings, gate):
        calls.append((str(month), settings.seed))
        table = pd.DataFrame(
            [{"outcome": "deal", "candidate": np.nan, "horizon_months": h,
              "end_date": str((month + h).end_time.date()), "probability": 0.3, "lower": 0.1,
              "upper": 0.6, "mcse": 0.001} for h in horizons]
        )  # fmt: skip
        info = {"origin": str(month.start_time.date()), "rows": 5, "converged": True}
        return table, info

    return fit


class FakePrior:
    diagnostics = SimpleNamespace(converged=True, max_rhat=1.001)

    @classmethod
    def of(cls, *args):
        return cls()

    def forecast(self, s, origin, horizons, seed):
        return pd.Series([0.4] * len(horizons))


def test_origins_are_kept_and_reused_and_refitted_when_inputs_change(tmp_path, monkeypatch):
    calls: list = []
    monkeypatch.setattr(hc, "forecast_at", fake_forecast_at(calls))
    monkeypatch.setattr(hc, "PriorFit", FakePrior)
    inputs = stockpile_inputs()
    settings = HindcastSettings(
        start="2022-08", end="2022-12", every=2, horizons=(3,), sampler=SamplerSettings(seed=5)
    )
    first = run_hindcast(inputs, settings, tmp_path)
    assert [m for m, _ in calls] == ["2022-08", "2022-10", "2022-12"]
    assert len({seed for _, seed in calls}) == 3  # a seed per origin
    assert sorted(p.name for p in (tmp_path / "origins").iterdir()) == [
        "2022-08.json", "2022-10.json", "2022-12.json"
    ]  # fmt: skip
    assert list(first.forecasts["prior"]) == [0.4] * 3
    assert set(first.forecasts["target"]) == {"deal"}  # an outcome's own row: no candidate
    # monthly origins from the same start reuse the quarterly ones and fit only the new ones
    monthly = HindcastSettings(
        start="2022-08", end="2022-12", horizons=(3,), sampler=SamplerSettings(seed=5)
    )
    calls.clear()
    run_hindcast(inputs, monthly, tmp_path)
    assert [m for m, _ in calls] == ["2022-09", "2022-11"]
    calls.clear()
    run_hindcast(inputs, monthly, tmp_path)
    assert calls == []
    # a changed evidence file changes every origin's key
    name = next(k for k in inputs.contents if k.startswith("data/"))
    edited = {**inputs.contents, name: inputs.contents[name] + b"\n"}
    run_hindcast(type(inputs)(**{**vars(inputs), "contents": edited}), monthly, tmp_path)
    assert len(calls) == 5


def test_a_big_move_lists_the_evidence_public_between_the_two_origins():
    """Rows on the outcome itself come first (here a June "still open" row of deal:alpha, listed
    before the June stockpile reading, which is as new)."""
    inputs = mini_inputs()
    ev = with_rows(
        inputs.evidence, [{"month": 5, "kind": "resolution", "target": "deal:alpha", "value": 0}]
    )
    f = pd.DataFrame(
        [{"outcome": "deal", "candidate": None, "horizon_months": 12, "origin": o,
          "probability": p} for o, p in
         (("2022-05-01", 0.2), ("2022-06-01", 0.21), ("2022-07-01", 0.5))]
    )  # fmt: skip
    moves = big_moves(f, ev, inputs.scenario, 12, per_outcome=1)
    assert len(moves) == 1 and (moves[0]["from"], moves[0]["to"]) == ("2022-06-01", "2022-07-01")
    public = ev.public_on()
    june = ev.frame[(public > "2022-05-31") & (public <= "2022-06-30")]
    assert {(r["file"], r["row"]) for r in moves[0]["rows"]} == {
        (Path(x).name, int(r)) for x, r in zip(june["file"], june["row"], strict=True)
    }
    assert [r["kind"] for r in moves[0]["rows"]] == ["resolution", "indicator"]


def hindcast_folder(folder: Path) -> Path:
    inputs = mini_inputs()
    f = pd.DataFrame(
        [{"origin": o, "outcome": "deal", "candidate": None, "target": "deal",
          "horizon_months": 6, "end_date": "2023-01-31", "probability": p, "lower": p / 2,
          "upper": min(1.0, 2 * p), "mcse": 0.001, "prior": 0.3, "y": 1.0}
         for o, p in (("2022-06-01", 0.3), ("2022-07-01", 0.6))]
    )  # fmt: skip
    fits = pd.DataFrame([{"origin": "2022-06-01", "converged": True}] * 2)
    result = Hindcast(forecasts=f, fits=fits, changes=["factor x: initial level mean +0.5 -> 0"])
    settings = HindcastSettings(start="2022-06", end="2022-07", horizons=(6,))
    return write_hindcast(result, folder, inputs=inputs, settings=settings)


def test_a_written_hindcast_reads_back_with_its_manifest(tmp_path):
    folder = hindcast_folder(tmp_path / "hc")
    scores, forecasts = read_hindcast(folder)
    assert scores["horizons"]["6"]["n"] == 2 and len(forecasts) == 2
    manifest = json.loads((folder / "manifest.json").read_text())
    assert {"files", "versions", "seed", "outputs"} <= set(manifest)
    (folder / "scores.json").write_text("{}")
    with pytest.raises(Exception, match=r"scores\.json"):
        read_hindcast(folder)


def test_the_report_shows_what_the_model_said_over_time(mini_runs, tmp_path):
    folder = hindcast_folder(tmp_path / "hc")
    out = tmp_path / "out"
    res = runner.invoke(
        app,
        ["report", "-s", "mini", "--runs", str(mini_runs), "--out", str(out),
         "--hindcast", str(folder)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    html = (out / "index.html").read_text(encoding="utf-8")
    said = html[html.index('id="said"') : html.index("</section>", html.index('id="said"'))]
    assert "2 months from" in said and "prior alone" in said
    assert "30% on 2022-06-01 → 60% on 2022-07-01" in said
    assert "initial level mean +0.5 -&gt; 0" in said
    assert 'id="said-scores"' in said and "<img" in said
    bad = runner.invoke(
        app,
        ["report", "-s", "mini", "--runs", str(mini_runs), "--out", str(tmp_path / "o2"),
         "--hindcast", str(tmp_path)],
    )  # fmt: skip
    assert bad.exit_code == EXIT_BAD_INPUT and "not a hindcast result" in bad.output


def test_hindcast_cli_refuses_bad_months(tmp_path):
    res = runner.invoke(app, ["hindcast", "--start", "2023-13", "--out", str(tmp_path)])
    assert res.exit_code == EXIT_BAD_INPUT and "--start" in res.output
    res = runner.invoke(
        app, ["hindcast", "--start", "2023-05", "--end", "2023-01", "--out", str(tmp_path)]
    )
    assert res.exit_code == EXIT_BAD_INPUT and "before --start" in res.output


@pytest.mark.slow
def test_a_real_hindcast_of_the_mini_scenario(tmp_path):
    """Two origins fitted for real (short chains; about 3 minutes, so slow): every target and
    horizon forecast from each origin's first day, the prior alone beside it, deal:beta's event
    scored in its window; a rerun refits nothing."""
    from sim import FAST

    inputs = stockpile_inputs()
    settings = HindcastSettings(
        start="2022-10", end="2023-01", every=3, horizons=(3, 6), sampler=FAST
    )
    result = run_hindcast(inputs, settings, tmp_path)
    f = result.forecasts
    n_targets = len(inputs.scenario.targets())
    assert len(f) == 2 * n_targets * 2 and set(f["origin"]) == {"2022-10-01", "2023-01-01"}
    assert f["probability"].between(0, 1).all() and f["prior"].between(0, 1).all()
    assert (f["lower"] <= f["probability"]).all() and (f["probability"] <= f["upper"]).all()
    beta = f[(f["target"] == "deal:beta") & (f["origin"] == "2022-10-01")]
    assert list(beta["y"]) == [1.0, 1.0]  # happened 2023-01-15, inside both windows
    assert set(f.loc[f["outcome"] == "calm", "y"].isna()) == {True}
    assert list(result.fits["rows"]) == [
        len(known_evidence(inputs.evidence, pd.Period(m, "M")).frame)
        for m in ("2022-10", "2023-01")
    ]
    calls = []
    again = run_hindcast(inputs, settings, tmp_path, on_phase=calls.append)
    assert all("reused" in c for c in calls) and again.forecasts.equals(f)


def test_hindcast_cli_prints_scores_and_writes_the_folder(tmp_path, monkeypatch):
    from sim import MINI_ROOT

    def fake(inputs, settings, folder, on_phase=None):
        forecasts = pd.read_csv(hindcast_folder(tmp_path / "made") / "forecasts.csv")
        fits = pd.DataFrame(
            [
                {"origin": "2022-06-01", "converged": True},
                {"origin": "2022-07-01", "converged": False},
            ]
        )
        assert (settings.start, settings.end, settings.horizons) == ("2022-06", "2022-07", (6,))
        return Hindcast(forecasts=forecasts, fits=fits, changes=["a change"])

    monkeypatch.setattr(hc, "run_hindcast", fake)
    out = tmp_path / "out"
    args = ["hindcast", "-s", "mini", "--root", str(MINI_ROOT), "--start", "2022-06", "--end",
            "2022-07", "--horizons", "6", "--out", str(out), "--quiet"]  # fmt: skip
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    said = " ".join(res.output.split())
    assert "(2 origins)" in said and "1 of 2 fits did not pass the diagnostics gate" in said
    assert {"forecasts.csv", "fits.csv", "scores.json", "manifest.json"} <= {
        p.name for p in out.iterdir()
    }
    res = runner.invoke(app, [*args, "--format", "json"])
    assert json.loads(res.output.strip().splitlines()[-1])["hindsight_removed"] == ["a change"]
