"""The evidence terms of the model, one per kind: indicators (normal, count, rating), coded
events, crowd and expert forecasts, and the probability-by-horizon they and likelihood ratios read.
Each term reads its rows from the ``pm.Data`` containers of ``model_data``."""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from forecast.data.scenario import Scenario
from forecast.model.design import Design
from forecast.model.priors import (
    COUNT_INTERCEPT_SD,
    COUNT_INV_DISPERSION_LOG,
    CUTPOINT_FIRST,
    CUTPOINT_GAP_LOG_SD,
    FORECAST_NOISE_LOG_SD,
    NORMAL_INTERCEPT_SD,
    NORMAL_SD_LOG,
    SIGN,
    cutpoint_spacing,
    half_normal,
    indicator_loading_scales,
    source_offset_sds,
)


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


def _survival_cell_logp(y, logit_h, weight):
    """A unit-month of the discrete-time hazard: log h if the outcome ended in it, else the log of
    surviving the observed part of it, weight * log(1 - h) (a constant hazard within the month)."""
    return pt.switch(pt.eq(y, 1), -pt.softplus(-logit_h), -weight * pt.softplus(logit_h))


def _survival_cell_random(logit_h, weight, rng=None, size=None) -> np.ndarray:
    """Simulate unit-months of ``_survival_cell_logp`` (posterior predictive checks only; the fit
    reads the logp): 1 if the outcome ends in the observed part of the month, probability
    1 - (1 - h)^weight."""
    p = -np.expm1(-weight * np.logaddexp(0.0, logit_h))
    return rng.binomial(1, p, size=size).astype(float)


def _intercept(name: str, mu, sd, shift, dims: str) -> pt.TensorVariable:
    """Sample an indicator's level at its factor's mean; the intercept is a function of it.

    The model is ``a + sign * b * f[t]`` with ``a ~ Normal(mu, sd)``. It is sampled as
    ``level + sign * b * (f[t] - mean(f))`` with ``a = level - sign * b * mean(f)``, the mean over
    the design's centre months (``Design.centre``; every month unless told otherwise): the unit
    Jacobian leaves the posterior unchanged, but a shift of the factor's level no longer has to be
    matched by every intercept along a curve whose slope is the loading. With indicators observed
    month after month that curved ridge made NUTS take hundreds of steps per draw. Returns
    ``level``; the intercept is recorded as the deterministic ``name``.
    """
    level = pm.Flat(f"{name}_level", dims=dims)
    a = pm.Deterministic(name, level - shift, dims=dims)
    pm.Potential(f"{name}_prior", pm.logp(pm.Normal.dist(mu, sd), a).sum())
    return level


def _source_offsets(kind: str, sds: np.ndarray, data: dict) -> pt.TensorVariable | None:
    """Each row's offset from its indicator's reference level, ``None`` when no source is
    declared (the model is then the one without sources). A declared source's offset is
    ``sd * raw``, raw ~ Normal(0, 1) (``<kind>_source_offset``; sampled even without rows); a
    reference row (index -1) has an all-zero row in the one-hot gather (see ``_rows_of``): 0."""
    if not len(sds):
        return None
    raw = pm.Normal(f"{kind}_source_raw", 0.0, 1.0, dims=f"{kind}_source")
    offset = pm.Deterministic(f"{kind}_source_offset", sds * raw, dims=f"{kind}_source")
    if f"{kind}_src" not in data:
        return None
    return pt.dot(_one_hot(data[f"{kind}_src"], len(sds)), offset)


def _indicator_terms(s: Scenario, d: Design, f: pt.TensorVariable, data: dict) -> None:
    """The indicator kinds' terms, each measuring its factor's deviation from its mean level
    over the design's centre months (intercepts are centred on the loading times that mean; a
    backtest's months past its evidence stay out of it, or every level would move with their
    unobserved innovations)."""
    kfac = {k: i for i, k in enumerate(s.factors)}
    # each factor's mean level over the centre months
    f_mean = pt.sum(f * data["centre_months"], axis=1) / pt.sum(data["centre_months"])
    f_dev = f - f_mean[:, None]
    if d.indicator.names:
        _normal_terms(s, d.indicator.names, kfac, f_mean, f_dev, data)
    if d.count.names:
        _count_terms(s, d.count.names, kfac, f_mean, f_dev, data)
    for name, blk in d.rating.items():
        _rating_term(s, name, len(blk.y) > 0, kfac, f_mean, f_dev, data)


def _normal_terms(s: Scenario, names: list[str], kfac: dict, f_mean, f_dev, data: dict) -> None:
    """Normal indicators: a level, a loading and a noise sd each, and source offsets."""
    inds = s.indicators
    fk = pt.as_tensor(np.array([kfac[inds[n].factor] for n in names]))
    sg = pt.as_tensor(np.array([SIGN[inds[n].sign] for n in names]))
    b = half_normal(
        "normal_loading_abs", indicator_loading_scales(s, names), dims="normal_indicator"
    )
    level = _intercept(
        "normal_intercept", 0.0, NORMAL_INTERCEPT_SD, sg * b * f_mean[fk], "normal_indicator"
    )
    sd = pm.LogNormal("normal_sd", *NORMAL_SD_LOG, dims="normal_indicator")
    off = _source_offsets("normal", source_offset_sds(s, names), data)
    if "normal_y" in data:
        i = data["normal_ind"]
        mu = level[i] + sg[i] * b[i] * f_dev[fk[i], data["normal_month"]]
        if off is not None:
            mu = mu + off
        pm.Normal("indicator", mu=mu, sigma=sd[i], observed=data["normal_y"])


