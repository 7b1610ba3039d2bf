"""Parameter recovery: simulate the mini scenario's evidence of every kind from parameters drawn
from its prior, fit with short chains, and check that the truth sits inside the posterior's 90%
intervals at about the nominal rate and that the fitted factor paths follow the true ones.

The simulated log has the mini fixture's structure (same months, same forecast source), so the fit
reuses the mini model compiled for the other sampling tests.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from sim import FAST, MINI_MONTHS, mini_inputs

from forecast.inference.sampling import sample
from forecast.model.build import build_model
from forecast.model.design import build_design
from forecast.skill.plan import ForecastRow, Plan, RatioRow
from forecast.skill.simulation import simulate

pytestmark = pytest.mark.slow  # one fit of a month-by-month simulated log: minutes on 2 cores

LEVEL = 0.90
# scalar parameters checked besides the factor paths: (posterior variable, index)
SCALARS = {
    "loading[deal,tension]": ("loading", (0, 0)),
    "loading[deal,appetite]": ("loading", (0, 1)),
    "loading[bases_kept,tension]": ("loading", (1, 0)),
    "alpha[deal]": ("alpha", (0,)),
    "alpha[bases_kept]": ("alpha", (1,)),
    "candidate_offset[alpha]": ("candidate_offset", (0,)),
    "candidate_offset[beta]": ("candidate_offset", (1,)),
    "normal_intercept": ("normal_intercept", (0,)),
    "normal_loading_abs": ("normal_loading_abs", (0,)),
    "normal_sd": ("normal_sd", (0,)),
    "count_intercept": ("count_intercept", (0,)),
    "count_loading_abs": ("count_loading_abs", (0,)),
    "count_inv_dispersion": ("count_inv_dispersion", (0,)),
    "rating_loading_abs": ("rating_loading_abs_attack_level", ()),
    "cutpoint[0]": ("cutpoints_attack_level", (0,)),
    "cutpoint[1]": ("cutpoints_attack_level", (1,)),
}


def recovery_plan(s) -> Plan:
    """Every indicator and an event for each factor every month, crowd forecasts, one ratio."""
    forecasts = tuple(ForecastRow("deal:alpha", t, 12, "crowd") for t in (2, 6, 10, 14)) + tuple(
        ForecastRow("bases_kept", t, 6, "crowd") for t in (4, 12)
    )
    return Plan.every_month(
        s, MINI_MONTHS, forecasts=forecasts, ratios=(RatioRow("deal", 8, 12, 2.0),)
    )


def recover(seed: int, settings=FAST) -> tuple[pd.DataFrame, dict[str, float], object]:
    """Simulate, fit and compare: (one row per checked quantity, path correlations, fit)."""
    inputs = mini_inputs()
    s = inputs.scenario
    ev, truth = simulate(s, recovery_plan(s), np.random.default_rng(seed))
    d = build_design(s, ev, n_months=MINI_MONTHS)
    fit = sample(build_model(s, d), settings)
    post = fit.idata.posterior
    lo_q, hi_q = (1 - LEVEL) / 2, 1 - (1 - LEVEL) / 2
    rows = []

    def check(name, draws, true):
        lo, hi = np.quantile(draws, [lo_q, hi_q])
        rows.append(
            {
                "quantity": name,
                "truth": true,
                "lower": lo,
                "upper": hi,
                "mean": draws.mean(),
                "covered": lo <= true <= hi,
            }
        )

    f = post["f"].values.reshape(-1, *post["f"].shape[2:])  # (sample, factor, month)
    for k, fname in enumerate(s.factors):
        for t in range(MINI_MONTHS):
            check(f"f[{fname},{t}]", f[:, k, t], truth["f"][k, t])
    for name, (var, idx) in SCALARS.items():
        draws = post[var].values.reshape(-1, *post[var].shape[2:])[(slice(None), *idx)]
        check(name, draws, float(np.asarray(truth[var])[idx]))
    corr = {
        fname: float(np.corrcoef(f.mean(axis=0)[k], truth["f"][k])[0, 1])
        for k, fname in enumerate(s.factors)
    }
    return pd.DataFrame(rows), corr, fit


@pytest.fixture(scope="module")
def recovered():
    # a short fit: diagonal metric (low-rank from 400 tuning draws: R-hat 1.039, bulk ESS 54)
    return recover(seed=2024, settings=replace(FAST, low_rank_mass_matrix=False))


def test_fit_converges_well_enough_to_judge(recovered):
    _, _, fit = recovered
    dg = fit.diagnostics
    assert dg.max_rhat < 1.05 and dg.min_ess_bulk > 100, dg


def test_truth_is_inside_90_percent_intervals_at_about_the_nominal_rate(recovered):
    table, _, _ = recovered
    is_path = table["quantity"].str.startswith("f[")
    path_cov = table.loc[is_path, "covered"].mean()
    scalar_cov = table.loc[~is_path, "covered"].mean()
    # 36 path points move together, so their coverage varies a lot from one simulation to the
    # next; 16 scalars at 90% each: 75% is about two binomial sd below nominal.
    assert path_cov >= 0.75, table[is_path & ~table["covered"]]
    assert scalar_cov >= 0.75, table[~is_path & ~table["covered"]]
    # intervals must also be informative: not covering by being uselessly wide. The mini factors
    # are random walks, so the prior sd at month t is sqrt(initial_sd^2 + t * volatility^2).
    s = mini_inputs().scenario
    path = table[is_path].copy()
    path["factor"] = path["quantity"].str.extract(r"f\[(\w+),")[0]
    path["t"] = path["quantity"].str.extract(r",(\d+)\]")[0].astype(int)
    prior_sd = [
        np.hypot(s.factors[k].initial.sd, s.factors[k].volatility.value * np.sqrt(t))
        for k, t in zip(path["factor"], path["t"], strict=True)
    ]
    ratio = (path["upper"] - path["lower"]) / (2 * 1.645 * np.asarray(prior_sd))
    by_factor = ratio.groupby(path["factor"]).mean()
    assert by_factor["tension"] < 0.6, by_factor  # three indicators every month
    assert by_factor["appetite"] < 0.85, by_factor  # events, the deal's hazard and the crowd


def test_fitted_factor_paths_follow_the_true_ones(recovered):
    _, corr, _ = recovered
    # tension is measured every month by three indicators; appetite only through coded events,
    # the deal's hazard and crowd forecasts
    assert corr["tension"] > 0.9, corr
    # one simulation: events read each month's innovation at a signal-to-noise ratio of about 1,
    # so the posterior mean path is informative but far from exact
    assert corr["appetite"] > 0.4, corr
