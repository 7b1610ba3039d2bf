"""Scenario + design → the constant arrays, coordinates and ``pm.Data`` values of the model, and
its structure key (what a compiled model depends on besides its data)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace

import numpy as np
from scipy.special import logit

from forecast.data.scenario import Scenario
from forecast.data.target import Target
from forecast.model.design import Design, Units
from forecast.model.priors import FIXED, SIGN, learned_reversions


def previous_month(n: int) -> np.ndarray:
    """Index of the month whose factor levels drive month t's hazard: t - 1 (month 0 reads its own
    initial level). The hazard reads last month's factors, so that a month's own events, which
    move that month's factors, cannot explain an outcome in the same month."""
    return np.maximum(np.arange(n) - 1, 0)


def ar_matrix(rho: np.ndarray, n: int) -> np.ndarray:
    """(K, n, n) lower-triangular weights rho[k]^(t-s): f[:, t] = sum_s A[:, t, s] * step[:, s]."""
    lag = np.arange(n)[:, None] - np.arange(n)[None, :]
    return np.where(lag >= 0, rho[:, None, None] ** np.maximum(lag, 0), 0.0)


@dataclass(frozen=True)
class HazardArrays:
    """Constant arrays of the hazard part, (outcome x factor) or per outcome or candidate."""

    sign: np.ndarray  # +1 / -1 of a signed loading (0 where free or absent)
    scale: np.ndarray  # the loading's prior scale, 0 where the outcome does not load
    free: np.ndarray  # 1 where the loading's sign is learned
    signed_idx: tuple[np.ndarray, ...]  # where the signed loadings are
    free_idx: tuple[np.ndarray, ...]  # where the free loadings are
    base_mu: np.ndarray  # prior mean of the intercept (the base rate's logit)
    base_sd: np.ndarray
    cand_mu: np.ndarray  # a candidate's own offset prior (0, 0 when pooled)
    cand_sd: np.ndarray
    cand_pooled: np.ndarray  # 1 where the candidate's offset is pooled by its outcome's spread
    cand_outcome: np.ndarray  # the outcome of each candidate
    pooled_outcomes: list[int]  # outcomes with a pooled candidate
    spread: np.ndarray  # per outcome: prior scale of the pooled candidates' spread

    @property
    def signs(self) -> np.ndarray:
        """The sign each loading's magnitude is multiplied by (1 where it is free)."""
        return np.where(self.free > 0, 1.0, self.sign)


def hazard_arrays(s: Scenario, units: Units) -> HazardArrays:
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
    return HazardArrays(
        sign=sign,
        scale=scale,
        free=free,
        signed_idx=np.nonzero(has & (free == 0)),
        free_idx=np.nonzero(free > 0),
        base_mu=base_mu,
        base_sd=base_sd,
        cand_mu=np.array(cand_mu),
        cand_sd=np.array(cand_sd),
        cand_pooled=np.array(cand_pooled),
        cand_outcome=np.array(cand_outcome, int),
        pooled_outcomes=sorted(
            {int(j) for j, p in zip(cand_outcome, cand_pooled, strict=True) if p > 0}
        ),
        spread=spread,
    )


def coords(s: Scenario, d: Design) -> dict[str, list[str]]:
    c = {
        "factor": list(s.factors),
        "month": d.months,
        "outcome": d.units.outcomes,
        "unit": d.units.labels,
        "candidate": d.units.candidates,
        "normal_indicator": d.indicator.names,
        "count_indicator": d.count.names,
        "normal_source": d.indicator.sources,
        "count_source": d.count.sources,
        "forecaster": d.forecast.sources,
        "news_outcome": d.event.news_outcomes,
    }
    if s.correlation is not None:
        block = list(s.correlation.factors)
        c |= {
            "correlated_factor": block,
            "correlated_with": list(block),
            "correlated_pair": [
                f"{block[i]}~{block[j]}"
                for i, j in zip(*np.tril_indices(len(block), -1), strict=True)
            ],
        }
    learned = learned_reversions(s)
    if learned:
        c["learned_factor"] = [list(s.factors)[k] for k in learned]
    return {k: v for k, v in c.items() if len(v)}


def model_data(d: Design) -> dict[str, np.ndarray]:
    """The value of every ``pm.Data`` container of ``build_model``, by name.

    Only the evidence terms that have rows get containers (a term without rows is left out of the
    model), so the set of names is part of the model's structure.
    """
    out: dict[str, np.ndarray] = {"centre_months": d.centre}
    if d.indicator.names and len(d.indicator.y):
        src = ("src",) if d.indicator.sources else ()
        out |= _named("normal", d.indicator, ("ind", "month", "y", *src))
    if d.count.names and len(d.count.y):
        # float: PyMC casts integer data to int32, which wraps counts of 2**31 and more
        counts = replace(d.count, y=d.count.y.astype(float))
        src = ("src",) if d.count.sources else ()
        out |= _named("count", counts, ("ind", "weight", "y", *src))
    for name, blk in d.rating.items():
        if len(blk.y):
            out |= _named(f"rating_{name}", blk, ("month", "y"))
    if len(d.event.value):
        # the cell structure is there with a coder effect, the outcome index with news
        cells = ("first", "rank") if len(d.event.first) else ()
        news = ("outcome",) if d.event.news_outcomes else ()
        out |= _named("event", d.event, ("factor", "month", "value", *cells, *news))
    if len(d.resolution.y):
        out |= _named("surv", d.resolution, ("unit", "month", "weight", "y"))
    about = ("mask", "month", "horizon", "persist")
    if len(d.forecast.logit):
        out |= _named("fc", d.forecast, (*about, "source", "logit"))
    if len(d.likelihood_ratio.log):
        out |= _named("lr", d.likelihood_ratio, (*about, "log"))
    return {k: np.asarray(v) for k, v in out.items()}


def _named(prefix: str, part: object, fields: tuple[str, ...]) -> dict[str, np.ndarray]:
    """``part``'s ``fields`` under their container names, ``prefix_field``."""
    return {f"{prefix}_{f}": getattr(part, f) for f in fields}


def structure_key(s: Scenario, d: Design) -> str:
    """What a compiled model depends on besides its data: scenario, the model's fixed priors,
    coords and which terms exist.

    Two designs with the same key give the same model up to the values in ``model_data`` (which may
    differ in their number of rows), so one compiled model serves both.
    """
    payload = {
        "scenario": s.model_dump(mode="json"),
        "fixed_priors": FIXED.model_dump(mode="json"),
        "coords": coords(s, d),
        "data": {k: v.ndim for k, v in model_data(d).items()},
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def news_membership(units: Units, news_outcomes: list[str]) -> np.ndarray:
    """(unit x news_outcome) 0/1: which news outcome's drift each hazard unit carries."""
    out = np.zeros((len(units.labels), len(news_outcomes)))
    for u, j in enumerate(units.outcome_idx):
        name = units.outcomes[j]
        if name in news_outcomes:
            out[u, news_outcomes.index(name)] = 1.0
    return out
