"""Scenario + evidence → PyMC model: latent factor paths, outcome hazards, evidence terms.

The parametrization is chosen for NUTS: factor paths and every hierarchical effect are
non-centred, each factor's monthly volatility is fixed by the scenario (it sets the factor's unit,
which identifies the scale of loadings), and loadings are ``sign * scale * tau[k] * |raw|``.
Observation noise scales get log-normal priors that keep them off zero: with a handful of rows per
indicator a half-normal noise prior opens a funnel. Factors may mean-revert (AR(1)); a random walk
lets coded events, which are mostly one-directional, pile up into levels far outside the
standardized range, and makes 24-month projections wider than anything observed.

Three choices keep sparse evidence logs (a few rows per term, posteriors close to the prior in
many directions) free of divergences; on the mini fixture they took nutpie from ~70 divergent
transitions in 4 x 1000 draws to a handful:

- Crowd and expert forecasts have a per-source bias pooled over sources. The biases enter linearly
  with Normal priors, so they are integrated out: the forecast rows are jointly Normal with a
  covariance carrying the shared and per-source bias. Sampled biases made a funnel whenever a
  source has few rows (its noise shrinks until the bias is pinned to one value). The joint density
  is written row by row as sequential conditionals, so each row keeps its own log-likelihood term.
- Every HalfNormal scale (pooled loading strengths, loadings, candidate spread, forecast bias
  spread) is sampled through a softplus rather than a log transform (``SoftplusTransform``).
- Rating cutpoints are a Normal first cutpoint plus LogNormal gaps, not ordered iid Normals.

Every evidence array is a ``pm.Data`` container (see ``model_data``), so a compiled model can be
refitted to new evidence of the same structure (``structure_key``) without recompiling.

This module assembles the model: factor paths, outcome drift and hazards here; fixed priors in
``forecast.model.priors``, constant arrays and data in ``forecast.model.arrays``, the evidence
terms in ``forecast.model.terms``.
"""

from __future__ import annotations

import itertools

import numpy as np
import pymc as pm
import pytensor.tensor as pt

import forecast.model.numba_ops  # noqa: F401  (cacheable digamma, IEEE math: see its docstring)
from forecast.data.scenario import Scenario
from forecast.model.arrays import (
    ar_matrix,
    coords,
    hazard_arrays,
    model_data,
    news_membership,
    previous_month,
    structure_key,
)
from forecast.model.design import Design
from forecast.model.priors import (
    correlated_factors,
    factor_loading_scales,
    half_normal,
    innovation_dfs,
    learned_reversions,
    reversions,
    stationary_sds,
    t_scale,
    volatilities,
)
from forecast.model.terms import (
    _event_term,
    _forecast_term,
    _indicator_terms,
    _prob_by,
    _rows_of,
    _survival_cell_logp,
    _survival_cell_random,
)

__all__ = ["ForecastModel", "build_model"]


class ForecastModel(pm.Model):
    """A scenario's PyMC model with its ``structure_key``: models of one key differ only in their
    data containers, so a sampler compiled for one serves them all."""

    def __init__(self, structure_key: str, coords: dict) -> None:
        super().__init__(coords=coords)
        self.structure_key = structure_key


def build_model(s: Scenario, d: Design) -> ForecastModel:
    """Build the PyMC model of a scenario from its evidence design."""
    with ForecastModel(structure_key(s, d), coords(s, d)) as model:
        data = {k: pm.Data(k, v) for k, v in model_data(d).items()}
        f, e = _factors(s, d)
        drift, news_z = _outcome_drift(s, d)
        x = _hazards(s, d, f, drift)
        _indicator_terms(s, d, f, data)
        _event_term(s, data, e, news_z)
        if "surv_y" in data:
            pm.CustomDist(
                "resolution",
                x[data["surv_unit"], data["surv_month"]],
                data["surv_weight"],
                logp=_survival_cell_logp,
                random=_survival_cell_random,
                observed=data["surv_y"],
            )
        if "fc_logit" in data:
            _forecast_term(s, d, x, data)
        if "lr_log" in data:
            x_t = _rows_of(x.T, data["lr_month"])
            _, log_p, log_q = _prob_by(x_t, data["lr_mask"], data["lr_horizon"], data["lr_persist"])
            # P(evidence) is proportional to p * LR + (1 - p): Bayes' rule for a binary hypothesis
            pm.Potential("likelihood_ratio", pt.logaddexp(log_p + data["lr_log"], log_q))
    return model