def _count_terms(s: Scenario, names: list[str], kfac: dict, f_mean, f_dev, data: dict) -> None:
    """Count indicators: negative-binomial counts over each row's exposure, a log-rate level at
    the scenario's baseline, a loading, a dispersion and source offsets."""
    inds = s.indicators
    fk_np = np.array([kfac[inds[n].factor] for n in names])
    sg = np.array([SIGN[inds[n].sign] for n in names])
    base = np.log([inds[n].baseline.value for n in names])  # type: ignore[union-attr]
    b = half_normal("count_loading_abs", indicator_loading_scales(s, names), dims="count_indicator")
    level = _intercept(
        "count_intercept", base, COUNT_INTERCEPT_SD, sg * b * f_mean[fk_np], "count_indicator"
    )
    inv_disp = pm.LogNormal(
        "count_inv_dispersion", *COUNT_INV_DISPERSION_LOG, dims="count_indicator"
    )
    off = _source_offsets("count", source_offset_sds(s, names), data)
    if "count_y" in data:
        i = data["count_ind"]
        # monthly rate of each indicator, then each row's expected count: the rates of the
        # months it covers weighted by the share of each month counted, times the row's
        # source factor exp(offset) (gathers are written as products with one-hot matrices:
        # see _rows_of)
        f_ind = pt.dot(_one_hot(fk_np, len(kfac)), f_dev)  # (indicator x month)
        rate = pt.exp(level[:, None] + (sg * b)[:, None] * f_ind)
        mu = pt.sum(data["count_weight"] * _rows_of(rate, i), axis=1)
        if off is not None:
            mu = pt.exp(off) * mu
        mu = mu + 1e-6
        pm.NegativeBinomial("count", mu=mu, alpha=1.0 / inv_disp[i], observed=data["count_y"])


def _rating_term(
    s: Scenario, name: str, observed: bool, kfac: dict, f_mean, f_dev, data: dict
) -> None:
    """One rating scale: ordered-logistic levels with a loading and cutpoints of its own."""
    ind = s.indicators[name]
    assert ind.levels is not None
    k = kfac[ind.factor]
    b = half_normal(f"rating_loading_abs_{name}", indicator_loading_scales(s, [name])[0])
    cut = _cutpoints(name, len(ind.levels), SIGN[ind.sign] * b * f_mean[k])
    if observed:
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
    s: Scenario, data: dict, e: pt.TensorVariable, news_z: pt.TensorVariable | None
) -> None:
    """A coded event of signed strength v is a noisy reading of a month's standardized innovation
    / gain: a factor's own (e) or, for outcome-coded news, that of the outcome's own drift
    (news_z), so that news on an outcome never moves the factors that drive it.

    With ``month_noise`` (tau) the events of one cell (target x month) share a coder effect
    u ~ N(0, tau^2) besides their own noise (sigma), integrated out: row i, after j rows of its
    cell whose residuals sum to S, is Normal(m_i + tau^2 S / (sigma^2 + j tau^2),
    sigma^2 + tau^2 sigma^2 / (sigma^2 + j tau^2)). The product over rows is the cell's joint
    density; a cell of n events carries at most 1 / tau^2 of precision however large n is.
    """
    if "event_value" not in data:
        return
    sig = s.event_signal
    innovation = e[data["event_factor"], data["event_month"]]
    if news_z is not None:
        on_outcome = data["event_outcome"] >= 0
        news = news_z[pt.maximum(data["event_outcome"], 0), data["event_month"]]
        innovation = pt.switch(on_outcome, news, innovation)
    mu = innovation / sig.gain.value
    y = data["event_value"]
    var = sig.noise.value**2
    if sig.month_noise is None:
        pm.Normal("event", mu=mu, sigma=sig.noise.value, observed=y)
        return
    tau2 = sig.month_noise.value**2
    before = pt.cumsum(y - mu) - (y - mu)  # residuals of the rows before, cells concatenated
    prev = before - before[data["event_first"]]  # ... of the rows before in the same cell
    shrink = tau2 / (var + data["event_rank"] * tau2)
    pm.Normal("event", mu=mu + shrink * prev, sigma=pt.sqrt(var + shrink * var), observed=y)


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
    n_src = len(d.forecast.sources)
    onehot = pt.eq(pt.arange(n_src)[:, None], src[None, :])  # (source x row)
    cov_b = bias_sd**2 * onehot + mu_var  # Cov(bias[s], y_i)
    w = pt.linalg.solve_triangular(chol.T, e, lower=False)  # cov^-1 (y - m)
    pm.Deterministic("forecast_bias", pt.dot(cov_b, w), dims="forecaster")
