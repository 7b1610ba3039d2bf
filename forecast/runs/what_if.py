"""Conditional forecasts: hold factors at chosen levels from the origin on, without refitting."""

from __future__ import annotations

import pandas as pd

from forecast.model.design import build_design
from forecast.model.posterior import project, summarize
from forecast.runs.store import Run


def whatif(run: Run, hold: dict[str, float]) -> pd.DataFrame:
    """Forecast table with ``hold`` factors fixed (standard units), beside the unconditional one.

    Both tables are projected from the run's posterior draws with the run's seed and origin, so
    the only difference between the columns is the held factors.
    """
    inputs = run.inputs()
    s = inputs.scenario
    unknown = sorted(set(hold) - set(s.factors))
    if unknown:
        raise KeyError(f"unknown factor(s) {', '.join(unknown)}; factors: {', '.join(s.factors)}")
    design = build_design(s, inputs.evidence)
    idata = run.posterior()
    seed = int(run.manifest["seed"])
    base = summarize(project(s, design, idata, seed=seed, origin=run.origin))
    cond = summarize(project(s, design, idata, seed=seed, hold=hold, origin=run.origin))
    keys = ["outcome", "candidate", "horizon_months", "end_date"]
    out = base.merge(cond, on=keys, suffixes=("", "_whatif"))
    out["change"] = out["probability_whatif"] - out["probability"]
    return out