def _factors(s: Scenario, d: Design) -> tuple[pt.TensorVariable, pt.TensorVariable]:
    """Non-centred monthly AR(1) / random-walk factor paths and their standardized innovations:
    (f, e), both (factor x month). ``e`` is ``z`` with the scenario's correlated block mixed by an
    LKJ Cholesky factor; month 0's innovation sets the initial level."""
    facs = list(s.factors.values())
    m0 = np.array([f.initial.mean for f in facs])
    s0 = np.array([f.initial.sd for f in facs])
    z = _innovations(innovation_dfs(s), d.n_months)
    e = z
    if s.correlation is not None:
        block = correlated_factors(s)
        chol = _lkj_cholesky(len(block), s.correlation.eta)
        pm.Deterministic(
            "innovation_correlation",
            pt.dot(chol, chol.T),
            dims=("correlated_factor", "correlated_with"),
        )
        e = pt.set_subtensor(z[block], pt.dot(chol, z[block]))
    rho, vol = _dynamics(s)
    steps = pt.concatenate([(m0 + s0 * e[:, 0])[:, None], vol[:, None] * e[:, 1:]], axis=1)
    f = pm.Deterministic("f", _ar_path(steps, rho, d.n_months), dims=("factor", "month"))
    return f, e


def _innovations(dfs: np.ndarray | None, T: int) -> pt.TensorVariable:
    """``z`` (factor x month), independent with unit variance: Gaussian, or for a factor with a
    finite df (``innovation_dfs``) Student-t after month 0, whose innovation (the initial
    level's) stays Gaussian as the scenario's ``initial`` prior says. Runs of neighbouring
    factors alike share one block. The t draws are sampled as they are: as Tukey's h transform
    of Gaussian draws (tails alike) no default fit passed the gate (R-hat 1.06-1.07, 9-10
    divergences), where these reach R-hat 1.01."""
    if dfs is None:
        return pm.Normal("z", 0.0, 1.0, dims=("factor", "month"))
    runs = [(df, len(list(g))) for df, g in itertools.groupby(dfs.tolist())]

    def block(df: float, n: int) -> pt.TensorVariable:
        if np.isinf(df):
            return pm.Normal.dist(0.0, 1.0, size=(n, T))
        first = pm.Normal.dist(0.0, 1.0, size=(n, 1))
        rest = pm.StudentT.dist(nu=df, mu=0.0, sigma=t_scale(df), size=(n, T - 1))
        return pt.concatenate([first, rest], axis=1)

    def dist(size):
        blocks = [block(df, n) for df, n in runs]
        return blocks[0] if len(blocks) == 1 else pt.concatenate(blocks, axis=0)

    return pm.CustomDist("z", dist=dist, dims=("factor", "month"))


def _lkj_cholesky(n: int, eta: float) -> pt.TensorVariable:
    """The Cholesky factor of an LKJ(eta) correlation matrix, built from its canonical partial
    correlations: under LKJ they are independent, (c + 1) / 2 ~ Beta(b, b) with b = eta + (n - 2 -
    j) / 2 given j earlier factors (Lewandowski, Kurowicka and Joe 2009, the vine method). Written
    out because ``pm.LKJCorr``'s value transform breaks ``pm.compute_log_likelihood`` (PyMC 6.4)."""
    rows, cols = np.tril_indices(n, -1)
    b = eta + (n - 2 - cols) / 2.0
    cpc = 2.0 * pm.Beta("innovation_cpc_raw", alpha=b, beta=b, dims="correlated_pair") - 1.0
    at = {(int(i), int(j)): k for k, (i, j) in enumerate(zip(rows, cols, strict=True))}
    chol = pt.zeros((n, n))
    chol = pt.set_subtensor(chol[0, 0], 1.0)
    for i in range(1, n):
        left = pt.constant(1.0)  # the squared norm row i has not yet used
        for j in range(i):
            c = cpc[at[i, j]]
            chol = pt.set_subtensor(chol[i, j], c * pt.sqrt(left))
            left = left * (1.0 - c**2)
        chol = pt.set_subtensor(chol[i, i], pt.sqrt(left))
    return chol


def _dynamics(s: Scenario) -> tuple[np.ndarray | pt.TensorVariable, np.ndarray | pt.TensorVariable]:
    """Each factor's (reversion, volatility): the scenario's numbers, except for learned
    reversions (Beta priors), whose volatility keeps the factor's stationary sd fixed (its unit)."""
    rho, vol = reversions(s), volatilities(s)
    learned = learned_reversions(s)
    if not learned:
        return rho, vol
    idx = list(learned)
    a, b = np.array(list(learned.values())).T
    r = pm.Beta("reversion_learned", alpha=a, beta=b, dims="learned_factor")
    sd = stationary_sds(s)[idx]
    rho_t = pm.Deterministic(
        "reversion", pt.set_subtensor(pt.as_tensor(rho)[idx], r), dims="factor"
    )
    vol_t = pt.set_subtensor(pt.as_tensor(vol)[idx], sd * pt.sqrt(1.0 - r**2))
    return rho_t, pm.Deterministic("volatility", vol_t, dims="factor")


