"""Simulate evidence from known parameters, for parameter recovery and simulation-based calibration
(``forecast.skill.sbc``).

``draw_truth`` draws every model parameter from the prior a scenario defines (the same priors as
``forecast.model.build``, implemented independently in numpy), and ``simulate_evidence`` draws an
evidence log of every kind from those parameters through the model's own likelihoods. Which rows
exist (months, targets, horizons, sources) is fixed in advance by a ``Plan``, never chosen by
looking at the simulated values, so a fit to the simulated log is a fit to data the model describes
exactly.

Simulated rows follow the evidence frame of ``forecast.data.evidence`` with two liberties the CSV
format does not allow: an event's strength is the continuous value the model's likelihood draws
(coded events in a log are whole strengths 1..3), and a likelihood-ratio row is fixed by the plan. A
likelihood ratio is not a generative term (a Potential), so the parameters are drawn from the prior
*times* the ratio terms, by rejection: that is the distribution the model's posterior conditions on.

All randomness comes from an explicit ``numpy.random.Generator``; the order of the draws is part
of the contract (recovery and SBC data are fixed by their seeds).
"""

from __future__ import annotations

import calendar
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import expit, log_expit

from forecast.data.evidence import FRAME_COLUMNS, Evidence
from forecast.data.scenario import Scenario
from forecast.data.target import Target
from forecast.model.arrays import hazard_arrays, news_membership, previous_month
from forecast.model.design import Units, hazard_direction, hazard_units, source_labels
from forecast.model.priors import (
    COUNT_INTERCEPT_SD,
    COUNT_INV_DISPERSION_LOG,
    CUTPOINT_FIRST,
    CUTPOINT_GAP_LOG_SD,
    FORECAST_NOISE_LOG_SD,
    NORMAL_INTERCEPT_SD,
    NORMAL_SD_LOG,
    SIGN,
    correlated_factors,
    cutpoint_spacing,
    factor_loading_scales,
    indicator_loading_scales,
    innovation_dfs,
    learned_reversions,
    reversions,
    source_offset_sds,
    standardized_innovations,
    stationary_sds,
    volatilities,
)
from forecast.skill.plan import Plan

SOURCE = "simulated"
SOURCE_URL = "https://example.org/simulated"
MAX_REJECTIONS = 10_000


def _half_normal(rng: np.random.Generator, scale, size=None) -> np.ndarray:
    """HalfNormal draws, one per element of ``scale`` unless ``size`` says otherwise."""
    return np.abs(rng.normal(0.0, 1.0, np.shape(scale) if size is None else size)) * scale


def _target_units(units: Units, target: str) -> list[int]:
    return units.units_of(*Target.parse(target))


def prob_by(s: Scenario, units: Units, x: np.ndarray, target: str, month: int, horizon: int):
    """(log p, log(1 - p)) that ``target`` happens (event) or still holds (persistence) by
    ``month + horizon``, holding every hazard at its value in ``month`` (as the model does)."""
    us = _target_units(units, target)
    a = horizon * np.sum(np.logaddexp(0.0, x[us, month]))  # -log survival
    log_s, log_1ms = -a, np.log(-np.expm1(-a))
    persist = s.outcomes[Target.parse(target).outcome].kind == "persistence"
    return (log_s, log_1ms) if persist else (log_1ms, log_s)


