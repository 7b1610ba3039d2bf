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

A busy month's joint density of many rows rests on few draws (low efficiency: its error is then
larger than the delta method says). Beside it, each kind is also scored **by group**: the sum over
groups of log mean_s p(group's new rows | old, draw s), a group being one event cell (target x
month: the rows a coder effect ties together) or one row of the other kinds (resolutions stay one
group: a new row changes the at-risk months of older ones; so do forecasts, whose pooled biases tie
every row together). Groups are scored as if independent
given the old evidence, so this score does not credit what a model says about how the month's
rows move together; its estimates rest on many more draws.

Over many origins, ``leave_future_out`` refits only when it must (PSIS-LFO, the same paper): a
later origin's posterior is the last fit's draws importance-weighted by the evidence that became
public since, Pareto-smoothed, and a new fit is made when the weights' k̂ exceeds the gate's limit.
Every origin's design spans the months up to the last origin, so all fits share one compiled model.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

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
from forecast.model.loglik import add_log_likelihood, element_rows
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
    lpd_groups: dict[str, float] = field(default_factory=dict)
    mcse_groups: dict[str, float] = field(default_factory=dict)
    efficiency_groups: dict[str, float] = field(default_factory=dict)  # the worst group's
    groups: dict[str, int] = field(default_factory=dict)

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
                "groups": self.groups.get(k, 0),
                "lpd_groups": self.lpd_groups.get(k, 0.0),
                "mcse_groups": self.mcse_groups.get(k, 0.0),
                "efficiency_groups": self.efficiency_groups.get(k, 1.0),
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


Groups = dict[str, dict[Hashable, np.ndarray]]


def group_keys(var: str, d: Design, frame: pd.DataFrame) -> list[Hashable]:
    """The scoring group of each element of the log-likelihood variable ``var``: an event's cell
    (factor or outcome, month); the whole kind for resolutions and forecasts (a new row changes
    older rows' at-risk months, or their pooled biases); else its evidence row (file, row). Keys
    match across designs of two cuts of one log."""
    if var == "event":
        e = d.event
        return list(zip(e.factor.tolist(), e.outcome.tolist(), e.month.tolist(), strict=True))
    rows = element_rows(d)[var]
    if var in ("resolution", "forecast"):
        return ["all"] * len(rows)
    return list(zip(frame["file"].to_numpy()[rows], frame["row"].to_numpy()[rows], strict=True))


def term_groups(idata: xr.DataTree, model: pm.Model, d: Design, frame: pd.DataFrame) -> Groups:
    """Per evidence kind and scoring group (``group_keys``), the (sample,) log-likelihood of its
    rows under ``model``'s design (evidence ``frame``), at the posterior draws of ``idata``."""
    ll = xr.DataTree(name="ll")
    ll["posterior"] = idata["posterior"]
    add_log_likelihood(ll, model, d)
    out: Groups = {}
    if "log_likelihood" not in ll.children:
        return out
    for name, v in ll["log_likelihood"].to_dataset().data_vars.items():
        per_draw = v.stack(sample=("chain", "draw")).transpose("sample", ...).values
        per_draw = per_draw.reshape(per_draw.shape[0], -1)
        keys = group_keys(str(name), d, frame)
        groups = out.setdefault(kind_of(str(name)), {})
        for j, key in enumerate(keys):
            groups[key] = groups.get(key, 0.0) + per_draw[:, j]
    return out


