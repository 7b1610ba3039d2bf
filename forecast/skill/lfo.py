"""Leave-future-out check by exact refits: how well a fit on the evidence known at an origin
predicts the evidence that becomes public in the month after it.

For a fit on the evidence known before month ``m`` began (``known_evidence``) and the evidence
known before ``m + 1`` began, each posterior draw gives, for every evidence kind, the log density of
everything new in ``m`` given everything old: ``log p(old + new | draw) - log p(old | draw)``. This
difference is exact for every term, including those written as sequential conditionals (the
coder effect of events, the pooled biases of forecasts) and resolutions whose newer row supersedes
an older one (the extra months at risk). The one-month-ahead log predictive density of a kind is
the log of its mean over draws (Bürkner, Gabry and Vehtari 2020, exact LFO); its importance
efficiency (the effective share of the draws that carry the mean) says how far to trust it, and
gives its Monte Carlo standard error, sqrt((1 / efficiency - 1) / draws) by the delta method.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr
from scipy.special import logsumexp

from forecast.data.inputs import Inputs
from forecast.data.scenario import Scenario
from forecast.inference.gate import DEFAULT_GATE, Gate
from forecast.inference.sampling import Diagnostics, SamplerSettings, sample
from forecast.model.build import build_model
from forecast.model.design import Design, build_design
from forecast.model.loglik import add_log_likelihood
from forecast.skill.backtest import known_evidence


@dataclass(frozen=True)
class OneStep:
    """One origin's one-month-ahead check: per evidence kind, the log predictive density of the
    month's new evidence, its number of new rows, the importance efficiency of the estimate and
    its Monte Carlo standard error."""

    month: pd.Period
    lpd: dict[str, float]
    new_rows: dict[str, int]
    efficiency: dict[str, float]
    mcse: dict[str, float]
    diagnostics: Diagnostics

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
    s = scenario or inputs.scenario
    old = known_evidence(inputs.evidence, month)
    new = known_evidence(inputs.evidence, month + 1)
    n_months = s.month_index(month.start_time.date()) + 1
    # one structure for both cuts: every forecast source and outcome drift of the scored month
    fresh = new.frame
    shared = {
        "fc_sources": sorted(set(fresh.loc[fresh["kind"] == "forecast", "forecaster"])),
        "news_outcomes": sorted(set(fresh.loc[fresh["kind"] == "event", "outcome"].dropna())),
    }
    d_old = build_design(s, old, n_months=n_months, **shared)
    d_new = build_design(s, new, n_months=n_months, **shared)
    m_old, m_new = build_model(s, d_old), build_model(s, d_new)
    fit = sample(m_old, settings, gate=gate)
    before = term_totals(fit.idata, m_old, d_old)
    after = term_totals(fit.idata, m_new, d_new)
    counts = new_rows_by_kind(old.frame, new.frame)
    lpd, eff, se, n_new = {}, {}, {}, {}
    for k, tot in after.items():
        delta = tot - before.get(k, 0.0)
        lpd[k] = float(logsumexp(delta) - np.log(len(delta)))
        w = np.exp(delta - delta.max())
        eff[k] = float(w.sum() ** 2 / (w**2).sum() / len(w))
        se[k] = float(np.sqrt((1.0 / eff[k] - 1.0) / len(w)))
        n_new[k] = int(counts.get(k, 0))
    return OneStep(
        month=month, lpd=lpd, new_rows=n_new, efficiency=eff, mcse=se, diagnostics=fit.diagnostics
    )
