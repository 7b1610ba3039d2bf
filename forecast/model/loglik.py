"""Pointwise log-likelihood of every evidence row, for PSIS-based attribution without refitting.

Observed terms come from PyMC; the likelihood-ratio term is a Potential, so its pointwise values are
recomputed here from the stored logit hazards. ``row_log_likelihood`` sums the elements that belong
to each evidence row (a resolution spans many unit-months) into one column per row.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import xarray as xr

from forecast.model import over_draws
from forecast.model.design import Design

LR_VAR = "likelihood_ratio"


def element_rows(d: Design) -> dict[str, np.ndarray]:
    """For each log-likelihood variable, the evidence-frame row of each of its elements."""
    out = {
        "indicator": d.indicator.rows,
        "count": d.count.rows,
        "event": d.event.rows,
        "resolution": d.resolution.rows,
        "forecast": d.forecast.rows,
        LR_VAR: d.likelihood_ratio.rows,
    }
    out.update({f"rating_{name}": blk.rows for name, blk in d.rating.items()})
    return {k: v for k, v in out.items() if len(v)}


def _lr_log_likelihood(idata: xr.DataTree, d: Design) -> np.ndarray:
    """(chain, draw, row): log(p * LR + 1 - p), p = the model's P(target by t+H) at the row."""
    lr = d.likelihood_ratio
    x = idata["posterior"]["logit_hazard"].values  # (C, D, unit, month)
    xt = x[:, :, :, lr.month]  # (C, D, unit, row)
    a = lr.horizon * np.sum(lr.mask.T * np.logaddexp(0.0, xt), axis=2)  # -log S
    log_s = -a
    log_1ms = np.log(-np.expm1(-np.maximum(a, 1e-300)))
    log_p = np.where(lr.persist > 0, log_s, log_1ms)
    log_q = np.where(lr.persist > 0, log_1ms, log_s)
    return np.logaddexp(log_p + lr.log, log_q)


def add_log_likelihood(
    idata: xr.DataTree, model: pm.Model, d: Design, base: xr.DataTree | None = None
) -> list[str]:
    """Add a ``log_likelihood`` group with one variable per evidence term (in place), evaluated at
    every draw in one vectorized call (``forecast.model.over_draws``). With ``base``, a stored run
    with the same draws, a term whose rows are the base's is taken from it instead; returns the
    names of those terms."""
    observed = list(model.observed_RVs)
    reused: list[str] = []
    if observed:
        post = idata["posterior"].to_dataset()
        graphs = [pm.logp(v, model.rvs_to_values[v]) for v in observed]
        reuse = (base, "log_likelihood", None) if base is not None else None
        values, reused = over_draws.evaluate_or_reuse(observed, graphs, model, post, reuse)
        ll = over_draws.as_dataset([v.name for v in observed], values, model, post)
        idata["log_likelihood"] = xr.DataTree(ll)
    if len(d.likelihood_ratio.log):
        lr = xr.DataArray(
            _lr_log_likelihood(idata, d),
            dims=("chain", "draw", f"{LR_VAR}_dim_0"),
            coords={"chain": idata["posterior"]["chain"], "draw": idata["posterior"]["draw"]},
        )
        if "log_likelihood" in idata.children:
            idata["log_likelihood"] = xr.DataTree(
                idata["log_likelihood"].to_dataset().assign({LR_VAR: lr})
            )
        else:
            idata["log_likelihood"] = xr.DataTree(xr.Dataset({LR_VAR: lr}))
    return reused


def row_log_likelihood(idata: xr.DataTree, d: Design) -> tuple[np.ndarray, np.ndarray]:
    """Per-draw log-likelihood of each evidence row: ((sample, row) matrix, row ids)."""
    rows = element_rows(d)
    ids = np.unique(np.concatenate(list(rows.values()))) if rows else np.zeros(0, int)
    col = {r: i for i, r in enumerate(ids)}
    ll = idata["log_likelihood"].to_dataset()
    n = ll.sizes["chain"] * ll.sizes["draw"]
    out = np.zeros((n, len(ids)))
    for var, el_rows in rows.items():
        vals = ll[var].values.reshape(n, -1)
        np.add.at(out.T, np.array([col[r] for r in el_rows]), vals.T)
    return out, ids
