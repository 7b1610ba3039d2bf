"""Scenario + design → the constant arrays, coordinates and ``pm.Data`` values of the model, and
its structure key (what a compiled model depends on besides its data)."""

from __future__ import annotations

import hashlib
import json

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
        "normal_source": d.normal_sources,
        "count_source": d.count_sources,
        "forecaster": d.fc_sources,
        "news_outcome": d.news_outcomes,
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
    out: dict[str, np.ndarray] = {}
    if d.normal_names and len(d.normal_y):
        out |= {"normal_ind": d.normal_ind, "normal_month": d.normal_month, "normal_y": d.normal_y}
        if d.normal_sources:
            out["normal_src"] = d.normal_src
    if d.count_names and len(d.count_y):
        # float: PyMC casts integer data to int32, which wraps counts of 2**31 and more
        count_y = d.count_y.astype(float)
        out |= {"count_ind": d.count_ind, "count_weight": d.count_weight, "count_y": count_y}
        if d.count_sources:
            out["count_src"] = d.count_src
    for name, blk in d.rating.items():
        if len(blk["y"]):
            out |= {f"rating_{name}_month": blk["month"], f"rating_{name}_y": blk["y"]}
    if len(d.event_value):
        out |= {
            "event_factor": d.event_factor,
            "event_month": d.event_month,
            "event_value": d.event_value,
        }
        if len(d.event_first):
            out |= {"event_first": d.event_first, "event_rank": d.event_rank}
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