def _totals(groups: Groups) -> dict[str, np.ndarray]:
    """Per kind, the (sample,) log-likelihood of all its rows."""
    return {k: sum(g.values(), np.zeros(1)) for k, g in groups.items()}


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
    # and indicator levels centred on the months before the first origin, in every cut alike
    shared = {
        "fc_sources": sorted(set(fresh.loc[fresh["kind"] == "forecast", "forecaster"])),
        "news_outcomes": sorted(set(fresh.loc[fresh["kind"] == "event", "outcome"].dropna())),
        "centre_through": s.month_index(months[0].start_time.date()),
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
            before = term_groups(fit.idata, m_old, d_old, old.frame)
            w, k_hat = psis_weights(_all(_totals(before)) - _all(at_fit))
        if fit is None or k_hat > gate.k_hat_max:
            fit = sample(m_old, seeded(settings, settings.seed, month), gate=gate)
            before = term_groups(fit.idata, m_old, d_old, old.frame)
            at_fit = _totals(before)
            n = fit.idata["posterior"].sizes["chain"] * fit.idata["posterior"].sizes["draw"]
            w, k_hat = np.full(n, 1.0 / n), None
        after = term_groups(fit.idata, m_new, d_new, new.frame)
        counts = new_rows_by_kind(old.frame, new.frame)
        steps.append(_scored(month, w, before, after, counts, fit.diagnostics, k_hat))
        if on_step is not None:
            on_step(steps[-1])
    return steps


def _all(totals: dict[str, np.ndarray]) -> np.ndarray:
    """Per-draw log-likelihood of all kinds together."""
    return sum(totals.values(), np.zeros(1))


def _weighted(log_w: np.ndarray, delta: np.ndarray) -> tuple[float, np.ndarray, float]:
    """log sum_s w_s exp(delta_s), each draw's density over it (r_s) and the efficiency of the
    weights w_s r_s that carry it."""
    lpd = float(logsumexp(log_w + delta))
    r = np.exp(delta - lpd)
    v = np.exp(log_w) * r
    return lpd, r, float(1.0 / np.sum(v**2) / len(v))


def _scored(month, w, before: Groups, after: Groups, counts, diagnostics, k_hat) -> OneStep:
    """Per kind, log sum_s w_s p(new | old, draw s) for normalized draw weights ``w``, jointly and
    summed over groups; the efficiency of the weights that carry each estimate; and its Monte
    Carlo error by the delta method, sqrt(sum_s w_s^2 (sum_g (r_gs - 1))^2) with r_gs draw s's
    density of group g over the estimate (with equal weights and one group,
    sqrt((1 / efficiency - 1) / draws)). Groups with nothing new are left out; a kind with
    nothing new scores 0."""
    log_w = np.log(np.maximum(w, np.finfo(float).tiny))
    out: dict[str, dict] = {f: {} for f in ("lpd", "eff", "se", "lpd_g", "se_g", "eff_g", "n_g")}
    n_new = {}
    for k, groups in after.items():
        n_new[k] = int(counts.get(k, 0))
        old = before.get(k, {})
        changed = {
            g: d
            for g, v in groups.items()
            if np.max(np.abs(d := v - old.get(g, 0.0)), initial=0.0) > 1e-9
        }
        if not changed:  # nothing new of this kind: it predicts nothing
            for f, v in zip(out, (0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0), strict=True):
                out[f][k] = v
            continue
        lpd, r, eff = _weighted(log_w, sum(changed.values()))
        out["lpd"][k], out["eff"][k] = lpd, eff
        out["se"][k] = float(np.sqrt(np.sum(w**2 * (r - 1.0) ** 2)))
        total, dev, worst = 0.0, 0.0, 1.0
        for d in changed.values():
            lpd_g, r_g, eff_g = _weighted(log_w, d)
            total, dev, worst = total + lpd_g, dev + (r_g - 1.0), min(worst, eff_g)
        out["lpd_g"][k], out["eff_g"][k], out["n_g"][k] = total, worst, len(changed)
        out["se_g"][k] = float(np.sqrt(np.sum(w**2 * dev**2)))
    return OneStep(
        month,
        out["lpd"],
        n_new,
        out["eff"],
        out["se"],
        diagnostics,
        k_hat,
        lpd_groups=out["lpd_g"],
        mcse_groups=out["se_g"],
        efficiency_groups=out["eff_g"],
        groups=out["n_g"],
    )
