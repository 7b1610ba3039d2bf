"""Leave-future-out check: how well a fit on the evidence known at an origin predicts the evidence
that becomes public in the month after it.

For a fit on the evidence known before month ``m`` began (``known_evidence``) and the evidence
known before ``m + 1`` began, each posterior draw gives, for every evidence kind, the log density of
everything new in ``m`` given everything old: ``log p(old + new | draw) - log p(old | draw)``. This
difference is exact for every term, including those written as sequential conditionals (the
coder effect of events, the pooled biases of forecasts) and resolutions whose newer row supersedes
an older one (the extra months at risk). The one-month-ahead log predictive density of a kind is
the log of its mean over draws (Bürkner, Gabry and Vehtari 2020, exact LFO); its importance
efficiency (the effective share of the draws that carry the mean) says how far to trust it, and
gives its Monte Carlo standard error, sqrt((1 / efficiency - 1) / draws) by the delta method.

Over many origins, ``leave_future_out`` refits only when it must (PSIS-LFO, the same paper): a
later origin's posterior is the last fit's draws importance-weighted by the evidence that became
public since, Pareto-smoothed, and a new fit is made when the weights' k̂ exceeds the gate's limit.
Every origin's design spans the months up to the last origin, so all fits share one compiled model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr
from scipy.special import logsumexp

from forecast.data.evidence import Evidence
from forecast.data.inputs import Inputs
from forecast.data.scenario import Scenario
from forecast.inference.gate import DEFAULT_GATE, Gate
from forecast.inference.reweighting import psis_weights
from forecast.inference.sampling import Diagnostics, SamplerSettings, sample
from forecast.model.build import build_model
from forecast.model.design import Design, build_design
from forecast.model.loglik import add_log_likelihood
from forecast.skill.backtest import known_evidence, seeded


@dataclass(frozen=True)
class OneStep:
    """One origin's one-month-ahead check: per evidence kind, the log predictive density of the
    month's new evidence, its number of new rows, the importance efficiency of the estimate and
    its Monte Carlo standard error; the diagnostics of the fit it reads and, when that fit was
    made at an earlier origin, the Pareto k̂ of the weights carrying it here (None: refitted)."""

    month: pd.Period
    lpd: dict[str, float]
    new_rows: dict[str, int]
    efficiency: dict[str, float]
    mcse: dict[str, float]
    diagnostics: Diagnostics
    pareto_k: float | None = None

    def rows(self, variant: str) -> list[dict]:
        return [
            {
                "variant": variant,
                "month": str(self.month),
                "kind": k,
                "new_rows": self.new_rows[k],
                "lpd": self.lpd[k],
                "efficiency": self.efficiency[k],
                "mcse": self.mcse[k],
                "converged": self.diagnostics.converged,
                "max_rhat": self.diagnostics.max_rhat,
                "divergences": self.diagnostics.divergences,
                "refit": self.pareto_k is None,
                "pareto_k": self.pareto_k,
            }
            for k in self.lpd
        ]


def kind_of(term: str) -> str:
    """The evidence kind a log-likelihood term belongs to (every rating scale is one kind)."""
    return "rating" if term.startswith("rating_") else term


def term_totals(idata: xr.DataTree, model: pm.Model, d: Design) -> dict[str, np.ndarray]:
    """Per evidence kind, the (sample,) log-likelihood of all its rows under ``model``'s design,
    at the posterior draws of ``idata``."""
    ll = xr.DataTree(name="ll")
    ll["posterior"] = idata["posterior"]
    add_log_likelihood(ll, model, d)
    out: dict[str, np.ndarray] = {}
    if "log_likelihood" not in ll.children:
        return out
    for name, v in ll["log_likelihood"].to_dataset().data_vars.items():
        per_draw = v.stack(sample=("chain", "draw")).transpose("sample", ...).values
        total = per_draw.reshape(per_draw.shape[0], -1).sum(axis=1)
        k = kind_of(str(name))
        out[k] = out.get(k, 0.0) + total
    return out


def new_rows_by_kind(old: pd.DataFrame, new: pd.DataFrame) -> dict[str, int]:
    """How many rows of each kind ``new`` has that ``old`` has not (rows keyed by file and row)."""
    seen = set(zip(old["file"], old["row"], strict=True))
    fresh = [
        k
        for f, r, k in zip(new["file"], new["row"], new["kind"], strict=True)
        if (f, r) not in seen
    ]
    return pd.Series(fresh, dtype=object).value_counts().to_dict()


def one_step(
    inputs: Inputs,
    month: pd.Period,
    settings: SamplerSettings,
    scenario: Scenario | None = None,
    gate: Gate = DEFAULT_GATE,
) -> OneStep:
    """Fit on the evidence known before ``month`` began and score the evidence that became public
    during ``month`` (see the module docstring). ``scenario`` replaces the inputs' scenario (a
    variant to compare)."""
    return leave_future_out(inputs, [month], settings, scenario, gate)[0]


def leave_future_out(
    inputs: Inputs,
    months: list[pd.Period],
    settings: SamplerSettings,
    scenario: Scenario | None = None,
    gate: Gate = DEFAULT_GATE,
    on_step: Callable[[OneStep], None] | None = None,
) -> list[OneStep]:
    """``one_step`` at each of ``months`` in order, refitting only when the last fit's draws,
    reweighted by the evidence public since it, have a Pareto k̂ above ``gate.k_hat_max`` (PSIS-LFO;
    a limit of -inf refits at every origin). Fits are seeded per origin month (``seeded``);
    ``on_step`` sees each origin's result as it comes."""
    s = scenario or inputs.scenario
    months = sorted(set(months))
    fresh = known_evidence(inputs.evidence, months[-1] + 1).frame
    n_months = s.month_index(months[-1].start_time.date()) + 1
    # one structure for every cut: each forecast source and outcome drift of the last month
    shared = {
        "fc_sources": sorted(set(fresh.loc[fresh["kind"] == "forecast", "forecaster"])),
        "news_outcomes": sorted(set(fresh.loc[fresh["kind"] == "event", "outcome"].dropna())),
    }

    def cut(month: pd.Period) -> tuple[Evidence, Design, pm.Model]:
        ev = known_evidence(inputs.evidence, month)
        d = build_design(s, ev, n_months=n_months, **shared)
        return ev, d, build_model(s, d)

    steps: list[OneStep] = []
    fit, at_fit = None, {}  # the last fit and its log-likelihood totals on its own evidence
    for month in months:
        old, d_old, m_old = cut(month)
        new, d_new, m_new = cut(month + 1)
        k_hat = None
        if fit is not None:
            before = term_totals(fit.idata, m_old, d_old)
            w, k_hat = psis_weights(_total(before) - _total(at_fit))
        if fit is None or k_hat > gate.k_hat_max:
            fit = sample(m_old, seeded(settings, settings.seed, month), gate=gate)
            before = at_fit = term_totals(fit.idata, m_old, d_old)
            n = len(next(iter(before.values()), np.zeros(settings.chains * settings.draws)))
            w, k_hat = np.full(n, 1.0 / n), None
        after = term_totals(fit.idata, m_new, d_new)
        counts = new_rows_by_kind(old.frame, new.frame)
        steps.append(_scored(month, w, before, after, counts, fit.diagnostics, k_hat))
        if on_step is not None:
            on_step(steps[-1])
    return steps


