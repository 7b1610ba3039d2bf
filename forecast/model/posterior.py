"""Posterior → forecasts: P(outcome by origin + H) from projected factor paths, as xarray.

For every posterior draw, ``n_paths`` future factor paths are simulated from the factors' monthly
AR(1) / random-walk dynamics; the per-draw probability averages over those paths, so the credible
interval reflects uncertainty about the parameters and the point value is the posterior predictive
probability.
"""

from __future__ import annotations

from calendar import monthrange
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
import xarray as xr

from forecast.data.months import month_end, month_label
from forecast.data.scenario import Scenario
from forecast.model.arrays import news_membership
from forecast.model.design import Design
from forecast.model.priors import (
    correlated_factors,
    innovation_dfs,
    reversions,
    standardized_innovations,
    volatilities,
)

INTERVAL = 0.90


@dataclass(frozen=True)
class Projection:
    """Per-draw forecast probabilities and projected factor paths.

    ``probability``: (sample, target, horizon); ``factor_path``: (sample, factor, ahead) — one
    simulated path per draw over the months after the last fitted month, for fan charts.
    ``origin``: the origin month (``YYYY-MM``); horizon H ends with the H-th month after it.
    """

    probability: xr.DataArray
    factor_path: xr.DataArray
    origin: str


def origin_label(s: Scenario, d: Design, origin: date | None) -> str:
    """The origin month (``YYYY-MM``) of a projection from ``origin`` (None: the last fitted
    month)."""
    return month_label(s.month_start(d.origin if origin is None else s.month_index(origin)))


def projection_inputs(d: Design) -> dict:
    """What ``project`` reads from the design besides the draws, as JSON: the months, the units
    and what the evidence says of each unit's state (a run's projection can be reused for the
    same draws only if these, the scenario, the origin and the seed are the same)."""
    r = d.resolution
    return {
        "months": [d.months[0], d.months[-1]],
        "origin": int(d.origin),
        "units": list(d.units.labels),
        "closed_at": r.closed_at.tolist(),
        "known_open_until": r.known_open_until.tolist(),
        "known_open_fraction": np.round(r.known_open_fraction, 12).tolist(),
        "news_outcomes": list(d.event.news_outcomes),
    }


def stored_projection(predictions: xr.Dataset, origin: str, draws: np.ndarray) -> Projection:
    """The projection a run file stores (its ``predictions`` group, from ``origin`` month) at the
    flat draw indices ``draws``, in that order: a reweighted run's resampled draws of its base."""

    def take(da: xr.DataArray) -> xr.DataArray:
        flat = da.stack(sample=("chain", "draw")).transpose("sample", ...)
        return flat.drop_vars(["sample", "chain", "draw"]).isel(sample=draws)

    return Projection(take(predictions["probability"]), take(predictions["factor_path"]), origin)


def _stack(idata: xr.DataTree, name: str) -> np.ndarray:
    """Posterior variable with chain and draw merged into a leading sample axis."""
    v = idata["posterior"][name]
    return v.values.reshape((-1, *v.shape[2:]))


def target_labels(s: Scenario) -> list[str]:
    return [str(t) for t in s.targets()]


