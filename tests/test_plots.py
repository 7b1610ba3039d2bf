"""Every plot draws what it is given: mini-scenario runs for the forecast and factor plots, seeded
fake data for the backtest and diagnostics plots."""

from __future__ import annotations

import io

import arviz as az
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.figure import Figure
from matplotlib.text import Annotation

from forecast.inference.gate import DEFAULT_GATE
from forecast.report import plots
from forecast.report.html import run_history
from forecast.runs.explain import Influence, change_since
from forecast.runs.store import RunStore


@pytest.fixture(scope="module")
def runs(mini_runs):
    return RunStore(mini_runs).runs()


@pytest.fixture(scope="module")
def idata(runs):
    return runs[-1].posterior()


def visible_axes(fig: Figure) -> list:
    return [ax for ax in fig.axes if ax.get_visible() and ax.get_label() != "<colorbar>"]


def renders(fig: Figure) -> bool:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()[:8] == b"\x89PNG\r\n\x1a\n" and len(buf.getvalue()) > 5000


def test_forecast_chart_has_a_row_per_outcome_and_a_series_per_horizon(runs):
    fc = runs[-1].forecast()
    fig = plots.forecast_chart(fc, {"deal": "A deal"})
    (ax,) = visible_axes(fig)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["A deal", "bases_kept", "calm"]  # candidates left out, labels applied
    assert len(ax.containers) == 3  # one errorbar series per horizon
    deal12 = fc[(fc["outcome"] == "deal") & fc["candidate"].isna() & (fc["horizon_months"] == 12)]
    x = ax.containers[1].lines[0].get_xdata()
    assert x[0] == pytest.approx(float(deal12["probability"].iloc[0]))
    assert renders(fig)


def test_history_chart_panels_points_and_not_converged_marks(runs):
    hist = run_history(runs)
    assert list(dict.fromkeys(hist["run"])) == [r.id for r in runs]
    fig = plots.history_chart(hist)
    axes = visible_axes(fig)
    assert [ax.get_title() for ax in axes] == ["deal", "bases_kept", "calm"]
    ax = axes[0]
    series = [ln for ln in ax.lines if ln.get_label() == "12 mo"]
    assert len(series) == 1 and len(series[0].get_xdata()) == len(runs)
    want = hist[(hist["outcome"] == "deal") & hist["candidate"].isna()]
    want = want[want["horizon_months"] == 12]["probability"].to_numpy()
    np.testing.assert_allclose(series[0].get_ydata(), want)
    red_x = [ln for ln in ax.lines if ln.get_marker() == "x"]
    assert len(red_x) == 3  # the mini runs are short and not converged: every horizon is marked
    assert len([c for c in ax.collections if isinstance(c, PolyCollection)]) == 3  # bands
    assert renders(fig)


def test_history_chart_of_one_converged_run_shows_intervals_without_marks(runs):
    hist = run_history(runs[:1]).assign(converged=True)
    ax = visible_axes(plots.history_chart(hist))[0]
    assert not [ln for ln in ax.lines if ln.get_marker() == "x"]
    assert len([c for c in ax.collections if isinstance(c, LineCollection)]) == 3


def test_factor_paths_fitted_then_projected(idata):
    fig = plots.factor_paths(idata, {"tension": "Regional tension"}, months_back=12)
    axes = visible_axes(fig)
    assert [ax.get_title() for ax in axes] == ["Regional tension", "appetite"]
    past, future = axes[0].lines[0], axes[0].lines[1]
    assert len(past.get_xdata()) == 12
    assert len(future.get_xdata()) == idata.predictions.sizes["ahead"]
    assert past.get_xdata()[-1] < future.get_xdata()[0]  # projection starts after the origin
    assert renders(fig)


def test_loadings_forest_leaves_out_unlinked_pairs(idata):
    fig = plots.loadings_forest(idata, {"deal": "A deal"})
    deal, bases = visible_axes(fig)
    # mini links deal to both factors and bases_kept to tension only; calm is a state outcome
    assert (deal.get_title(), bases.get_title()) == ("A deal", "bases_kept")
    assert [t.get_text() for t in deal.get_yticklabels()] == ["tension", "appetite"]
    assert [t.get_text() for t in bases.get_yticklabels()] == ["tension"]
    lam = idata.posterior["loading"].sel(outcome="bases_kept", factor="tension").values
    assert bases.collections[1].get_offsets()[0, 0] == pytest.approx(np.median(lam))
    assert renders(fig)


def test_what_moved_draws_an_arrow_per_outcome(runs):
    changes = {o: change_since(runs[-1], runs[0], o) for o in ("deal", "bases_kept")}
    fig = plots.what_moved(changes, 12)
    (ax,) = visible_axes(fig)
    arrows = [t for t in ax.texts if isinstance(t, Annotation)]
    assert len(arrows) == 2
    assert arrows[0].xy == (changes["deal"].current[12], 0)
    assert arrows[0].xyann == (changes["deal"].previous[12], 0)
    assert renders(fig)


def test_influence_bars_hatches_unreliable_effects():
    infl = [
        Influence("event:a", [1], {6: 0.10, 12: 0.05}, 0.2),
        Influence("event:b", [2], {6: -0.02, 12: -0.08}, 1.1),
    ]
    fig = plots.influence_bars(infl, 12)
    (ax,) = visible_axes(fig)
    bars = ax.patches
    assert [b.get_width() for b in bars] == pytest.approx([0.05, -0.08])
    assert [bool(b.get_hatch()) for b in bars] == [False, True]