def _ar_path(steps: pt.TensorVariable, rho, n: int) -> pt.TensorVariable:
    """(series x month) AR(1) paths x[t] = rho x[t-1] + steps[t] from x[0] = steps[0]: a cumulative
    sum where every rho is 1 (random walks), else the weights rho^(t-s) of ``ar_matrix``
    (symbolic when rho is learned)."""
    if isinstance(rho, np.ndarray):
        if np.all(rho == 1.0):
            return pt.cumsum(steps, axis=1)
        return pt.sum(ar_matrix(rho, n) * steps[:, None, :], axis=2)
    lag = np.arange(n)[:, None] - np.arange(n)[None, :]
    w = pt.exp(np.maximum(lag, 0)[None] * pt.log(rho)[:, None, None]) * (lag >= 0)[None]
    return pt.sum(w * steps[:, None, :], axis=2)


def _outcome_drift(
    s: Scenario, d: Design
) -> tuple[pt.TensorVariable | None, pt.TensorVariable | None]:
    """(drift, news_z): each news outcome's own AR(1) drift of its logit hazard (news_outcome x
    month) and its standardized innovations, which outcome-coded news reads; (None, None) when
    no outcome has news. The drift starts at 0: the base rate already says where the hazard is."""
    if not d.event.news_outcomes:
        return None, None
    od = s.outcome_drift
    assert od is not None  # evidence validation requires it for news on outcomes
    news_z = pm.Normal("news_z", 0.0, 1.0, dims=("news_outcome", "month"))
    rho = np.full(len(d.event.news_outcomes), od.reversion.value)
    path = _ar_path(od.volatility.value * news_z, rho, d.n_months)
    drift = pm.Deterministic("outcome_drift", path, dims=("news_outcome", "month"))
    return drift, news_z


def _hazards(
    s: Scenario, d: Design, f: pt.TensorVariable, drift: pt.TensorVariable | None
) -> pt.TensorVariable:
    """Logit monthly hazard of every unit, (unit x month), read from last month's factors and, for
    outcomes with news, last month's drift of the outcome's own."""
    K = len(s.factors)
    h = hazard_arrays(s, d.units)
    tau = half_normal("tau", factor_loading_scales(s), dims="factor")
    beta = pt.zeros((len(d.units.outcomes), K))
    if len(h.signed_idx[0]):
        mag = half_normal("loading_abs_raw", 1.0, shape=len(h.signed_idx[0]))
        beta = pt.set_subtensor(beta[h.signed_idx], mag)
    if len(h.free_idx[0]):
        raw = pm.Normal("loading_free_raw", 0.0, 1.0, shape=len(h.free_idx[0]))
        beta = pt.set_subtensor(beta[h.free_idx], raw)
    lam = pm.Deterministic(
        "loading", h.signs * h.scale * tau[None, :] * beta, dims=("outcome", "factor")
    )
    alpha_raw = pm.Normal("alpha_raw", 0.0, 1.0, dims="outcome")
    alpha = pm.Deterministic("alpha", h.base_mu + h.base_sd * alpha_raw, dims="outcome")
    u_unit = pt.zeros(len(d.units.labels))
    if len(d.units.candidates):
        pooled = h.pooled_outcomes
        tau_u_all = pt.ones(len(d.units.outcomes))
        if pooled:
            tau_u = half_normal("candidate_spread", h.spread[pooled], shape=len(pooled))
            tau_u_all = pt.set_subtensor(tau_u_all[pooled], tau_u)
        u_raw = pm.Normal("candidate_raw", 0.0, 1.0, dims="candidate")
        scale_c = pt.switch(h.cand_pooled > 0, tau_u_all[h.cand_outcome], h.cand_sd)
        u = pm.Deterministic("candidate_offset", h.cand_mu + scale_c * u_raw, dims="candidate")
        has_c = d.units.candidate_idx >= 0
        u_unit = pt.set_subtensor(u_unit[np.nonzero(has_c)], u[d.units.candidate_idx[has_c]])
    oi = d.units.outcome_idx
    prev = previous_month(d.n_months)
    x = alpha[oi][:, None] + u_unit[:, None] + pt.dot(lam, f[:, prev])[oi]
    if drift is not None:
        x = x + pt.dot(news_membership(d.units, d.event.news_outcomes), drift[:, prev])
    return pm.Deterministic("logit_hazard", x, dims=("unit", "month"))
