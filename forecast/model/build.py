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
"""

from __future__ import annotations

import hashlib
import json
import weakref

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from scipy.special import logit

from forecast.data.scenario import Scenario
from forecast.data.target import Target
from forecast.model.design import Design, Units

# Default prior scales of indicator loadings (an indicator's `loading_scale` overrides them), per
# likelihood: standardized data (normal), log rate (count) and logit (rating). A count moving from
# ~0 to hundreds per month spans ~6 log units over a factor range of a few sd, hence wider scales.
DEFAULT_LOADING_SCALE = {"normal": 1.0, "count": 2.0, "rating": 2.0}
SIGN = {"+": 1.0, "-": -1.0, "free": 0.0}

# Fixed priors of the evidence terms (the simulator in forecast/skill/simulation.py draws from the
# same).
NORMAL_INTERCEPT_SD = 1.0  # standardized indicators: the intercept is near 0
NORMAL_SD_LOG = (np.log(0.3), 0.5)  # LogNormal(mu, sigma) of a normal indicator's noise sd
COUNT_INTERCEPT_SD = 1.5  # around log(baseline)
COUNT_INV_DISPERSION_LOG = (np.log(0.5), 0.75)  # LogNormal of 1 / NegativeBinomial alpha
# rating cutpoints: the first ~ Normal(mean, sd); the gaps to the next ~ LogNormal around an even
# spacing of the cutpoints over [-2, 2]
CUTPOINT_FIRST = (-2.0, 2.0)
CUTPOINT_GAP_LOG_SD = 0.75
FORECAST_NOISE_LOG_SD = 0.5  # LogNormal(log noise_scale, this) per forecast source


class SoftplusTransform(pm.distributions.transforms.Transform):
    """Positive values as ``softplus(y)`` of an unconstrained ``y``: log-like near 0, identity far
    from it.

    Used for every HalfNormal scale. Under the usual log transform a HalfNormal's density in
    ``y = log(x)`` is ``exp(y - exp(2y) / 2 sd^2)``, whose curvature grows like ``exp(2y)`` in the
    right tail: a scale that the data barely inform (a pooled strength with one loading, the
    forecast bias spread with one source) then sends NUTS trajectories into a wall, the source of
    most divergences on small evidence logs. Under softplus the right tail is Gaussian in ``y``.
    """

    name = "softplus"

    def forward(self, value, *inputs):
        return value + pt.log1mexp(-value)  # log(expm1(value)), stable

    def backward(self, value, *inputs):
        return pt.softplus(value)

    def log_jac_det(self, value, *inputs):
        return -pt.softplus(-value)  # log(sigmoid(value))


SOFTPLUS = SoftplusTransform()


def half_normal(name: str, sigma, **kwargs) -> pt.TensorVariable:
    """A HalfNormal prior sampled through ``SoftplusTransform``."""
    return pm.HalfNormal(name, sigma=sigma, default_transform=SOFTPLUS, **kwargs)


def cutpoint_spacing(n_levels: int) -> float:
    """Prior median gap between a rating's neighbouring cutpoints: even spacing over [-2, 2]."""
    return 4.0 / max(n_levels - 2, 1)


def reversions(s: Scenario) -> np.ndarray:
    """Each factor's monthly autoregressive coefficient (1.0: random walk)."""
    return np.array([f.reversion.value if f.reversion else 1.0 for f in s.factors.values()])


def previous_month(n: int) -> np.ndarray:
    """Index of the month whose factor levels drive month t's hazard: t - 1 (month 0 reads its own
    initial level). The hazard reads last month's factors, so that a month's own events, which
    move that month's factors, cannot explain an outcome in the same month."""
    return np.maximum(np.arange(n) - 1, 0)


def ar_matrix(rho: np.ndarray, n: int) -> np.ndarray:
    """(K, n, n) lower-triangular weights rho[k]^(t-s): f[:, t] = sum_s A[:, t, s] * step[:, s]."""
    lag = np.arange(n)[:, None] - np.arange(n)[None, :]
    return np.where(lag >= 0, rho[:, None, None] ** np.maximum(lag, 0), 0.0)


def factor_loading_scales(s: Scenario) -> np.ndarray:
    """HalfNormal scale of each factor's pooled loading strength tau[k]."""
    return np.array([f.loading_scale.value if f.loading_scale else 1.0 for f in s.factors.values()])


