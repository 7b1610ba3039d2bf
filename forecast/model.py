"""Scenario + evidence → PyMC model: latent factor random walks, outcome hazards, evidence terms.

The parametrization is chosen for NUTS: factor paths and every hierarchical effect are
non-centred, each factor's monthly volatility is fixed by the scenario (it sets the factor's unit,
which identifies the scale of loadings), and loadings are ``sign * scale * tau[k] * |raw|``.
Observation noise scales get log-normal priors that keep them off zero: with a handful of rows per
indicator a half-normal noise prior opens a funnel. Factors may mean-revert (AR(1)); a random walk
lets coded events, which are mostly one-directional, pile up into levels far outside the
standardized range, and makes 24-month projections wider than anything observed.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from scipy.special import logit

from forecast.design import Design
from forecast.scenario import Scenario

# Default prior scales of indicator loadings (an indicator's `loading_scale` overrides them), per
# likelihood: standardized data (normal), log rate (count) and logit (rating). A count moving from
# ~0 to hundreds per month spans ~6 log units over a factor range of a few sd, hence wider scales.
DEFAULT_LOADING_SCALE = {"normal": 1.0, "count": 2.0, "rating": 2.0}
SIGN = {"+": 1.0, "-": -1.0, "free": 0.0}


def reversions(s: Scenario) -> np.ndarray:
    """Each factor's monthly autoregressive coefficient (1.0: random walk)."""
    return np.array([f.reversion.value if f.reversion else 1.0 for f in s.factors.values()])


def ar_matrix(rho: np.ndarray, n: int) -> np.ndarray:
    """(K, n, n) lower-triangular weights rho[k]^(t-s): f[:, t] = sum_s A[:, t, s] * step[:, s]."""
    lag = np.arange(n)[:, None] - np.arange(n)[None, :]
    return np.where(lag >= 0, rho[:, None, None] ** np.maximum(lag, 0), 0.0)


def hazard_arrays(s: Scenario, d: Design) -> dict[str, np.ndarray]:
    """Constant arrays of the hazard part: priors, signs and which loadings exist."""
    outs = d.units.outcomes
    ks = list(s.factors)
    sign = np.zeros((len(outs), len(ks)))
    scale = np.zeros((len(outs), len(ks)))
    free = np.zeros((len(outs), len(ks)))
    base_mu, base_sd = np.zeros(len(outs)), np.ones(len(outs))
    for j, name in enumerate(outs):
        o = s.outcomes[name]
        assert o.base_rate is not None
        base_mu[j] = logit(o.base_rate.monthly)
        base_sd[j] = o.base_rate.logit_sd
        for k, f in enumerate(ks):
            ld = o.loadings.get(f)
            if ld is not None:
                sign[j, k] = SIGN[ld.sign]
                free[j, k] = float(ld.sign == "free")
                scale[j, k] = ld.scale
    cand_mu, cand_sd, cand_pooled, cand_outcome = [], [], [], []
    for label in d.units.candidates:
        oname, cname = label.split(":")
        o = s.outcomes[oname]
        c = o.candidates[cname]
        cand_outcome.append(outs.index(oname))
        if c.offset is not None:
            cand_mu.append(c.offset.mean)
            cand_sd.append(c.offset.sd)
            cand_pooled.append(0.0)
        else:
            cand_mu.append(0.0)
            cand_sd.append(0.0)
            cand_pooled.append(1.0)
    spread = np.array(
        [
            s.outcomes[o].candidate_spread.value if s.outcomes[o].candidate_spread else 1.0
            for o in outs
        ]
    )
    return {
        "sign": sign,
        "scale": scale,
        "free": free,
        "base_mu": base_mu,
        "base_sd": base_sd,
        "cand_mu": np.array(cand_mu),
        "cand_sd": np.array(cand_sd),
        "cand_pooled": np.array(cand_pooled),
        "cand_outcome": np.array(cand_outcome, int),
        "spread": spread,
    }


def coords(s: Scenario, d: Design) -> dict[str, list[str]]:
    c = {
        "factor": list(s.factors),
        "month": d.months,
        "outcome": d.units.outcomes,
        "unit": d.units.labels,
        "candidate": d.units.candidates,
        "normal_indicator": d.normal_names,
        "count_indicator": d.count_names,
        "forecaster": d.fc_sources,
    }
    return {k: v for k, v in c.items() if len(v)}


def _log_survival_per_month(x: pt.TensorVariable) -> pt.TensorVariable:
    """log(1 - sigmoid(x)), stable."""
    return -pt.softplus(x)


def _logit_prob_by(
    x_t: pt.TensorVariable, mask: np.ndarray, horizon: np.ndarray, persist: np.ndarray
) -> pt.TensorVariable:
    """Logit of P(outcome by t+H), holding each unit's hazard at its month-t value.

    ``x_t`` is (row x unit) logit hazards; ``mask`` picks the units that make up each target.
    For persistence outcomes the target is survival (the state still holds), so the sign flips.
    """
    a = horizon * pt.sum(mask * pt.softplus(x_t), axis=1)  # -log S, > 0
    logit_event = a + pt.log1mexp(-a)  # log(expm1(a)) = logit(1 - S)
    return pt.switch(persist > 0, -logit_event, logit_event)