def project(
    s: Scenario,
    d: Design,
    idata: xr.DataTree,
    *,
    seed: int,
    n_paths: int = 16,
    n_state_paths: int = 256,
    horizons: tuple[int, ...] | None = None,
    hold: dict[str, float] | None = None,
    origin: date | None = None,
) -> Projection:
    """Project factors from the last fitted month to ``max(horizons)`` months past the origin
    month and compute every target's P(by the end of month origin + H).

    That P conditions on the fitted evidence and on each outcome's last known state: an ended
    outcome is certain (1, or 0 for persistence); one known open on a day (a "still open"
    resolution row) is at risk every day after it, before the origin as well as after, since
    nothing says whether it ended in between; one without resolution rows is taken to be open at
    the origin, so it is at risk from the origin on: the part of the origin month after the
    ``origin`` day (``origin_fraction``), then the H months after. ``origin`` None (or a day in the
    last fitted month, which the fit treats as observed) starts the forecast at the end of that
    month. The months between the last fitted month and the origin have no evidence, so their
    factor levels are the model's own dynamics from the last fitted level, as the fit would have
    them: no refit is needed for a later origin.

    Hazard outcomes average ``n_paths`` factor paths per draw: their probability is a smooth
    function of the path, so few paths suffice. A state outcome is an indicator of a simulated
    measure, whose per-draw average over paths is binomial noise; its measure's factor gets its own
    ``n_state_paths`` paths (256: noise sd at most 3 pp per draw, against 12.5 pp with 16), so its
    interval is about the parameters, not Monte Carlo.
    ``hold`` maps factor names to a level (standard units) at which the factor is held from the
    month after the last fitted month on (used by what-if); other factors keep moving.
    """
    rng = np.random.default_rng(seed)
    horizons = tuple(horizons or s.horizons)
    t0 = d.origin if origin is None else s.month_index(origin)  # the origin month
    if t0 < d.origin:
        raise ValueError(f"origin {origin} is before the last fitted month {d.months[-1]}")
    gap = t0 - d.origin  # months projected before the origin month ends
    ahead = gap + max(horizons)  # months projected after the last fitted month
    ks = list(s.factors)
    f_last = _stack(idata, "f")[:, :, d.origin]  # (S, K)
    rho, vol, mix = factor_dynamics(s, idata)
    dfs = innovation_dfs(s)
    paths = ar_paths(f_last, rho, vol, n_paths, ahead, rng, mix, dfs)  # (S, M, ahead, K)
    for name, level in (hold or {}).items():
        paths[..., ks.index(name)] = level

    probs: dict[str, np.ndarray] = {}
    if d.units.labels:
        when = (gap, ahead, horizons, origin_fraction(origin))
        probs |= _hazard_probabilities(s, d, idata, f_last, paths, rng, n_paths, when)
    for oname, o in s.outcomes.items():
        if o.kind == "state":
            k = ks.index(_measure_factor(s, o))
            df_k = dfs[[k]] if dfs is not None else None
            fk = ar_paths(
                f_last[:, [k]], rho[:, [k]], vol[:, [k]], n_state_paths, ahead, rng, dfs=df_k
            )[..., 0]
            if ks[k] in (hold or {}):
                fk[:] = hold[ks[k]]
            # the H whole months after the origin month
            probs[oname] = _state_probability(s, o, idata, fk[:, :, gap:], horizons, rng)

    labels = target_labels(s)
    arr = np.stack([probs[t] for t in labels], axis=1)  # (S, target, horizon)
    outcome = [t.outcome for t in s.targets()]
    candidate = [t.candidate or "" for t in s.targets()]
    probability = xr.DataArray(
        arr,
        dims=("sample", "target", "horizon"),
        coords={
            "target": labels,
            "outcome": ("target", outcome),
            "candidate": ("target", candidate),
            "horizon": list(horizons),
        },
        name="probability",
    )
    factor_path = xr.DataArray(
        np.transpose(paths[:, 0], (0, 2, 1)),
        dims=("sample", "factor", "ahead"),
        coords={"factor": ks, "ahead": np.arange(1, ahead + 1)},
        name="factor_path",
    )
    return Projection(probability, factor_path, origin_label(s, d, origin))