def indicator_loading_scales(s: Scenario, names: list[str]) -> np.ndarray:
    inds = [s.indicators[n] for n in names]
    return np.array(
        [
            i.loading_scale.value if i.loading_scale else DEFAULT_LOADING_SCALE[i.likelihood]
            for i in inds
        ]
    )


def hazard_arrays(s: Scenario, units: Units) -> dict[str, np.ndarray]:
    """Constant arrays of the hazard part: priors, signs and which loadings exist."""
    outs = units.outcomes
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
    for label in units.candidates:
        oname, cname = Target.parse(label)
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
    has = scale > 0
    return {
        "sign": sign,
        "scale": scale,
        "free": free,
        "signed_idx": np.nonzero(has & (free == 0)),
        "free_idx": np.nonzero(free > 0),
        "base_mu": base_mu,
        "base_sd": base_sd,
        "cand_mu": np.array(cand_mu),
        "cand_sd": np.array(cand_sd),
        "cand_pooled": np.array(cand_pooled),
        "cand_outcome": np.array(cand_outcome, int),
        "pooled_outcomes": sorted(
            {int(j) for j, p in zip(cand_outcome, cand_pooled, strict=True) if p > 0}
        ),
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
        "news_outcome": d.news_outcomes,
    }
    return {k: v for k, v in c.items() if len(v)}


def model_data(d: Design) -> dict[str, np.ndarray]:
    """The value of every ``pm.Data`` container of ``build_model``, by name.

    Only the evidence terms that have rows get containers (a term without rows is left out of the
    model), so the set of names is part of the model's structure.
    """
    out: dict[str, np.ndarray] = {}
    if d.normal_names and len(d.normal_y):
        out |= {"normal_ind": d.normal_ind, "normal_month": d.normal_month, "normal_y": d.normal_y}
    if d.count_names and len(d.count_y):
        out |= {"count_ind": d.count_ind, "count_weight": d.count_weight, "count_y": d.count_y}
    for name, blk in d.rating.items():
        if len(blk["y"]):
            out |= {f"rating_{name}_month": blk["month"], f"rating_{name}_y": blk["y"]}
    if len(d.event_value):
        out |= {
            "event_factor": d.event_factor,
            "event_month": d.event_month,
            "event_value": d.event_value,
        }
        if d.news_outcomes:
            out["event_outcome"] = d.event_outcome
    if len(d.surv_y):
        out |= {
            "surv_unit": d.surv_unit,
            "surv_month": d.surv_month,
            "surv_weight": d.surv_weight,
            "surv_y": d.surv_y,
        }
    if len(d.fc_logit):
        out |= {
            "fc_mask": d.fc_mask,
            "fc_month": d.fc_month,
            "fc_horizon": d.fc_horizon,
            "fc_persist": d.fc_persist,
            "fc_source": d.fc_source,
            "fc_logit": d.fc_logit,
        }
    if len(d.lr_log):
        out |= {
            "lr_mask": d.lr_mask,
            "lr_month": d.lr_month,
            "lr_horizon": d.lr_horizon,
            "lr_persist": d.lr_persist,
            "lr_log": d.lr_log,
        }
    return {k: np.asarray(v) for k, v in out.items()}


