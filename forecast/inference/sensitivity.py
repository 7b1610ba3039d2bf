"""How much of each forecast is prior and how much is data: power-scaling sensitivity.

Kallioinen et al. (2024, Stat Comput 34:57): raise the prior (or the likelihood) to a power α near
1, reweight the existing draws by importance sampling, and measure how far a quantity's posterior
moves (cumulative Jensen-Shannon distance per unit log α). A forecast whose distribution moves
when the prior is scaled but not when the likelihood is scaled is "mostly prior": the evidence
says little about it. arviz-stats' ``psense`` does the computation on the run's own draws; this
module applies it to every forecast probability and gives the plain verdict shown beside it.
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np
import pandas as pd
import xarray as xr

from forecast.data.target import Target

# Kallioinen et al.'s threshold (also arviz-stats' ``psense_summary``): a sensitivity at or above
# it means scaling that component by 1 % moves the quantity's distribution noticeably
THRESHOLD = 0.05

# Kallioinen et al. flag prior-data conflict when both sensitivities pass the threshold; on the
# default scenario every forecast does (prior 0.08-0.74, likelihood 0.05-0.38), so that reading
# alone says nothing. Which pulls harder tells the reader more: in a conjugate normal model the
# ratio of the two tracks the prior's share of the posterior precision, and "at least twice" is
# a clear majority (a 2:1 precision split), not a coin flip.
DOMINANCE = 2.0

Verdict = Literal["mostly prior", "mixed", "mostly data", "insensitive"]


def add_log_prior(idata: xr.DataTree, model) -> None:
    """Add a ``log_prior`` group (log density of each free parameter at each draw), in place."""
    import pymc as pm

    pm.compute_log_prior(idata, model=model, extend_inferencedata=True, progressbar=False)


def _varies(ds: xr.Dataset) -> bool:
    """Whether the summed log density in ``ds`` differs between draws (else nothing to scale)."""
    total = sum(
        v.sum([d for d in v.dims if d not in ("chain", "draw")]).values
        for v in ds.data_vars.values()
    )
    return bool(np.ptp(np.asarray(total)) > 0)


def _sensitivity(tree: xr.DataTree, component: Literal["prior", "likelihood"]) -> xr.DataArray:
    import arviz as az

    p = tree["posterior"]["probability"]
    if not _varies(tree[f"log_{component}"].to_dataset()):
        return xr.zeros_like(p.isel(chain=0, draw=0, drop=True), dtype=float)
    with warnings.catch_warnings():
        # PSIS on the power-scaled weights warns about short tails or large k̂; at α = 1 ± 0.01
        # the weights are near uniform and psense's own smoothing is what it documents. A
        # probability equal in every draw (a resolved outcome) has no distribution to move:
        # its distance is 0/0, reported here as 0
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        s = az.psense(tree, group=component)["probability"]
    return s.where(p.std(("chain", "draw")) > 0, 0.0)


def forecast_sensitivity(idata: xr.DataTree) -> xr.Dataset | None:
    """Per target and horizon: prior and likelihood power-scaling sensitivity of the forecast
    probability and the Monte Carlo standard error of its mean. None when the run has no
    ``log_prior`` or ``log_likelihood`` group (runs made before they were stored)."""
    import arviz as az

    if not {"log_prior", "log_likelihood", "predictions"} <= set(idata.children):
        return None
    p = idata["predictions"]["probability"]
    tree = xr.DataTree.from_dict(
        {
            "posterior": xr.Dataset({"probability": p}),
            "log_prior": idata["log_prior"].to_dataset(),
            "log_likelihood": idata["log_likelihood"].to_dataset(),
        }
    )
    return xr.Dataset(
        {
            "prior_sensitivity": _sensitivity(tree, "prior"),
            "likelihood_sensitivity": _sensitivity(tree, "likelihood"),
            "mcse": az.mcse(xr.Dataset({"probability": p}))["probability"],
        }
    )


def verdict(
    prior: float, likelihood: float, threshold: float = THRESHOLD, dominance: float = DOMINANCE
) -> Verdict:
    """Plain reading of the two sensitivities: the component that is sensitive (at or above
    ``threshold``) and pulls at least ``dominance`` times harder than the other decides the
    forecast; both sensitive within that factor is "mixed"; neither is "insensitive"."""
    if max(prior, likelihood) < threshold:
        return "insensitive"
    if prior >= dominance * likelihood:
        return "mostly prior"
    if likelihood >= dominance * prior:
        return "mostly data"
    return "mixed"


def with_sensitivity(table: pd.DataFrame, sens: xr.Dataset | None) -> pd.DataFrame:
    """The forecast table with ``mcse``, ``prior_sensitivity``, ``likelihood_sensitivity`` and
    ``evidence_verdict`` columns (empty when ``sens`` is None)."""
    out = table.copy()
    cols = ("mcse", "prior_sensitivity", "likelihood_sensitivity")
    if sens is None:
        for c in (*cols, "evidence_verdict"):
            out[c] = np.nan if c != "evidence_verdict" else ""
        return out
    labels = [  # a whole outcome has no candidate (None, or NaN in a string column)
        str(Target(o, c if isinstance(c, str) and c else None))
        for o, c in zip(out["outcome"], out["candidate"], strict=True)
    ]
    for c in cols:
        out[c] = [
            float(sens[c].sel(target=t, horizon=h))
            for t, h in zip(labels, out["horizon_months"], strict=True)
        ]
    out["evidence_verdict"] = [
        verdict(p, lk)
        for p, lk in zip(out["prior_sensitivity"], out["likelihood_sensitivity"], strict=True)
    ]
    return out