def _log_prob_by(
    x_t: pt.TensorVariable, mask: np.ndarray, horizon: np.ndarray, persist: np.ndarray
) -> tuple[pt.TensorVariable, pt.TensorVariable]:
    """(log p, log(1-p)) for the target of each row (event: happened by t+H; persistence: holds)."""
    a = horizon * pt.sum(mask * pt.softplus(x_t), axis=1)
    log_s, log_1ms = -a, pt.log1mexp(-a)
    return pt.switch(persist > 0, log_s, log_1ms), pt.switch(persist > 0, log_1ms, log_s)


def build_model(s: Scenario, d: Design) -> pm.Model:
    """Build the PyMC model of a scenario from its evidence design."""
    K, T = len(s.factors), d.n_months
    facs = list(s.factors.values())
    h = hazard_arrays(s, d)
    with pm.Model(coords=coords(s, d)) as model:
        # --- factors: non-centred monthly random walks ------------------------------------------
        m0 = np.array([f.initial.mean for f in facs])
        s0 = np.array([f.initial.sd for f in facs])
        vol = np.array([f.volatility.value for f in facs])
        z = pm.Normal("z", 0.0, 1.0, dims=("factor", "month"))
        steps = pt.concatenate(
            [(m0 + s0 * z[:, 0])[:, None], vol[:, None] * z[:, 1:]], axis=1
        )
        decay = ar_matrix(reversions(s), T)  # (K, T, T)
        f = pm.Deterministic(
            "f", pt.sum(decay * steps[:, None, :], axis=2), dims=("factor", "month")
        )

        # --- outcome hazards ---------------------------------------------------------------------
        tau = pm.HalfNormal(
            "tau",
            sigma=np.array([x.loading_scale.value if x.loading_scale else 1.0 for x in facs]),
            dims="factor",
        )
        has = (h["scale"] > 0).astype(float)
        n_signed = int(((has > 0) & (h["free"] == 0)).sum())
        n_free = int((h["free"] > 0).sum())
        beta = pt.zeros((len(d.units.outcomes), K))
        if n_signed:
            mag = pm.HalfNormal("loading_abs_raw", 1.0, shape=n_signed)
            idx = np.nonzero((has > 0) & (h["free"] == 0))
            beta = pt.set_subtensor(beta[idx], mag)
        if n_free:
            raw = pm.Normal("loading_free_raw", 0.0, 1.0, shape=n_free)
            idx = np.nonzero(h["free"] > 0)
            beta = pt.set_subtensor(beta[idx], raw)
        signs = np.where(h["free"] > 0, 1.0, h["sign"])
        lam = pm.Deterministic(
            "loading", signs * h["scale"] * tau[None, :] * beta, dims=("outcome", "factor")
        )
        alpha_raw = pm.Normal("alpha_raw", 0.0, 1.0, dims="outcome")
        alpha = pm.Deterministic("alpha", h["base_mu"] + h["base_sd"] * alpha_raw, dims="outcome")
        u_unit = pt.zeros(len(d.units.labels))
        if len(d.units.candidates):
            pooled_outcomes = sorted({int(j) for j in h["cand_outcome"][h["cand_pooled"] > 0]})
            tau_u_all = pt.ones(len(d.units.outcomes))
            if pooled_outcomes:
                tau_u = pm.HalfNormal(
                    "candidate_spread",
                    sigma=h["spread"][pooled_outcomes],
                    shape=len(pooled_outcomes),
                )
                tau_u_all = pt.set_subtensor(tau_u_all[pooled_outcomes], tau_u)
            u_raw = pm.Normal("candidate_raw", 0.0, 1.0, dims="candidate")
            scale_c = pt.switch(
                h["cand_pooled"] > 0, tau_u_all[h["cand_outcome"]], h["cand_sd"]
            )
            u = pm.Deterministic("candidate_offset", h["cand_mu"] + scale_c * u_raw, dims="candidate")
            has_c = d.units.candidate_idx >= 0
            u_unit = pt.set_subtensor(u_unit[np.nonzero(has_c)], u[d.units.candidate_idx[has_c]])
        # logit hazard, (unit x month)
        x = pm.Deterministic(
            "logit_hazard",
            alpha[d.units.outcome_idx][:, None] + u_unit[:, None] + pt.dot(lam, f)[d.units.outcome_idx],
            dims=("unit", "month"),
        )

        # --- evidence terms ----------------------------------------------------------------------
        _indicator_terms(s, d, f)
        _event_term(s, d, z)
        if len(d.surv_y):
            pm.Bernoulli(
                "resolution",
                logit_p=x[d.surv_unit, d.surv_month],
                observed=d.surv_y,
            )
        if len(d.fc_logit):
            fn = s.forecast_noise
            bias_mu = pm.Normal("forecast_bias_mu", 0.0, fn.bias_sd.value)
            bias_sd = pm.HalfNormal("forecast_bias_sd", fn.bias_sd.value)
            bias_raw = pm.Normal("forecast_bias_raw", 0.0, 1.0, dims="forecaster")
            bias = pm.Deterministic(
                "forecast_bias", bias_mu + bias_sd * bias_raw, dims="forecaster"
            )
            noise = pm.LogNormal(
                "forecast_noise", np.log(fn.noise_scale.value), 0.5, dims="forecaster"
            )
            mu = _logit_prob_by(x[:, d.fc_month].T, d.fc_mask, d.fc_horizon, d.fc_persist)
            pm.Normal(
                "forecast",
                mu=mu + bias[d.fc_source],
                sigma=noise[d.fc_source],
                observed=d.fc_logit,
            )
        if len(d.lr_log):
            log_p, log_q = _log_prob_by(x[:, d.lr_month].T, d.lr_mask, d.lr_horizon, d.lr_persist)
            # P(evidence) is proportional to p * LR + (1 - p): Bayes' rule for a binary hypothesis
            pm.Potential("likelihood_ratio", pt.logaddexp(log_p + d.lr_log, log_q))
    return model


