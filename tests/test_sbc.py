"""Simulation-based calibration (Talts et al. 2018) of a one-factor scenario with every evidence
kind: if the model's inference is right, the rank of each true value among posterior draws is
uniform over replications. One model is compiled; each replication swaps its data in.

The larger run with rank histograms is ``scripts/run_sbc.py``.
"""

from __future__ import annotations

import pytest

from forecast.inference.sampling import SamplerSettings
from forecast.skill.sbc import DYNAMICS_QUANTITIES, SBC_QUANTITIES, dynamics_sbc, run_sbc

N_REPS = 30
N_BINS = 5  # 6 replications expected per bin


@pytest.fixture(scope="module")
def sbc():
    # short fits take the diagonal metric: nutpie's low-rank estimate from 300 tuning draws left 2
    # of 30 replications at R-hat > 1.1 (ESS 5); see SamplerSettings.low_rank_mass_matrix
    settings = SamplerSettings(
        chains=2, draws=300, tune=300, cores=2, seed=100, low_rank_mass_matrix=False
    )
    return run_sbc(N_REPS, seed=20260101, settings=settings, thin=3)


@pytest.mark.slow
def test_ranks_are_uniform(sbc):
    p = sbc.pvalues(N_BINS)
    assert set(p["quantity"]) == set(SBC_QUANTITIES)
    assert (p["n"] == N_REPS).all()
    # nine quantities: 0.001 each keeps the chance of a false alarm under 1%
    assert (p["chi2_p"] > 0.001).all(), p
    assert (p["ks_p"] > 0.001).all(), p


@pytest.mark.slow
def test_replications_fit_cleanly(sbc):
    fits = sbc.fits
    assert fits["max_rhat"].max() < 1.1, fits
    # prior draws make some awkward posteriors: a few divergent transitions per fit are tolerated
    # (about 0.4% of transitions in a 60-replication run); many would bias the ranks
    transitions = fits["divergences"].sum() / (len(fits) * 2 * 300)
    assert transitions < 0.01, fits


@pytest.fixture(scope="module")
def sbc_dynamics():
    s, plan, quantities = dynamics_sbc()
    settings = SamplerSettings(
        chains=2, draws=300, tune=300, cores=2, seed=300, low_rank_mass_matrix=False
    )
    return run_sbc(
        N_REPS,
        seed=20261203,
        settings=settings,
        thin=3,
        scenario=s,
        plan=plan,
        quantities=quantities,
    )


@pytest.mark.slow
def test_learned_dynamics_ranks_are_uniform(sbc_dynamics):
    """Learned reversions, the LKJ correlation of innovations and the coder effect: the fit
    recovers what their priors imply (and the usual quantities stay calibrated beside them)."""
    p = sbc_dynamics.pvalues(N_BINS)
    assert set(p["quantity"]) >= set(DYNAMICS_QUANTITIES)
    assert (p["chi2_p"] > 0.001).all(), p
    assert (p["ks_p"] > 0.001).all(), p
    fits = sbc_dynamics.fits
    # short fits of prior draws: in a 200-replication run 4 fits ended at R-hat 1.11-1.17 (their
    # ranks still uniform) and 0.29 % of transitions diverged; a few such fits are tolerated
    assert (fits["max_rhat"] > 1.1).mean() <= 0.1, fits
    assert fits["divergences"].sum() / (len(fits) * 2 * 300) < 0.01, fits