def _hazard_probabilities(
    s: Scenario,
    d: Design,
    idata: xr.DataTree,
    f_last: np.ndarray,
    paths: np.ndarray,
    rng: np.random.Generator,
    n_paths: int,
    when: tuple[int, int, tuple[int, ...], float],
) -> dict[str, np.ndarray]:
    """(S, horizon) P(by horizon) of every hazard unit and of each outcome with candidates (any
    open candidate), averaged over the factor ``paths``; ``when`` is (gap, ahead, horizons,
    origin fraction) as ``project`` computes them."""
    gap, ahead, horizons, fraction = when
    units = d.units
    S = f_last.shape[0]
    lam = _stack(idata, "loading")  # (S, J, K)
    alpha = _stack(idata, "alpha")  # (S, J)
    u_off = np.zeros((S, len(units.labels)))
    if units.candidates:
        cand = _stack(idata, "candidate_offset")
        has = units.candidate_idx >= 0
        u_off[:, has] = cand[:, units.candidate_idx[has]]
    oi = units.outcome_idx
    # logit hazard per (S, M, ahead, unit); each month reads the level of the month before
    drivers = _last_month(f_last, paths)
    x = (
        alpha[:, None, None, oi]
        + u_off[:, None, None, :]
        + np.einsum("smhk,suk->smhu", drivers, lam[:, oi, :])
    )
    if d.event.news_outcomes:  # each news outcome's own drift, projected as the model has it
        x = x + _drift_ahead(s, d, idata, rng, n_paths, ahead)
    at_risk = _at_risk(d, gap, ahead, fraction)  # (ahead, U)
    log_surv = np.cumsum(-at_risk * np.logaddexp(0.0, x), axis=2)  # (S, M, ahead, U)
    log_surv = log_surv + _gap_log_survival(d, idata)[:, None, None, :]
    hz = gap + np.array(horizons) - 1
    closed = d.resolution.closed_at >= 0
    probs: dict[str, np.ndarray] = {}
    for j, oname in enumerate(units.outcomes):
        o = s.outcomes[oname]
        members = [u for u in range(len(units.labels)) if oi[u] == j]
        is_event = o.kind == "event"
        for u in members:
            ls = log_surv[:, :, hz, u]  # (S, M, nh)
            p = 1.0 - np.exp(ls) if is_event else np.exp(ls)
            if closed[u]:
                p = np.ones_like(p) if is_event else np.zeros_like(p)
            probs[units.labels[u]] = p.mean(axis=1)
        if o.candidates:
            open_members = [u for u in members if not closed[u]]
            ls = log_surv[:, :, hz][..., open_members].sum(axis=-1)
            p = 1.0 - np.exp(ls) if is_event else np.exp(ls)
            probs[oname] = p.mean(axis=1)
    return probs


def origin_fraction(origin: date | None) -> float:
    """The part of the origin month after the ``origin`` day (the 1st of a 30-day month: 29/30),
    the part a forecast from that day still has ahead of it."""
    if origin is None:
        return 0.0
    days = monthrange(origin.year, origin.month)[1]
    return (days - origin.day) / days


def _at_risk(d: Design, gap: int, ahead: int, origin_part: float) -> np.ndarray:
    """(ahead, unit) part of each month after the last fitted month in which a unit is at risk:
    all of it, except for a unit without resolution rows (taken as open at the origin), which
    has none of the ``gap - 1`` months before the origin month and ``origin_part`` of it."""
    w = np.ones((ahead, len(d.units.labels)))
    if gap > 0:
        assumed = d.resolution.known_open_until < 0
        w[: gap - 1, assumed] = 0.0
        w[gap - 1, assumed] = origin_part
    return w


def _gap_log_survival(d: Design, idata: xr.DataTree) -> np.ndarray:
    """(S, unit) log P(no ending event) from the day each unit was last known open to the end of
    the last fitted month, from the fitted monthly hazards: a forecast made with evidence to July
    for an outcome last known open on 12 March must allow for 13-31 March and April to July (and
    ``project`` adds the months after July up to the origin)."""
    last, seen = d.resolution.known_open_until, d.resolution.known_open_fraction
    gap = (last >= 0) & (d.resolution.closed_at < 0) & ((last < d.origin) | (seen < 1.0))
    S = _stack(idata, "alpha").shape[0]
    out = np.zeros((S, len(d.units.labels)))
    if not gap.any():
        return out
    x = _stack(idata, "logit_hazard")  # (S, unit, month)
    for u in np.nonzero(gap)[0]:
        rest = (1.0 - seen[u]) * np.logaddexp(0.0, x[:, u, last[u]])  # its month's unseen part
        after = np.logaddexp(0.0, x[:, u, last[u] + 1 : d.origin + 1]).sum(axis=1)
        out[:, u] = -(rest + after)
    return out


