"""Why a backtest row's forecast has less behind it than it might: what each row's ``flag``
says in ``forecasts.csv``."""

from __future__ import annotations

import numpy as np
import pandas as pd


def row_flags(r, use_factors: bool, scenario_safe: bool, fit_failed: bool = False) -> str:
    """Why a row's forecast has less behind it than it might: no fresh crowd, no link, no
    scenario information (and why), or a scenario fit that failed the convergence gate."""
    flags = []
    if not np.isfinite(r.crowd):
        if np.isfinite(r.crowd_age):
            flags.append(f"crowd forecast {int(r.crowd_age)} days old at the origin: not used")
        else:
            flags.append("no crowd forecast at the origin")
    asks = isinstance(r.target, str)
    if asks and use_factors and not np.isfinite(r.scenario):
        if pd.isna(r.window_end):
            why = "no window end (no scheduled close, no close in its link)"
        elif not scenario_safe:
            why = "scenario written with data after the origin"
        else:
            why = "window outside the scenario's span"
        flags.append(f"asks about {r.target}, {why}: no scenario probability")
    if r.link == "unrelated" and not asks:
        flags.append("not related to the scenario: calibrated crowd or base rate only")
    elif use_factors and isinstance(r.factor, str):
        if np.isfinite(r.factor_level) and not scenario_safe:
            flags.append("scenario written with data after the origin (--hindsight)")
        elif not np.isfinite(r.factor_level) and not scenario_safe:
            flags.append("scenario written with data after the origin: no factor information")
        elif not np.isfinite(r.factor_level):
            flags.append("origin outside the scenario's span: no factor information")
    used = np.isfinite(r.factor_level) or (asks and np.isfinite(r.scenario))
    if use_factors and used and fit_failed:
        flags.append("the month's scenario fit failed the convergence gate (fits.csv)")
    return "; ".join(flags)
