"""Prior versus data per forecast: power-scaling sensitivity on exact conjugate posteriors.

A normal mean with a N(0, 1) prior and ``n`` observations of noise ``sigma``: its posterior is
known in closed form, so draws are exact (no sampling). The forecast is expit(theta). With many
precise observations the forecast is data-driven; with one very noisy observation it is the prior.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import stats
from scipy.special import expit

from forecast.inference.sensitivity import (
    THRESHOLD,
    forecast_sensitivity,
    verdict,
    with_sensitivity,
)

TARGETS = ["deal", "leader:alpha"]


def conjugate_run(n: int, sigma: float, seed: int = 0, draws: int = 1000) -> xr.DataTree:
    rng = np.random.default_rng(seed)
    y = rng.normal(0.8, sigma, n)
    precision = 1 + n / sigma**2
    theta = rng.normal(y.sum() / sigma**2 / precision, precision**-0.5, (4, draws))
    p = expit(theta)[..., None, None] * np.array([1.0, 0.5])[:, None] * np.ones(3)
    probability = xr.DataArray(
        p,
        dims=("chain", "draw", "target", "horizon"),
        coords={"target": TARGETS, "horizon": [6, 12, 24]},
    )
    return xr.DataTree.from_dict(
        {
            "posterior": xr.Dataset({"theta": (("chain", "draw"), theta)}),
            "predictions": xr.Dataset({"probability": probability}),
            "log_prior": xr.Dataset({"theta": (("chain", "draw"), stats.norm.logpdf(theta))}),
            "log_likelihood": xr.Dataset(
                {
                    "y": (
                        ("chain", "draw", "row"),
                        stats.norm.logpdf(y, theta[..., None], sigma),
                    )
                }
            ),
        }
    )


def test_many_precise_observations_make_the_forecast_data_driven():
    s = forecast_sensitivity(conjugate_run(n=1000, sigma=1.0))
    assert set(s.data_vars) == {
        "prior_sensitivity",
        "prior_noise",
        "likelihood_sensitivity",
        "likelihood_noise",
        "mcse",
    }
    assert dict(s["prior_sensitivity"].sizes) == {"target": 2, "horizon": 3}
    assert float(s["prior_sensitivity"].max()) < THRESHOLD
    assert float(s["likelihood_sensitivity"].min()) >= THRESHOLD
    assert (s["likelihood_sensitivity"] > s["likelihood_noise"]).all()  # beyond noise


def test_a_forecast_unrelated_to_the_draws_stays_within_noise():
    """A probability drawn independently of theta: whatever its sensitivity, noise explains it
    (an observed value beyond all 19 shuffled ones happens 1 time in 20 per cell)."""
    run = conjugate_run(n=1, sigma=30.0)
    rng = np.random.default_rng(1)
    p = run["predictions"]["probability"]
    noise = xr.DataArray(rng.uniform(0.05, 0.95, p.shape), dims=p.dims, coords=p.coords)
    run["predictions"] = xr.DataTree(xr.Dataset({"probability": noise}))
    s = forecast_sensitivity(run)
    beyond = (s["prior_sensitivity"] > s["prior_noise"]).values.mean()
    assert beyond <= 0.34, s  # 2 of 6 cells at most
    assert float(s["prior_noise"].min()) > 0


def test_latent_innovations_are_not_scaled_with_the_prior():
    """``z`` (and ``news_z``) are the model's structure: adding them to ``log_prior`` leaves the
    prior sensitivity as it was, however much their density varies between draws."""
    run = conjugate_run(n=1, sigma=30.0)
    before = forecast_sensitivity(run)["prior_sensitivity"]
    rng = np.random.default_rng(2)
    lp = run["log_prior"].to_dataset()
    lp["z"] = (("chain", "draw", "z_dim"), stats.norm.logpdf(rng.normal(size=(4, 1000, 400))))
    run["log_prior"] = xr.DataTree(lp)
    xr.testing.assert_identical(forecast_sensitivity(run)["prior_sensitivity"], before)


def test_one_noisy_observation_leaves_the_forecast_to_the_prior():
    s = forecast_sensitivity(conjugate_run(n=1, sigma=30.0))
    assert float(s["prior_sensitivity"].min()) >= THRESHOLD
    assert float(s["likelihood_sensitivity"].max()) < THRESHOLD


def test_verdicts_follow_the_share_of_evidence():
    """One observation as precise as the prior: mixed; 1000: data; one very noisy one: prior."""

    def verdicts(n: int, sigma: float) -> set[str]:
        s = forecast_sensitivity(conjugate_run(n, sigma))
        pairs = zip(
            s["prior_sensitivity"].values.ravel(),
            s["likelihood_sensitivity"].values.ravel(),
            strict=True,
        )
        return {verdict(a, b) for a, b in pairs}

    assert verdicts(1, 1.0) == {"mixed"}
    assert verdicts(1000, 1.0) == {"mostly data"}
    assert verdicts(1, 30.0) == {"mostly prior"}


def test_prior_sensitivity_falls_as_evidence_accumulates():
    few, many = (
        float(forecast_sensitivity(conjugate_run(n, 1.0))["prior_sensitivity"][0, 0])
        for n in (2, 200)
    )
    assert many < few / 3


def test_mcse_is_the_monte_carlo_error_of_the_mean():
    run = conjugate_run(n=10, sigma=1.0, draws=1000)
    mcse = forecast_sensitivity(run)["mcse"].sel(target="deal", horizon=6)
    p = run["predictions"]["probability"].sel(target="deal", horizon=6).values
    iid_se = p.std() / np.sqrt(p.size)  # the draws are exact and independent
    assert 0.8 * iid_se < float(mcse) < 1.25 * iid_se


def test_a_probability_equal_in_every_draw_is_insensitive():
    run = conjugate_run(n=10, sigma=1.0)
    p = run["predictions"]["probability"].copy()
    p.loc[{"target": "leader:alpha"}] = 1.0  # resolved: certain in every draw
    run["predictions"] = xr.DataTree(xr.Dataset({"probability": p}))
    s = forecast_sensitivity(run)
    for name in ("prior_sensitivity", "likelihood_sensitivity"):
        assert (s[name].sel(target="leader:alpha") == 0).all()
        assert (s[name].sel(target="deal") > 0).all()


def test_a_run_without_log_densities_has_no_sensitivity():
    run = conjugate_run(n=10, sigma=1.0)
    del run["log_prior"]
    assert forecast_sensitivity(run) is None


def test_evidence_that_does_not_vary_between_draws_has_zero_likelihood_sensitivity():
    run = conjugate_run(n=10, sigma=1.0)
    run["log_likelihood"] = xr.DataTree(xr.Dataset({"y": (("chain", "draw"), np.zeros((4, 1000)))}))
    s = forecast_sensitivity(run)
    assert float(np.abs(s["likelihood_sensitivity"]).max()) == 0.0
    assert float(s["prior_sensitivity"].min()) > 0


@pytest.mark.parametrize(
    ("prior", "likelihood", "expected"),
    [
        (0.08, 0.01, "mostly prior"),
        (0.70, 0.26, "mostly prior"),  # both past the threshold, the prior pulls 2.7x harder
        (0.08, 0.09, "mixed"),
        (0.20, 0.10, "mostly prior"),  # exactly twice counts
        (0.19, 0.10, "mixed"),
        (0.01, 0.09, "mostly data"),
        (0.08, 0.25, "mostly data"),
        (0.01, 0.01, "insensitive"),
        (THRESHOLD, THRESHOLD, "mixed"),  # the threshold itself counts as sensitive
    ],
)
def test_verdict(prior, likelihood, expected):
    assert verdict(prior, likelihood) == expected


@pytest.mark.parametrize(
    ("prior", "likelihood", "prior_noise", "likelihood_noise", "expected"),
    [
        (0.20, 0.20, 0.25, 0.25, "unclear"),  # both sensitive, neither beyond noise
        (0.12, 0.06, 0.07, 0.11, "mostly prior"),  # only the prior beyond noise
        (0.08, 0.09, 0.10, 0.00, "mostly data"),  # the prior within its noise
        (0.17, 0.35, 0.12, 0.30, "mixed"),  # beyond noise by 0.05 each
        (0.30, 0.35, 0.10, 0.30, "mostly prior"),  # 0.20 beyond noise against 0.05
        (0.04, 0.04, 0.00, 0.00, "insensitive"),  # under the threshold, noise or not
    ],
)
def test_verdict_counts_only_what_beats_noise(
    prior, likelihood, prior_noise, likelihood_noise, expected
):
    assert verdict(prior, likelihood, prior_noise, likelihood_noise) == expected


def test_with_sensitivity_matches_rows_by_target_and_horizon():
    sens = forecast_sensitivity(conjugate_run(n=1000, sigma=1.0))
    table = pd.DataFrame(
        {
            "outcome": ["leader", "deal"],
            "candidate": ["alpha", None],
            "horizon_months": [24, 6],
            "probability": [0.3, 0.6],
        }
    )
    out = with_sensitivity(table, sens)
    assert out["mcse"].tolist() == [
        float(sens["mcse"].sel(target="leader:alpha", horizon=24)),
        float(sens["mcse"].sel(target="deal", horizon=6)),
    ]
    assert out["evidence_verdict"].tolist() == ["mostly data", "mostly data"]
    assert list(table.columns) == ["outcome", "candidate", "horizon_months", "probability"]
    empty = with_sensitivity(table, None)
    assert empty["prior_sensitivity"].isna().all() and (empty["evidence_verdict"] == "").all()