def _loading_scales(s: Scenario, names: list[str]) -> np.ndarray:
    inds = [s.indicators[n] for n in names]
    return np.array(
        [i.loading_scale.value if i.loading_scale else DEFAULT_LOADING_SCALE[i.likelihood] for i in inds]
    )


def _indicator_terms(s: Scenario, d: Design, f: pt.TensorVariable) -> None:
    inds = s.indicators
    kfac = {k: i for i, k in enumerate(s.factors)}
    if d.normal_names:
        fk = np.array([kfac[inds[n].factor] for n in d.normal_names])
        sg = np.array([SIGN[inds[n].sign] for n in d.normal_names])
        a = pm.Normal("normal_intercept", 0.0, 1.0, dims="normal_indicator")
        b = pm.HalfNormal("normal_loading_abs", _loading_scales(s, d.normal_names), dims="normal_indicator")
        sd = pm.LogNormal("normal_sd", np.log(0.3), 0.5, dims="normal_indicator")
        if len(d.normal_y):
            i = d.normal_ind
            mu = a[i] + sg[i] * b[i] * f[fk[i], d.normal_month]
            pm.Normal("indicator", mu=mu, sigma=sd[i], observed=d.normal_y)
    if d.count_names:
        fk = np.array([kfac[inds[n].factor] for n in d.count_names])
        sg = np.array([SIGN[inds[n].sign] for n in d.count_names])
        base = np.log([inds[n].baseline.value for n in d.count_names])  # type: ignore[union-attr]
        a = pm.Normal("count_intercept", base, 1.5, dims="count_indicator")
        b = pm.HalfNormal("count_loading_abs", _loading_scales(s, d.count_names), dims="count_indicator")
        inv_disp = pm.LogNormal("count_inv_dispersion", np.log(0.5), 0.75, dims="count_indicator")
        if len(d.count_y):
            i = d.count_ind
            # rate per month for each (row, month), weighted by the share of the month counted
            log_rate = a[i][:, None] + sg[i][:, None] * b[i][:, None] * f[fk[i], :]
            mu = pt.sum(d.count_weight * pt.exp(log_rate), axis=1) + 1e-6
            pm.NegativeBinomial("count", mu=mu, alpha=1.0 / inv_disp[i], observed=d.count_y)
    for name, blk in d.rating.items():
        ind = inds[name]
        assert ind.levels is not None
        k = kfac[ind.factor]
        n_cut = len(ind.levels) - 1
        init = np.linspace(-2.0, 2.0, n_cut)
        b = pm.HalfNormal(f"rating_loading_abs_{name}", _loading_scales(s, [name])[0])
        cut = pm.Normal(
            f"cutpoints_{name}",
            mu=init,
            sigma=2.0,
            transform=pm.distributions.transforms.ordered,
            shape=n_cut,
        )
        if len(blk["y"]):
            eta = SIGN[ind.sign] * b * f[k, blk["month"]]
            pm.OrderedLogistic(
                f"rating_{name}", eta=eta, cutpoints=cut, observed=blk["y"], compute_p=False
            )


def _event_term(s: Scenario, d: Design, z: pt.TensorVariable) -> None:
    """A coded event of signed strength v is a noisy reading of the month's innovation z / gain."""
    if len(d.event_value):
        sig = s.event_signal
        pm.Normal(
            "event",
            mu=z[d.event_factor, d.event_month] / sig.gain.value,
            sigma=sig.noise.value,
            observed=d.event_value,
        )