def draw_truth(s: Scenario, plan: Plan, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Every parameter drawn from the prior (times any likelihood-ratio terms), named as in the
    posterior of ``build_model`` (``f``, ``loading``, ``alpha``, ``normal_sd``, ...)."""
    for _ in range(MAX_REJECTIONS):
        truth = _draw_prior(s, plan, rng)
        log_accept = 0.0
        units = hazard_units(s)
        for r in plan.ratios:
            log_p, log_q = prob_by(s, units, truth["logit_hazard"], r.target, r.month, r.horizon)
            # the ratio term p * LR + (1 - p), divided by its maximum max(LR, 1)
            log_accept += np.logaddexp(log_p + np.log(r.ratio), log_q) - max(np.log(r.ratio), 0.0)
        if np.log(rng.uniform()) < log_accept:
            return truth
    raise RuntimeError("likelihood-ratio rows reject nearly every prior draw")


def _lkj(rng: np.random.Generator, n: int, eta: float) -> np.ndarray:
    """An n x n correlation matrix from LKJ(eta), by the onion method (Lewandowski, Kurowicka and
    Joe 2009, section 3.2): grow the matrix a row at a time, each new row's squared norm Beta."""
    beta = eta + (n - 2) / 2
    r = 2.0 * rng.beta(beta, beta) - 1.0
    corr = np.array([[1.0, r], [r, 1.0]])
    for k in range(2, n):
        beta -= 0.5
        w = rng.normal(size=k)
        q = np.linalg.cholesky(corr) @ (np.sqrt(rng.beta(k / 2, beta)) * w / np.linalg.norm(w))
        corr = np.block([[corr, q[:, None]], [q[None, :], np.ones((1, 1))]])
    return corr


def _draw_prior(s: Scenario, plan: Plan, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Every parameter from its prior, in a fixed order: factors, hazards, indicators, forecast
    sources."""
    out: dict[str, np.ndarray] = {}
    _draw_factors(s, plan.n_months, rng, out)
    _draw_hazards(s, plan, rng, out)
    _draw_indicator_params(s, rng, out)
    if plan.forecasts:
        _draw_forecasters(s, plan, rng, out)
    return out


def _draw_factors(s: Scenario, T: int, rng: np.random.Generator, out: dict) -> None:
    """f[0] = m0 + s0 e[0]; f[t] = rho f[t-1] + vol e[t], e = z mixed in the correlated block;
    learned reversions keep the stationary sd (see _dynamics in the model)."""
    facs = list(s.factors.values())
    K = len(facs)
    z = rng.normal(size=(K, T))
    dfs = innovation_dfs(s)
    if dfs is not None:  # month 0 (the initial level) stays Gaussian, as in the model
        z[:, 1:] = standardized_innovations(rng, dfs, (K, T - 1), axis=0)
    e = z.copy()
    if s.correlation is not None:
        block = correlated_factors(s)
        corr = _lkj(rng, len(block), s.correlation.eta)
        e[block] = np.linalg.cholesky(corr) @ z[block]
        out["innovation_correlation"] = corr
    m0 = np.array([f.initial.mean for f in facs])
    s0 = np.array([f.initial.sd for f in facs])
    rho, vol = reversions(s), volatilities(s)
    learned = learned_reversions(s)
    if learned:
        idx = list(learned)
        a, b = np.array(list(learned.values())).T
        out["reversion_learned"] = rng.beta(a, b)
        rho, vol = rho.copy(), vol.copy()
        rho[idx] = out["reversion_learned"]
        vol[idx] = stationary_sds(s)[idx] * np.sqrt(1.0 - rho[idx] ** 2)
        out |= {"reversion": rho, "volatility": vol}
    f = np.empty((K, T))
    f[:, 0] = m0 + s0 * e[:, 0]
    for t in range(1, T):
        f[:, t] = rho * f[:, t - 1] + vol * e[:, t]
    out |= {"z": z, "innovation": e, "f": f}


def _draw_hazards(s: Scenario, plan: Plan, rng: np.random.Generator, out: dict) -> None:
    """Loadings, intercepts, candidate offsets, outcome drift, and the logit hazard they give."""
    T, f = plan.n_months, out["f"]
    units = hazard_units(s)
    h = hazard_arrays(s, units)
    tau = _half_normal(rng, factor_loading_scales(s))
    beta = np.zeros((len(units.outcomes), len(s.factors)))
    n_signed, n_free = len(h.signed_idx[0]), len(h.free_idx[0])
    if n_signed:
        out["loading_abs_raw"] = _half_normal(rng, 1.0, n_signed)
        beta[h.signed_idx] = out["loading_abs_raw"]
    if n_free:
        out["loading_free_raw"] = rng.normal(size=n_free)
        beta[h.free_idx] = out["loading_free_raw"]
    loading = h.signs * h.scale * tau[None, :] * beta
    alpha_raw = rng.normal(size=len(units.outcomes))
    alpha = h.base_mu + h.base_sd * alpha_raw
    out |= {"tau": tau, "loading": loading, "alpha_raw": alpha_raw, "alpha": alpha}
    u_unit = np.zeros(len(units.labels))
    if units.candidates:
        tau_u_all = np.ones(len(units.outcomes))
        if h.pooled_outcomes:
            spread = _half_normal(rng, h.spread[h.pooled_outcomes])
            tau_u_all[h.pooled_outcomes] = spread
            out["candidate_spread"] = spread
        raw = rng.normal(size=len(units.candidates))
        scale_c = np.where(h.cand_pooled > 0, tau_u_all[h.cand_outcome], h.cand_sd)
        offset = h.cand_mu + scale_c * raw
        has_c = units.candidate_idx >= 0
        u_unit[has_c] = offset[units.candidate_idx[has_c]]
        out |= {"candidate_raw": raw, "candidate_offset": offset}
    oi = units.outcome_idx
    prev = previous_month(T)
    out["logit_hazard"] = alpha[oi][:, None] + u_unit[:, None] + (loading @ f[:, prev])[oi]
    news = [o for o in units.outcomes if o in plan.event_months]
    if news:  # each news outcome's own drift, as _outcome_drift in the model
        od = s.outcome_drift
        assert od is not None
        news_z = rng.normal(size=(len(news), T))
        drift = np.empty_like(news_z)
        drift[:, 0] = od.volatility.value * news_z[:, 0]
        for t in range(1, T):
            drift[:, t] = od.reversion.value * drift[:, t - 1] + od.volatility.value * news_z[:, t]
        out |= {"news_z": news_z, "outcome_drift": drift}
        out["logit_hazard"] = out["logit_hazard"] + news_membership(units, news) @ drift[:, prev]


def _draw_indicator_params(s: Scenario, rng: np.random.Generator, out: dict) -> None:
    """Intercepts, loadings and noise of every indicator, source offsets, rating cutpoints."""
    names = {lk: [n for n, i in s.indicators.items() if i.likelihood == lk] for lk in SIGN_KINDS}
    if names["normal"]:
        n = len(names["normal"])
        out["normal_intercept"] = rng.normal(0.0, NORMAL_INTERCEPT_SD, n)
        out["normal_loading_abs"] = _half_normal(rng, indicator_loading_scales(s, names["normal"]))
        out["normal_sd"] = rng.lognormal(*NORMAL_SD_LOG, n)
    if names["count"]:
        n = len(names["count"])
        base = np.log([s.indicators[c].baseline.value for c in names["count"]])  # type: ignore[union-attr]
        out["count_intercept"] = rng.normal(base, COUNT_INTERCEPT_SD)
        out["count_loading_abs"] = _half_normal(rng, indicator_loading_scales(s, names["count"]))
        out["count_inv_dispersion"] = rng.lognormal(*COUNT_INV_DISPERSION_LOG, n)
    for lk in ("normal", "count"):  # source offsets sd * raw, as _source_offsets in the model
        sds = source_offset_sds(s, names[lk])
        if len(sds):
            out[f"{lk}_source_raw"] = rng.normal(size=len(sds))
            out[f"{lk}_source_offset"] = sds * out[f"{lk}_source_raw"]
    for name in names["rating"]:
        levels = s.indicators[name].levels
        assert levels is not None
        out[f"rating_loading_abs_{name}"] = _half_normal(
            rng, indicator_loading_scales(s, [name])[0]
        )
        first = rng.normal(*CUTPOINT_FIRST)
        gaps = rng.lognormal(
            np.log(cutpoint_spacing(len(levels))), CUTPOINT_GAP_LOG_SD, len(levels) - 2
        )
        out[f"cutpoints_{name}"] = first + np.concatenate([[0.0], np.cumsum(gaps)])
        if len(gaps):
            out[f"cutpoint_gaps_{name}"] = gaps


def _draw_forecasters(s: Scenario, plan: Plan, rng: np.random.Generator, out: dict) -> None:
    """Forecast sources: bias = mu + sd * raw, mu ~ N(0, b), sd ~ HalfNormal(b); noise."""
    fn = s.forecast_noise
    n = len(plan.forecasters)
    bias_sd = _half_normal(rng, fn.bias_sd.value)
    bias_mu = rng.normal(0.0, fn.bias_sd.value)
    out["forecast_bias_sd"] = np.asarray(bias_sd)
    out["forecast_bias"] = bias_mu + bias_sd * rng.normal(size=n)
    out["forecast_noise"] = rng.lognormal(np.log(fn.noise_scale.value), FORECAST_NOISE_LOG_SD, n)


SIGN_KINDS = ("normal", "count", "rating")


class _Rows:
    """Evidence rows being simulated, in the frame of ``forecast.data.evidence``."""

    def __init__(self, s: Scenario) -> None:
        self.s, self.rows = s, []

    def add(self, kind: str, target: str, t: int, value: float, **extra) -> None:
        rec = dict.fromkeys(FRAME_COLUMNS)
        rec.update(
            file="simulated.csv",
            row=len(self.rows) + 2,
            date=pd.Timestamp(self.s.month_start(t)),
            month=t,
            kind=kind,
            target=target,
            value=float(value),
            source=SOURCE,
            source_url=SOURCE_URL,
            note="",
        )
        rec.update(extra)
        self.rows.append(rec)

    def evidence(self) -> Evidence:
        frame = pd.DataFrame.from_records(self.rows, columns=list(FRAME_COLUMNS))
        frame = frame.sort_values(["date", "row"], kind="stable").reset_index(drop=True)
        return Evidence(frame=frame, files=(Path("simulated.csv"),))


def simulate_evidence(
    s: Scenario, truth: dict[str, np.ndarray], plan: Plan, rng: np.random.Generator
) -> Evidence:
    """An evidence log drawn from the likelihoods at ``truth``, with the rows of ``plan``."""
    rows = _Rows(s)
    _indicator_rows(s, truth, plan, rng, rows)
    _event_rows(s, truth, plan, rng, rows)
    _forecast_rows(s, truth, plan, rng, rows)
    if plan.resolve:
        _resolution_rows(s, truth, plan, rng, rows)
    return rows.evidence()


def _indicator_rows(s: Scenario, truth: dict, plan: Plan, rng: np.random.Generator, rows: _Rows):
    """Normal, count and rating rows of every planned month, reference rows before sources."""
    kfac = {k: i for i, k in enumerate(s.factors)}
    f = truth["f"]
    by_kind = {lk: [n for n, i in s.indicators.items() if i.likelihood == lk] for lk in SIGN_KINDS}
    series = [(name, None, months) for name, months in plan.indicator_months.items()]
    series += [
        (name, src, months)
        for name, by_source in plan.source_months.items()
        for src, months in by_source.items()
    ]
    for name, src, months in series:
        ind = s.indicators[name]
        k, sg = kfac[ind.factor], SIGN[ind.sign]
        i = by_kind[ind.likelihood].index(name)
        source, offset = SOURCE, 0.0
        if src is not None:  # a declared source's rows: its match text, its offset
            source = f"{SOURCE} ({ind.sources[src].match})"
            labels = source_labels(s, by_kind[ind.likelihood])
            offset = truth[f"{ind.likelihood}_source_offset"][labels.index(f"{name}:{src}")]
        if ind.source_of(source) != src:
            raise ValueError(f"simulated rows of {name}:{src or '(reference)'} would not match it")
        for t in months:
            if ind.likelihood == "normal":
                assert ind.center is not None and ind.spread is not None
                mu = truth["normal_intercept"][i] + sg * truth["normal_loading_abs"][i] * f[k, t]
                y = mu + offset + truth["normal_sd"][i] * rng.normal()
                v = ind.center.value + ind.spread.value * y
                v = np.exp(v) if ind.transform == "log" else v
                rows.add("indicator", name, t, v, source=source)
            elif ind.likelihood == "count":
                log_mu = truth["count_intercept"][i] + offset
                mu = np.exp(log_mu + sg * truth["count_loading_abs"][i] * f[k, t])
                alpha = 1.0 / truth["count_inv_dispersion"][i]
                lam = rng.gamma(alpha, (mu + 1e-6) / alpha)  # NegativeBinomial(mu, alpha)
                d0 = s.month_start(t)
                days = float(calendar.monthrange(d0.year, d0.month)[1])
                rows.add("count", name, t, rng.poisson(lam), exposure_days=days, source=source)
            else:
                eta = sg * truth[f"rating_loading_abs_{name}"] * f[k, t]
                latent = eta + rng.logistic()
                rows.add("rating", name, t, np.sum(truth[f"cutpoints_{name}"] < latent))


def _event_rows(s: Scenario, truth: dict, plan: Plan, rng: np.random.Generator, rows: _Rows):
    """Coded events: the month's innovation read with the event gain, a coder effect shared by
    the cell (when the scenario has one) and row noise."""
    kfac = {k: i for i, k in enumerate(s.factors)}
    sig = s.event_signal
    gain, noise = sig.gain.value, sig.noise.value
    month_noise = sig.month_noise.value if sig.month_noise else None
    news = [o for o in hazard_units(s).outcomes if o in plan.event_months]
    for target, months in plan.event_months.items():
        if target in kfac:
            innovation, sign, extra = truth["innovation"][kfac[target]], 1.0, {}
        else:  # outcome-coded news reads the outcome's own drift, signed "+ = more likely"
            innovation, extra = truth["news_z"][news.index(target)], _outcome_cols(target)
            sign = hazard_direction(s, target)
        # one coder effect per cell; none drawn without one (the random stream stays as it was)
        cells = sorted(set(months))
        coder = dict.fromkeys(cells, 0.0)
        if month_noise is not None:
            coder = {t: month_noise * rng.normal() for t in cells}
        for t in months:
            value = innovation[t] / gain + coder[t] + noise * rng.normal()
            rows.add("event", target, t, sign * value, **extra)


def _forecast_rows(s: Scenario, truth: dict, plan: Plan, rng: np.random.Generator, rows: _Rows):
    """Crowd or expert probabilities (biased, noisy logits of the true P) and the plan's ratios."""
    units = hazard_units(s)
    x = truth["logit_hazard"]
    sources = plan.forecasters
    for r in plan.forecasts:
        log_p, log_q = prob_by(s, units, x, r.target, r.month, r.horizon)
        j = sources.index(r.forecaster)
        obs = log_p - log_q + truth["forecast_bias"][j] + truth["forecast_noise"][j] * rng.normal()
        p = float(np.clip(expit(obs), 1e-15, 1 - 1e-15))
        extra = {"horizon_months": r.horizon, "forecaster": r.forecaster}
        rows.add("forecast", r.target, r.month, p, **extra, **_outcome_cols(r.target))
    for r in plan.ratios:
        extra = {"horizon_months": r.horizon}
        rows.add("likelihood_ratio", r.target, r.month, r.ratio, **extra, **_outcome_cols(r.target))


def _resolution_rows(s: Scenario, truth: dict, plan: Plan, rng: np.random.Generator, rows: _Rows):
    """One resolution per hazard unit: the month it happened (or ended), else "not yet" at the
    last month."""
    units = hazard_units(s)
    x = truth["logit_hazard"]
    for u, label in enumerate(units.labels):
        outcome = units.outcomes[units.outcome_idx[u]]
        persist = s.outcomes[outcome].kind == "persistence"
        happened = np.log(rng.uniform(size=plan.n_months)) < log_expit(x[u, : plan.n_months])
        t = int(np.argmax(happened)) if happened.any() else plan.n_months - 1
        ended = bool(happened.any())
        value = (0 if ended else 1) if persist else (1 if ended else 0)
        rows.add("resolution", label, t, value, **_outcome_cols(label))


def _outcome_cols(target: str) -> dict[str, str | None]:
    outcome, candidate = Target.parse(target)
    return {"outcome": outcome, "candidate": candidate}


def simulate(
    s: Scenario, plan: Plan, rng: np.random.Generator
) -> tuple[Evidence, dict[str, np.ndarray]]:
    """Draw parameters from the prior and an evidence log from them: ``(evidence, truth)``."""
    truth = draw_truth(s, plan, rng)
    return simulate_evidence(s, truth, plan, rng), truth
