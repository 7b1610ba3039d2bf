"""Simulation-based calibration (Talts et al. 2018): draw parameters and evidence from the prior
(``forecast.skill.simulation``), fit, and rank each true value among the posterior draws; ranks
uniform across replications mean the fit recovers what the prior implies. The default design is
``sbc_scenario.toml``: one factor and every evidence kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import replace as dataclasses_replace
from pathlib import Path

import numpy as np
import pandas as pd

from forecast.data.scenario import Scenario
from forecast.data.scenario_file import load_scenario
from forecast.skill.plan import ForecastRow, Plan, RatioRow
from forecast.skill.simulation import simulate

SBC_SCENARIO_PATH = Path(__file__).with_name("sbc_scenario.toml")

# scalar quantities whose rank statistics are checked: name -> (posterior variable, index)
SBC_QUANTITIES: dict[str, tuple[str, tuple[int, ...]]] = {
    "f_first": ("f", (0, 0)),
    "f_last": ("f", (0, -1)),
    "alpha_deal": ("alpha", (0,)),
    "loading_deal": ("loading", (0, 0)),
    "loading_hold": ("loading", (1, 0)),
    "offset_a": ("candidate_offset", (0,)),
    "normal_sd": ("normal_sd", (0,)),
    "count_loading": ("count_loading_abs", (0,)),
    "rating_loading": ("rating_loading_abs_mood", ()),
}


def sbc_scenario() -> Scenario:
    """The SBC scenario, read from ``sbc_scenario.toml`` beside this module."""
    return load_scenario(SBC_SCENARIO_PATH)


def sbc_plan(s: Scenario) -> Plan:
    """A year of evidence of every kind: few rows, so each fit takes about a second."""
    return Plan(
        n_months=12,
        indicator_months={
            "level": (0, 2, 4, 6, 8, 10),
            "hits": (1, 4, 7, 10),
            "mood": (3, 7, 11),
        },
        event_months={"g": (2, 5, 8), "deal": (3, 9), "hold": (6,)},  # factor events, outcome news
        forecasts=(ForecastRow("deal", 6, 6, "crowd"), ForecastRow("hold", 9, 3, "crowd")),
        ratios=(RatioRow("deal:a", 4, 6, 3.0),),
    )


# the learned-dynamics quantities of ``dynamics_sbc`` (factors g and h)
DYNAMICS_QUANTITIES: dict[str, tuple[str, tuple[int, ...]]] = {
    "reversion_g": ("reversion", (0,)),
    "reversion_h": ("reversion", (1,)),
    "volatility_h": ("volatility", (1,)),
    "correlation_gh": ("innovation_correlation", (0, 1)),
    "f_last_h": ("f", (1, -1)),
    "innovation_h_mid": ("z", (1, 6)),  # a Student-t innovation that two events read
}


def dynamics_sbc() -> tuple[Scenario, Plan, dict[str, tuple[str, tuple[int, ...]]]]:
    """The SBC design with learned dynamics: a second factor ``h`` like ``g``, both reversions
    learned (Beta, sd 0.05), their innovations Student-t (4 degrees of freedom) and LKJ(2)-
    correlated, and a coder effect (0.5) shared by two events per factor and month. Returns the
    scenario, plan and quantities to rank."""
    raw = sbc_scenario().model_dump()
    design = {"rationale": "SBC design", "source": "SBC design"}
    g = raw["factors"]["g"]
    g["reversion"] = {"value": 0.9, "sd": 0.05, **design}
    raw["factors"]["h"] = {**g, "label": "Second factor"}
    raw["correlation"] = {"factors": ["g", "h"], "eta": 2.0, **design}
    raw["innovations"] = {"df": 4.0, **design}
    raw["event_signal"]["month_noise"] = {"value": 0.5, **design}
    s = Scenario.model_validate(raw)
    base = sbc_plan(s)
    twice = tuple(m for m in range(base.n_months) for _ in range(2))
    plan = dataclasses_replace(base, event_months=base.event_months | {"g": twice, "h": twice})
    return s, plan, SBC_QUANTITIES | DYNAMICS_QUANTITIES


@dataclass(frozen=True)
class SBCResult:
    """Rank of each true value among ``n_draws`` thinned posterior draws, per replication."""

    ranks: pd.DataFrame  # columns: rep, quantity, rank
    n_draws: int
    fits: pd.DataFrame  # per rep: divergences, min_ess_bulk, max_rhat, sample_s

    def pvalues(self, n_bins: int = 10) -> pd.DataFrame:
        """Uniformity of each quantity's ranks: chi-square on ``n_bins`` equal bins and
        Kolmogorov-Smirnov on the ranks spread uniformly within their unit cells."""
        from scipy import stats

        out = []
        rng = np.random.default_rng(0)  # only jitters ranks for the KS test
        for q, g in self.ranks.groupby("quantity", sort=False):
            r = g["rank"].to_numpy()
            counts = np.bincount(r * n_bins // (self.n_draws + 1), minlength=n_bins)
            chi2 = stats.chisquare(counts).pvalue
            u = (r + rng.uniform(size=len(r))) / (self.n_draws + 1)
            ks = stats.kstest(u, "uniform").pvalue
            out.append({"quantity": q, "n": len(r), "chi2_p": chi2, "ks_p": ks})
        return pd.DataFrame(out)

    def histogram(self, n_bins: int = 10) -> pd.DataFrame:
        """Rank counts per bin (rows) and quantity (columns)."""
        cols = {}
        for q, g in self.ranks.groupby("quantity", sort=False):
            r = g["rank"].to_numpy()
            cols[q] = np.bincount(r * n_bins // (self.n_draws + 1), minlength=n_bins)
        return pd.DataFrame(cols).rename_axis("bin")


def run_sbc(
    n_reps: int,
    *,
    seed: int,
    settings=None,
    thin: int = 3,
    scenario: Scenario | None = None,
    plan: Plan | None = None,
    quantities: dict[str, tuple[str, tuple[int, ...]]] | None = None,
    cache=None,
    on_rep=None,
) -> SBCResult:
    """Simulation-based calibration: for each replication draw parameters and evidence from the
    prior, fit, and rank each true quantity among thinned posterior draws.

    One model is compiled (all replications share its structure) and refitted with each
    replication's data swapped in. ``on_rep(i, fit)`` is called after each fit (progress).
    """
    from forecast.inference.sampling import (
        PROCESS_CACHE,
        SamplerSettings,
        free_parameter_names,
        sample_compiled,
    )
    from forecast.model.arrays import model_data, structure_key
    from forecast.model.build import build_model
    from forecast.model.design import build_design

    settings = settings or SamplerSettings(chains=2, draws=300, tune=300)
    s = scenario or sbc_scenario()
    plan = plan or sbc_plan(s)
    quantities = quantities or SBC_QUANTITIES
    cache = PROCESS_CACHE if cache is None else cache
    rng = np.random.default_rng(seed)
    rows, fits = [], []
    compiled, key, var_names = None, None, None
    n_draws = 0
    for rep in range(n_reps):
        ev, truth = simulate(s, plan, rng)
        d = build_design(s, ev, n_months=plan.n_months)
        if compiled is None:
            model = build_model(s, d)
            key = structure_key(s, d)
            compiled = cache.get(key, model)
            var_names = free_parameter_names(model)
        elif structure_key(s, d) != key:
            raise RuntimeError("a replication changed the model structure")
        run = compiled.with_data(**model_data(d))
        rep_settings = dataclasses_replace(settings, seed=settings.seed + rep)
        fit = sample_compiled(run, rep_settings, var_names)
        post = fit.idata["posterior"]
        for q, (var, idx) in quantities.items():
            draws = post[var].values[(slice(None), slice(None), *idx)][:, ::thin].ravel()
            n_draws = len(draws)
            rows.append({"rep": rep, "quantity": q, "rank": int(np.sum(draws < truth[var][idx]))})
        dg = fit.diagnostics
        fits.append(
            {
                "rep": rep,
                "divergences": dg.divergences,
                "min_ess_bulk": dg.min_ess_bulk,
                "max_rhat": dg.max_rhat,
                "sample_s": fit.timings["sample_s"],
            }
        )
        if on_rep is not None:
            on_rep(rep, fit)
    return SBCResult(ranks=pd.DataFrame(rows), n_draws=n_draws, fits=pd.DataFrame(fits))