def _total(totals: dict[str, np.ndarray]) -> np.ndarray:
    """Per-draw log-likelihood of all kinds together."""
    return sum(totals.values(), np.zeros(1))


def _scored(month, w, before, after, counts, diagnostics, k_hat) -> OneStep:
    """Per kind, log sum_s w_s p(new | old, draw s) for normalized draw weights ``w``, the
    efficiency of the weights that carry it and its Monte Carlo error, sqrt(sum_s w_s^2 (r_s - 1)^2)
    with r_s the draw's density over the estimate (the delta method; with equal weights,
    sqrt((1 / efficiency - 1) / draws))."""
    log_w = np.log(np.maximum(w, np.finfo(float).tiny))
    lpd, eff, se, n_new = {}, {}, {}, {}
    for k, tot in after.items():
        delta = tot - before.get(k, 0.0)
        n_new[k] = int(counts.get(k, 0))
        if not np.any(delta):  # nothing new of this kind: it predicts nothing
            lpd[k], eff[k], se[k] = 0.0, 1.0, 0.0
            continue
        lpd[k] = float(logsumexp(log_w + delta))
        v = np.exp(log_w + delta - lpd[k])  # the weights carrying the estimate, summing to 1
        eff[k] = float(1.0 / np.sum(v**2) / len(v))
        se[k] = float(np.sqrt(np.sum(w**2 * (np.exp(delta - lpd[k]) - 1.0) ** 2)))
    return OneStep(month, lpd, n_new, eff, se, diagnostics, k_hat)