def test_whatif_chart_shows_the_chosen_horizon():
    table = pd.DataFrame(
        {
            "outcome": ["deal", "deal", "calm"],
            "candidate": [None, None, None],
            "horizon_months": [6, 12, 12],
            "probability": [0.2, 0.3, 0.5],
            "probability_whatif": [0.4, 0.6, 0.45],
        }
    )
    ax = visible_axes(plots.whatif_chart(table, 12, {"calm": "Calm"}))[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["deal", "Calm"]
    arrows = [t for t in ax.texts if isinstance(t, Annotation)]
    assert [(a.xyann[0], a.xy[0]) for a in arrows] == [(0.3, 0.6), (0.5, 0.45)]


@pytest.fixture
def backtest() -> pd.DataFrame:
    """Calibrated 'model' forecasts and overconfident 'crowd' ones at two lead times."""
    rng = np.random.default_rng(31)
    n = 400
    p = rng.uniform(0.05, 0.95, n)
    y = (rng.uniform(size=n) < p).astype(int)
    crowd = np.clip(np.where(p > 0.5, p + 0.3, p - 0.3), 0.01, 0.99)
    lead = rng.choice([7, 30], n)
    return pd.concat(
        [
            pd.DataFrame(
                {"probability": p, "resolution": y, "forecaster": "model", "lead_days": lead}
            ),
            pd.DataFrame(
                {"probability": crowd, "resolution": y, "forecaster": "crowd", "lead_days": lead}
            ),
        ],
        ignore_index=True,
    )


def test_reliability_diagram_tracks_calibration(backtest):
    fig = plots.reliability_diagram(backtest, n_bins=5)
    (ax,) = visible_axes(fig)
    lines = {ln.get_color(): ln for ln in ax.lines}
    model = lines[plots.FORECASTER_COLORS["model"]]
    crowd = lines[plots.FORECASTER_COLORS["crowd"]]
    gap = lambda ln: np.abs(ln.get_ydata() - ln.get_xdata()).mean()  # noqa: E731
    assert gap(model) < 0.08  # calibrated forecasts stay near the diagonal
    assert gap(crowd) > 2 * gap(model)
    assert renders(fig)


def test_score_comparison_bars_are_mean_brier_scores(backtest):
    fig = plots.score_comparison(backtest)
    (ax,) = visible_axes(fig)
    heights = [b.get_height() for b in ax.patches]
    brier = (backtest["probability"] - backtest["resolution"]) ** 2
    want = brier.groupby([backtest["forecaster"], backtest["lead_days"]]).mean()
    # forecasters in sorted order (crowd, model), each with a bar per lead time (7, 30)
    assert heights == pytest.approx(want.loc[["crowd", "model"]].to_numpy())
    assert [t.get_text() for t in ax.get_xticklabels()] == ["7 days ahead", "30 days ahead"]
    without_leads = plots.score_comparison(
        backtest[backtest["forecaster"] == "model"][["probability", "resolution"]]
    )
    assert len(visible_axes(without_leads)[0].patches) == 1


def fake_idata(disagree: bool) -> xr.DataTree:
    rng = np.random.default_rng(31)
    a = rng.normal(size=(4, 500))
    if disagree:
        a = a + np.arange(4)[:, None]  # chains centred apart: R-hat far above 1
    return az.from_dict({"posterior": {"a": a, "b": rng.normal(size=(4, 500, 2))}})


def test_convergence_plot_marks_variables_that_fail_the_gate():
    fig = plots.convergence_plot(fake_idata(disagree=True))
    ax_r, ax_e = visible_axes(fig)
    assert [t.get_text() for t in ax_r.get_yticklabels()] == ["a", "b"]
    a_bar, b_bar = ax_r.patches
    assert (
        a_bar.get_x() + a_bar.get_width()
        > DEFAULT_GATE.rhat_max
        > b_bar.get_x() + b_bar.get_width()
    )
    assert a_bar.get_facecolor()[:3] != b_bar.get_facecolor()[:3]
    assert any(ln.get_xdata()[0] == DEFAULT_GATE.ess_min for ln in ax_e.lines)
    assert renders(fig)


def test_rank_plot_has_a_panel_per_scalar():
    fig = plots.rank_plot(fake_idata(disagree=False), ["a", "b"])
    assert len(visible_axes(fig)) == 3


def test_sbc_histograms_has_a_panel_per_quantity():
    hist = pd.DataFrame({"x": [3, 2, 5, 0], "y": [2, 3, 2, 3]}).rename_axis("bin")
    fig = plots.sbc_histograms(hist, n_reps=10)
    axes = visible_axes(fig)
    assert [ax.get_title() for ax in axes] == ["x", "y"]
    assert [b.get_height() for b in axes[0].containers[0]] == [3, 2, 5, 0]
    # a whole scenario's 40 quantities wrap into rows of 6, not one 88-inch-wide row
    many = pd.DataFrame({f"q{i}": [2, 3, 2, 3] for i in range(40)}).rename_axis("bin")
    fig = plots.sbc_histograms(many, n_reps=10)
    assert len(visible_axes(fig)) == 40
    assert fig.get_figwidth() <= 6 * 2.2 and fig.get_figheight() >= 7 * 2.0


def test_predictive_check_draws_each_simulation_and_the_evidence():
    rng = np.random.default_rng(31)
    observed = {"level": rng.normal(size=40), "count": rng.poisson(20, 30) + 1}
    simulated = {"level": rng.normal(size=(5, 40)), "count": rng.poisson(20, (5, 30)) + 1}
    fig = plots.predictive_check(observed, simulated, log=["count"])
    axes = visible_axes(fig)
    assert [ax.get_title() for ax in axes] == ["level", "log count"]
    steps = axes[0].patches
    assert len(steps) == 6  # five simulated data sets and the observed one
    assert sum(steps[-1].get_data().values) == 40  # every observed row counted