def factor_dynamics(
    s: Scenario, idata: xr.DataTree
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Per draw: each factor's reversion and volatility (S, K), the fitted ones where the model
    learned them, and the (S, K, K) matrix that mixes independent innovations into correlated ones
    (None when the scenario correlates none)."""
    post = idata["posterior"]
    S = post.sizes["chain"] * post.sizes["draw"]
    K = len(s.factors)
    if "reversion" in post:
        rho, vol = _stack(idata, "reversion"), _stack(idata, "volatility")
    else:
        rho = np.broadcast_to(reversions(s), (S, K))
        vol = np.broadcast_to(volatilities(s), (S, K))
    mix = None
    block = correlated_factors(s)
    if block:
        mix = np.broadcast_to(np.eye(K), (S, K, K)).copy()
        mix[np.ix_(np.arange(S), block, block)] = np.linalg.cholesky(
            _stack(idata, "innovation_correlation")
        )
    return rho, vol, mix


def ar_paths(
    start: np.ndarray,
    rho: np.ndarray,
    vol: np.ndarray,
    n_paths: int,
    H: int,
    rng: np.random.Generator,
    mix: np.ndarray | None = None,
    dfs: np.ndarray | None = None,
) -> np.ndarray:
    """(S, n_paths, H, N) AR(1) paths x[t] = rho x[t-1] + vol e[t] for the H months after
    ``start`` (S, N), the level at the origin; ``rho`` and ``vol`` are (N,) or per draw (S, N),
    ``mix`` (S, N, N) correlates the standardized innovations e, Student-t with each series'
    ``dfs`` degrees of freedom (inf or None: Gaussian)."""
    S, N = start.shape
    rho = np.broadcast_to(rho, (S, N))[:, None, :]
    vol = np.broadcast_to(vol, (S, N))[:, None, None, :]
    e = standardized_innovations(rng, dfs, (S, n_paths, H, N))
    if mix is not None:
        e = np.einsum("sij,smhj->smhi", mix, e)
    steps = e * vol
    paths = np.empty_like(steps)
    level = np.broadcast_to(start[:, None, :], (S, n_paths, N))
    for t in range(H):
        level = rho * level + steps[:, :, t]
        paths[:, :, t] = level
    return paths


def _drift_ahead(
    s: Scenario, d: Design, idata: xr.DataTree, rng: np.random.Generator, n_paths: int, H: int
) -> np.ndarray:
    """(S, M, H, unit) logit-hazard drift of the news outcomes over the H months after the origin:
    each path continues the drift's AR(1) from its level at the origin; month origin + h reads the
    level of month origin + h - 1, as the factors do."""
    od = s.outcome_drift
    assert od is not None
    last = _stack(idata, "outcome_drift")[:, :, d.origin]  # (S, news outcome)
    N = last.shape[1]
    rho, vol = np.full(N, od.reversion.value), np.full(N, od.volatility.value)
    levels = ar_paths(last, rho, vol, n_paths, H, rng)
    drivers = _last_month(last, levels)
    return np.einsum("smhn,un->smhu", drivers, news_membership(d.units, d.event.news_outcomes))


def _last_month(start: np.ndarray, paths: np.ndarray) -> np.ndarray:
    """(S, M, H, N) levels a hazard reads in each of the H months after the origin: those of the
    month before (``start`` (S, N) at the origin, then ``paths`` (S, M, H, N) shifted by one)."""
    S, M, _, N = paths.shape
    return np.concatenate(
        [np.broadcast_to(start[:, None, None, :], (S, M, 1, N)), paths[:, :, :-1]], axis=2
    )


def _measure_factor(s: Scenario, o) -> str:
    """The factor a state outcome's measure is (or reads, for an indicator)."""
    assert o.measure is not None
    return o.measure if o.measure in s.factors else s.indicators[o.measure].factor


def _state_probability(s, o, idata, fk, horizons, rng) -> np.ndarray:
    """P(measure below/above threshold for ``window`` consecutive months at some point by H), from
    ``fk`` (S, M, H), projected paths of the factor the measure reads."""
    assert o.measure is not None and o.threshold is not None and o.window is not None
    if o.measure in s.factors:
        values = fk
    else:
        ind = s.indicators[o.measure]
        sign = 1.0 if ind.sign == "+" else -1.0
        if ind.likelihood == "count":
            i = list(idata["posterior"]["count_intercept"].coords["count_indicator"].values).index(
                o.measure
            )
            a = _stack(idata, "count_intercept")[:, i][:, None, None]
            b = _stack(idata, "count_loading_abs")[:, i][:, None, None]
            disp = 1.0 / _stack(idata, "count_inv_dispersion")[:, i][:, None, None]
            mu = np.exp(np.minimum(a + sign * b * fk, 30.0))
            lam = rng.gamma(shape=disp, scale=mu / disp)  # NegBin as a gamma-Poisson mixture
            values = rng.poisson(lam).astype(float)
        else:
            i = list(
                idata["posterior"]["normal_intercept"].coords["normal_indicator"].values
            ).index(o.measure)
            a = _stack(idata, "normal_intercept")[:, i][:, None, None]
            b = _stack(idata, "normal_loading_abs")[:, i][:, None, None]
            sd = _stack(idata, "normal_sd")[:, i][:, None, None]
            std = a + sign * b * fk + sd * rng.standard_normal(fk.shape)
            assert ind.center is not None and ind.spread is not None
            values = ind.center.value + ind.spread.value * std
            if ind.transform == "log":
                values = np.exp(values)
    ok = values < o.threshold.value if o.condition == "below" else values > o.threshold.value
    w = int(o.window.value)
    # run length of consecutive months meeting the condition, then "reached w by month h"
    run = np.zeros(ok.shape[:2])
    reached = np.zeros(ok.shape, dtype=bool)
    for h in range(ok.shape[2]):
        run = np.where(ok[..., h], run + 1, 0)
        reached[..., h] = run >= w
    reached = np.maximum.accumulate(reached, axis=2)
    hz = np.array(horizons) - 1
    return reached[..., hz].mean(axis=1)


def summarize(proj: Projection, interval: float = INTERVAL) -> pd.DataFrame:
    """Forecast table: one row per target and horizon with probability and credible interval.

    The point value is the posterior mean; the interval is equal-tailed. In the rare, very skewed
    case where the mean falls outside it, the interval is widened to include the mean.
    ``end_date`` (ISO) is the horizon's calendar end: the last day of the H-th month after the
    origin month.
    """
    p = proj.probability
    lo_q, hi_q = (1 - interval) / 2, 1 - (1 - interval) / 2
    mean = p.mean("sample")
    lo = p.quantile(lo_q, dim="sample").drop_vars("quantile")
    hi = p.quantile(hi_q, dim="sample").drop_vars("quantile")
    lo, hi = np.minimum(lo, mean), np.maximum(hi, mean)
    ends = {int(h): month_end(proj.origin, int(h)).isoformat() for h in p["horizon"].values}
    rows = []
    for t in p["target"].values:
        o = str(p["outcome"].sel(target=t).values)
        c = str(p["candidate"].sel(target=t).values) or None
        for h in p["horizon"].values:
            rows.append(
                {
                    "outcome": o,
                    "candidate": c,
                    "horizon_months": int(h),
                    "end_date": ends[int(h)],
                    "probability": float(mean.sel(target=t, horizon=h)),
                    "lower": float(lo.sel(target=t, horizon=h)),
                    "upper": float(hi.sel(target=t, horizon=h)),
                }
            )
    return pd.DataFrame(rows)