def structure_key(s: Scenario, d: Design) -> str:
    """What a compiled model depends on besides its data: scenario, coords and which terms exist.

    Two designs with the same key give the same model up to the values in ``model_data`` (which may
    differ in their number of rows), so one compiled model serves both.
    """
    payload = {
        "scenario": s.model_dump(mode="json"),
        "coords": coords(s, d),
        "data": {k: v.ndim for k, v in model_data(d).items()},
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def _one_hot(idx, n: int):
    """(len(idx) x n) 0/1 matrix with a 1 at (r, idx[r])."""
    if isinstance(idx, np.ndarray):
        return (idx[:, None] == np.arange(n)[None, :]).astype(float)
    return pt.cast(pt.eq(idx[:, None], pt.arange(n)[None, :]), "float64")


def _rows_of(m: pt.TensorVariable, idx) -> pt.TensorVariable:
    """``m[idx]`` for a matrix ``m`` and index data ``idx``, as a product with a one-hot matrix.

    Indexing the rows of a matrix with a ``pm.Data`` vector differentiates to an
    ``AdvancedIncSubtensor1`` whose Python implementation (used by ``pm.sample``) wrongly rejects
    a single row as runtime broadcasting; a matrix product has no such corner and is as cheap here.
    """
    return pt.dot(_one_hot(idx, m.shape[0]), m)


_STRUCTURE_KEYS: weakref.WeakKeyDictionary[pm.Model, str] = weakref.WeakKeyDictionary()


def model_structure_key(model: pm.Model) -> str | None:
    """The ``structure_key`` of a model made by ``build_model`` (``None`` for other models)."""
    return _STRUCTURE_KEYS.get(model)


def _prob_by(
    x_t: pt.TensorVariable, mask, horizon, persist
) -> tuple[pt.TensorVariable, pt.TensorVariable, pt.TensorVariable]:
    """(logit p, log p, log(1 - p)) of each row's target, holding hazards at their month-t value.

    ``x_t`` is (row x unit) logit hazards; ``mask`` picks the units that make up each target. The
    target is "happened by t + H" for events and "still holds at t + H" for persistence outcomes.
    """
    a = horizon * pt.sum(mask * pt.softplus(x_t), axis=1)  # -log S > 0
    log_s, log_1ms = -a, pt.log1mexp(-a)
    is_persist = persist > 0
    logit_event = log_1ms + a  # log(expm1(a)) = logit(1 - S)
    return (
        pt.switch(is_persist, -logit_event, logit_event),
        pt.switch(is_persist, log_s, log_1ms),
        pt.switch(is_persist, log_1ms, log_s),
    )


def build_model(s: Scenario, d: Design) -> pm.Model:
    """Build the PyMC model of a scenario from its evidence design."""
    with pm.Model(coords=coords(s, d)) as model:
        data = {k: pm.Data(k, v) for k, v in model_data(d).items()}
        f, z = _factors(s, d)
        drift, news_z = _outcome_drift(s, d)
        x = _hazards(s, d, f, drift)
        _indicator_terms(s, d, f, data)
        _event_term(s, data, z, news_z)
        if "surv_y" in data:
            pm.CustomDist(
                "resolution",
                x[data["surv_unit"], data["surv_month"]],
                data["surv_weight"],
                logp=_survival_cell_logp,
                observed=data["surv_y"],
            )
        if "fc_logit" in data:
            _forecast_term(s, d, x, data)
        if "lr_log" in data:
            x_t = _rows_of(x.T, data["lr_month"])
            _, log_p, log_q = _prob_by(x_t, data["lr_mask"], data["lr_horizon"], data["lr_persist"])
            # P(evidence) is proportional to p * LR + (1 - p): Bayes' rule for a binary hypothesis
            pm.Potential("likelihood_ratio", pt.logaddexp(log_p + data["lr_log"], log_q))
    _STRUCTURE_KEYS[model] = structure_key(s, d)
    return model


def _survival_cell_logp(y, logit_h, weight):
    """A unit-month of the discrete-time hazard: log h if the outcome ended in it, else the log of
    surviving the observed part of it, weight * log(1 - h) (a constant hazard within the month)."""
    return pt.switch(pt.eq(y, 1), -pt.softplus(-logit_h), -weight * pt.softplus(logit_h))


def _factors(s: Scenario, d: Design) -> tuple[pt.TensorVariable, pt.TensorVariable]:
    """Non-centred monthly AR(1) / random-walk factor paths: (f, z), both (factor x month)."""
    facs = list(s.factors.values())
    m0 = np.array([f.initial.mean for f in facs])
    s0 = np.array([f.initial.sd for f in facs])
    vol = np.array([f.volatility.value for f in facs])
    z = pm.Normal("z", 0.0, 1.0, dims=("factor", "month"))
    steps = pt.concatenate([(m0 + s0 * z[:, 0])[:, None], vol[:, None] * z[:, 1:]], axis=1)
    f = pm.Deterministic("f", _ar_path(steps, reversions(s), d.n_months), dims=("factor", "month"))
    return f, z


def _ar_path(steps: pt.TensorVariable, rho: np.ndarray, n: int) -> pt.TensorVariable:
    """(series x month) AR(1) paths x[t] = rho x[t-1] + steps[t] from x[0] = steps[0]: a cumulative
    sum where every rho is 1 (random walks), else the weights of ``ar_matrix``."""
    if np.all(rho == 1.0):
        return pt.cumsum(steps, axis=1)
    return pt.sum(ar_matrix(rho, n) * steps[:, None, :], axis=2)


def _outcome_drift(
    s: Scenario, d: Design
) -> tuple[pt.TensorVariable | None, pt.TensorVariable | None]:
    """(drift, news_z): each news outcome's own AR(1) drift of its logit hazard (news_outcome x
    month) and its standardized innovations, which outcome-coded news reads; (None, None) when
    no outcome has news. The drift starts at 0: the base rate already says where the hazard is."""
    if not d.news_outcomes:
        return None, None
    od = s.outcome_drift
    assert od is not None  # evidence validation requires it for news on outcomes
    news_z = pm.Normal("news_z", 0.0, 1.0, dims=("news_outcome", "month"))
    rho = np.full(len(d.news_outcomes), od.reversion.value)
    path = _ar_path(od.volatility.value * news_z, rho, d.n_months)
    drift = pm.Deterministic("outcome_drift", path, dims=("news_outcome", "month"))
    return drift, news_z


def news_membership(units: Units, news_outcomes: list[str]) -> np.ndarray:
    """(unit x news_outcome) 0/1: which news outcome's drift each hazard unit carries."""
    out = np.zeros((len(units.labels), len(news_outcomes)))
    for u, j in enumerate(units.outcome_idx):
        name = units.outcomes[j]
        if name in news_outcomes:
            out[u, news_outcomes.index(name)] = 1.0
    return out


def _hazards(
    s: Scenario, d: Design, f: pt.TensorVariable, drift: pt.TensorVariable | None
) -> pt.TensorVariable:
    """Logit monthly hazard of every unit, (unit x month), read from last month's factors and, for
    outcomes with news, last month's drift of the outcome's own."""
    K = len(s.factors)
    h = hazard_arrays(s, d.units)
    tau = half_normal("tau", factor_loading_scales(s), dims="factor")
    beta = pt.zeros((len(d.units.outcomes), K))
    if len(h["signed_idx"][0]):
        mag = half_normal("loading_abs_raw", 1.0, shape=len(h["signed_idx"][0]))
        beta = pt.set_subtensor(beta[h["signed_idx"]], mag)
    if len(h["free_idx"][0]):
        raw = pm.Normal("loading_free_raw", 0.0, 1.0, shape=len(h["free_idx"][0]))
        beta = pt.set_subtensor(beta[h["free_idx"]], raw)
    signs = np.where(h["free"] > 0, 1.0, h["sign"])
    lam = pm.Deterministic(
        "loading", signs * h["scale"] * tau[None, :] * beta, dims=("outcome", "factor")
    )
    alpha_raw = pm.Normal("alpha_raw", 0.0, 1.0, dims="outcome")
    alpha = pm.Deterministic("alpha", h["base_mu"] + h["base_sd"] * alpha_raw, dims="outcome")
    u_unit = pt.zeros(len(d.units.labels))
    if len(d.units.candidates):
        pooled = h["pooled_outcomes"]
        tau_u_all = pt.ones(len(d.units.outcomes))
        if pooled:
            tau_u = half_normal("candidate_spread", h["spread"][pooled], shape=len(pooled))
            tau_u_all = pt.set_subtensor(tau_u_all[pooled], tau_u)
        u_raw = pm.Normal("candidate_raw", 0.0, 1.0, dims="candidate")
        scale_c = pt.switch(h["cand_pooled"] > 0, tau_u_all[h["cand_outcome"]], h["cand_sd"])
        u = pm.Deterministic("candidate_offset", h["cand_mu"] + scale_c * u_raw, dims="candidate")
        has_c = d.units.candidate_idx >= 0
        u_unit = pt.set_subtensor(u_unit[np.nonzero(has_c)], u[d.units.candidate_idx[has_c]])
    oi = d.units.outcome_idx
    prev = previous_month(d.n_months)
    x = alpha[oi][:, None] + u_unit[:, None] + pt.dot(lam, f[:, prev])[oi]
    if drift is not None:
        x = x + pt.dot(news_membership(d.units, d.news_outcomes), drift[:, prev])
    return pm.Deterministic("logit_hazard", x, dims=("unit", "month"))


def _intercept(name: str, mu, sd, shift, dims: str) -> pt.TensorVariable:
    """Sample an indicator's level at its factor's mean; the intercept is a function of it.

    The model is ``a + sign * b * f[t]`` with ``a ~ Normal(mu, sd)``. It is sampled as
    ``level + sign * b * (f[t] - mean(f))`` with ``a = level - sign * b * mean(f)``: the unit
    Jacobian leaves the posterior unchanged, but a shift of the factor's level no longer has to be
    matched by every intercept along a curve whose slope is the loading. With indicators observed
    month after month that curved ridge made NUTS take hundreds of steps per draw. Returns
    ``level``; the intercept is recorded as the deterministic ``name``.
    """
    level = pm.Flat(f"{name}_level", dims=dims)
    a = pm.Deterministic(name, level - shift, dims=dims)
    pm.Potential(f"{name}_prior", pm.logp(pm.Normal.dist(mu, sd), a).sum())
    return level


def _indicator_terms(s: Scenario, d: Design, f: pt.TensorVariable, data: dict) -> None:
    inds = s.indicators
    K = len(s.factors)
    kfac = {k: i for i, k in enumerate(s.factors)}
    f_mean = pt.mean(f, axis=1)  # each factor's mean level over the fitted months
    f_dev = f - f_mean[:, None]
    if d.normal_names:
        fk = pt.as_tensor(np.array([kfac[inds[n].factor] for n in d.normal_names]))
        sg = pt.as_tensor(np.array([SIGN[inds[n].sign] for n in d.normal_names]))
        b = half_normal(
            "normal_loading_abs",
            indicator_loading_scales(s, d.normal_names),
            dims="normal_indicator",
        )
        level = _intercept(
            "normal_intercept", 0.0, NORMAL_INTERCEPT_SD, sg * b * f_mean[fk], "normal_indicator"
        )
        sd = pm.LogNormal("normal_sd", *NORMAL_SD_LOG, dims="normal_indicator")
        if "normal_y" in data:
            i = data["normal_ind"]
            mu = level[i] + sg[i] * b[i] * f_dev[fk[i], data["normal_month"]]
            pm.Normal("indicator", mu=mu, sigma=sd[i], observed=data["normal_y"])
    if d.count_names:
        fk_np = np.array([kfac[inds[n].factor] for n in d.count_names])
        sg = np.array([SIGN[inds[n].sign] for n in d.count_names])
        base = np.log([inds[n].baseline.value for n in d.count_names])  # type: ignore[union-attr]
        b = half_normal(
            "count_loading_abs", indicator_loading_scales(s, d.count_names), dims="count_indicator"
        )
        level = _intercept(
            "count_intercept", base, COUNT_INTERCEPT_SD, sg * b * f_mean[fk_np], "count_indicator"
        )
        inv_disp = pm.LogNormal(
            "count_inv_dispersion", *COUNT_INV_DISPERSION_LOG, dims="count_indicator"
        )
        if "count_y" in data:
            i = data["count_ind"]
            # monthly rate of each indicator, then each row's expected count: the rates of the
            # months it covers weighted by the share of each month counted (gathers are written
            # as products with one-hot matrices: see _rows_of)
            f_ind = pt.dot(_one_hot(fk_np, K), f_dev)  # (indicator x month)
            rate = pt.exp(level[:, None] + (sg * b)[:, None] * f_ind)
            mu = pt.sum(data["count_weight"] * _rows_of(rate, i), axis=1) + 1e-6
            pm.NegativeBinomial("count", mu=mu, alpha=1.0 / inv_disp[i], observed=data["count_y"])
    for name, blk in d.rating.items():
        ind = inds[name]
        assert ind.levels is not None
        k = kfac[ind.factor]
        b = half_normal(f"rating_loading_abs_{name}", indicator_loading_scales(s, [name])[0])
        cut = _cutpoints(name, len(ind.levels), SIGN[ind.sign] * b * f_mean[k])
        if len(blk["y"]):
            eta = SIGN[ind.sign] * b * f_dev[k, data[f"rating_{name}_month"]]
            pm.OrderedLogistic(
                f"rating_{name}",
                eta=eta,
                cutpoints=cut,
                observed=data[f"rating_{name}_y"],
                compute_p=False,
            )


def _cutpoints(name: str, n_levels: int, shift) -> pt.TensorVariable:
    """Ordered cutpoints of a rating, less ``shift`` (the rating's linear predictor at its factor's
    mean level): the first cutpoint is Normal, the gaps between cutpoints LogNormal.

    Every unconstrained coordinate is Normal a priori (the ordered transform of iid Normals used
    before puts an exponential inside a Gaussian on the log gaps: fast-changing curvature when few
    ratings inform them). As for indicator intercepts (``_intercept``), the first cutpoint is
    sampled relative to the factor's mean level; the cutpoints themselves are recorded as the
    deterministic ``cutpoints_<name>``.
    """
    first_level = pm.Flat(f"cutpoint_first_{name}_level")
    first = first_level + shift
    pm.Potential(f"cutpoint_first_{name}_prior", pm.logp(pm.Normal.dist(*CUTPOINT_FIRST), first))
    if n_levels == 2:
        rel = first_level[None]
    else:
        gap_mu = np.log(cutpoint_spacing(n_levels))
        gaps = pm.LogNormal(
            f"cutpoint_gaps_{name}", gap_mu, CUTPOINT_GAP_LOG_SD, shape=n_levels - 2
        )
        rel = pt.concatenate([first_level[None], first_level + pt.cumsum(gaps)])
    pm.Deterministic(f"cutpoints_{name}", rel + shift)
    return rel


def _event_term(
    s: Scenario, data: dict, z: pt.TensorVariable, news_z: pt.TensorVariable | None
) -> None:
    """A coded event of signed strength v is a noisy reading of a month's standardized innovation
    / gain: a factor's own (z) or, for outcome-coded news, that of the outcome's own drift
    (news_z), so that news on an outcome never moves the factors that drive it."""
    if "event_value" not in data:
        return
    sig = s.event_signal
    innovation = z[data["event_factor"], data["event_month"]]
    if news_z is not None:
        on_outcome = data["event_outcome"] >= 0
        news = news_z[pt.maximum(data["event_outcome"], 0), data["event_month"]]
        innovation = pt.switch(on_outcome, news, innovation)
    pm.Normal(
        "event", mu=innovation / sig.gain.value, sigma=sig.noise.value, observed=data["event_value"]
    )


def _forecast_term(s: Scenario, d: Design, x: pt.TensorVariable, data: dict) -> None:
    """Forecast rows: logit p_obs = logit p_model + bias[source] + noise[source] * eps.

    bias[source] = mu + sd * raw with mu ~ N(0, bias_sd), sd ~ HalfNormal(bias_sd), raw ~ N(0, 1):
    integrated out, the rows are jointly Normal with covariance
    ``diag(noise[src]^2) + sd^2 [same source] + bias_sd^2``. With ``L`` its Cholesky factor and
    ``e = L^-1 (y - m)``, the density is the product over rows of
    ``Normal(y_i | m_i + sum_{j<i} L_ij e_j, L_ii)`` (rows in date order).
    """
    fn = s.forecast_noise
    bias_sd = half_normal("forecast_bias_sd", fn.bias_sd.value)
    noise = pm.LogNormal(
        "forecast_noise", np.log(fn.noise_scale.value), FORECAST_NOISE_LOG_SD, dims="forecaster"
    )
    x_t = _rows_of(x.T, data["fc_month"])
    m, _, _ = _prob_by(x_t, data["fc_mask"], data["fc_horizon"], data["fc_persist"])
    src = data["fc_source"]
    y = data["fc_logit"]
    same = pt.eq(src[:, None], src[None, :])
    mu_var = fn.bias_sd.value**2  # prior variance of the bias shared by every source
    cov = pt.diag(noise[src] ** 2) + bias_sd**2 * same + mu_var
    chol = pt.linalg.cholesky(cov, lower=True)
    e = pt.linalg.solve_triangular(chol, y - m, lower=True)
    diag = pt.diagonal(chol)
    shift = pt.dot(chol - pt.diag(diag), e)  # sum_{j<i} L_ij e_j
    pm.Normal("forecast", mu=m + shift, sigma=diag, observed=y)
    # E[bias | draw]: the bias each source would need, given the rows (Rao-Blackwellized)
    n_src = len(d.fc_sources)
    onehot = pt.eq(pt.arange(n_src)[:, None], src[None, :])  # (source x row)
    cov_b = bias_sd**2 * onehot + mu_var  # Cov(bias[s], y_i)
    w = pt.linalg.solve_triangular(chol.T, e, lower=False)  # cov^-1 (y - m)
    pm.Deterministic("forecast_bias", pt.dot(cov_b, w), dims="forecaster")
