"""Fit → the run file ``posterior.nc``: a DataTree an ArviZ user can open and check on its own.

The stored tree has, beside ``posterior``, ``sample_stats``, ``log_likelihood``, ``log_prior`` and
``predictions`` (the forecasts), the groups ArviZ's checks read: ``observed_data``,
``constant_data`` (every ``pm.Data`` container of the model) and ``posterior_predictive`` (one draw
of every observed variable per posterior draw), so ``az.plot_ppc`` and ``az.loo_pit`` run on it.

Every evidence term's elements lie along a dim named after its rows (``indicator_row``,
``count_row``, ``rating_<name>_row``, ``event_row``, ``forecast_row``, ``likelihood_ratio_row``)
whose coordinate is the row's id, ``<file>:<spreadsheet row>`` (``evidence.csv:12``); a
resolution's elements are the unit-months it covers, along ``resolution_cell``, each labelled
``<row id> <unit> <YYYY-MM>`` (no second coordinate for the row id alone: ArviZ functions that
stack the log-likelihood's variables, such as ``psense``, refuse one). Months are dates (first of
the month). The names are given here, after the fit, not in the model: model
coords for evidence rows would change its structure key with every new row, and so the compiled
model. A reweighted run says so in its attrs (``sampling_method``, ``reweighted_from``,
``draws_resampled``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr

from forecast.data.months import month_dates
from forecast.inference.sampling import Fit
from forecast.model import over_draws
from forecast.model.design import Design
from forecast.model.loglik import LR_VAR, element_rows
from forecast.model.posterior import Projection

# ``pm.Data`` containers are named ``<prefix>_<field>``; the prefix names the evidence term
TERM_OF_PREFIX = {
    "normal": "indicator",
    "count": "count",
    "event": "event",
    "surv": "resolution",
    "fc": "forecast",
    "lr": LR_VAR,
}  # rating containers are prefixed by their term's own name, rating_<name>
SECOND_DIM = {"count_weight": "month", "fc_mask": "unit", "lr_mask": "unit"}
CELLS = "resolution"  # the term whose elements are unit-months, not rows


def evidence_dim(term: str) -> str:
    """The dim along which an evidence term's elements lie: ``<term>_row`` (or ``_cell``)."""
    return f"{term}_cell" if term == CELLS else f"{term}_row"


def add_predictive(
    idata: xr.DataTree,
    model: pm.Model,
    seed: int,
    base: tuple[xr.DataTree, np.ndarray] | None = None,
) -> list[str]:
    """Add ``posterior_predictive`` (every observed variable, drawn with ``seed`` at each posterior
    draw in one vectorized call: ``forecast.model.over_draws``), ``observed_data`` and
    ``constant_data`` groups to ``idata`` in place; the posterior draws are not touched. With
    ``base = (run, draws)``, ``idata``'s draws being that stored run's at the flat indices
    ``draws`` (a reweighted fit), a term whose rows are the run's takes its stored predictive
    draws there (each a draw given its own parameters); returns the names of those terms."""
    observed = list(model.observed_RVs)
    if not observed:
        return []
    post = idata["posterior"].to_dataset()
    reuse = (base[0], "posterior_predictive", base[1]) if base is not None else None
    values, reused = over_draws.evaluate_or_reuse(observed, observed, model, post, reuse, seed)
    drawn = dict(zip((v.name for v in observed), values, strict=True))
    pp = pm.to_inference_data(posterior_predictive=drawn, model=model)  # and the data groups
    for group in ("posterior_predictive", "observed_data", "constant_data"):
        if group in pp.children:
            ds = pp[group].to_dataset()
            if group == "posterior_predictive":
                ds = ds.map(compact).assign_coords(chain=post["chain"], draw=post["draw"])
            idata[group] = xr.DataTree(ds)
    return reused


def compact(v: xr.DataArray) -> xr.DataArray:
    """Simulated values in the smallest type that holds them exactly: whole numbers (resolutions,
    counts, rating levels) as int8 or int32, measurements as float32 (the predictive is a check,
    not an input; float32 keeps 7 digits). The 683 resolution cells x 6000 draws of the default
    scenario take 4 MB instead of 33."""
    x = v.values
    if x.dtype.kind in "iub" or (x.dtype.kind == "f" and np.all(np.mod(x, 1) == 0)):
        lo, hi = (x.min(), x.max()) if x.size else (0, 0)
        small = np.int8 if lo >= -128 and hi <= 127 else np.int32
        return v.astype(small)
    return v.astype(np.float32) if x.dtype.kind == "f" else v


def _row_ids(frame: pd.DataFrame, rows: np.ndarray) -> np.ndarray:
    """``<file name>:<spreadsheet row>`` of each evidence frame row in ``rows``."""
    sel = frame.loc[rows]
    return np.array(
        [f"{Path(f).name}:{int(r)}" for f, r in zip(sel["file"], sel["row"], strict=True)]
    )


def evidence_coords(d: Design, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per evidence term: the labels of its elements (row ids; for resolutions, cell labels)."""
    out = {}
    for term, rows in element_rows(d).items():
        ids = _row_ids(frame, rows)
        if term == CELLS:
            months = np.asarray(d.months)[d.resolution.month]
            units = np.asarray(d.units.labels)[d.resolution.unit]
            ids = np.array([f"{i} {u} {m}" for i, u, m in zip(ids, units, months, strict=True)])
        out[term] = ids
    return out


def _container_term(name: str) -> str:
    """The evidence term a ``pm.Data`` container (``<prefix>_<field>``) belongs to."""
    prefix = name.rsplit("_", 1)[0]
    return TERM_OF_PREFIX.get(prefix, prefix)


def _name_dims(
    ds: xr.Dataset, coords: dict[str, np.ndarray], d: Design, containers: bool
) -> xr.Dataset:
    """``ds`` with PyMC's ``<var>_dim_<i>`` dims renamed to evidence dims (and month / unit) and
    keyed by ``coords``; variables are evidence terms, or ``pm.Data`` containers if
    ``containers``."""
    labels = {"month": d.months, "unit": d.units.labels}
    out, assign = {}, {}
    for name, v in ds.data_vars.items():
        name = str(name)
        term = _container_term(name) if containers else name
        dims = list(v.dims)
        for i, dim in enumerate(dims):
            if dim == f"{name}_dim_0" and term in coords:
                dims[i] = evidence_dim(term)
                assign[dims[i]] = coords[term]
            elif dim == f"{name}_dim_1" and name in SECOND_DIM:
                dims[i] = SECOND_DIM[name]
                assign[dims[i]] = labels[dims[i]]
        out[name] = xr.Variable(dims, v.values, v.attrs)
    used = {dim for v in out.values() for dim in v.dims}
    kept = {k: c for k, c in ds.coords.items() if set(c.dims) <= used}  # PyMC's dims dropped
    return xr.Dataset(out, coords={**kept, **assign}, attrs=ds.attrs)


def _dated(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` with its ``month`` coordinate as dates and no transformed duplicates (``*__``)."""
    ds = ds.drop_vars([v for v in ds.data_vars if str(v).endswith("__")])
    if "month" in ds.coords:
        ds = ds.assign_coords(month=month_dates(ds["month"].values))
    return ds


def label_evidence(idata: xr.DataTree, d: Design, frame: pd.DataFrame) -> xr.DataTree:
    """``idata`` with every evidence dim named and keyed by row ids, months as dates and no
    transformed duplicates (see the module docstring); the values are unchanged."""
    coords = evidence_coords(d, frame)
    groups = {}
    for name, node in idata.children.items():
        ds = node.to_dataset()
        if name in ("log_likelihood", "observed_data", "posterior_predictive", "constant_data"):
            ds = _name_dims(ds, coords, d, containers=name == "constant_data")
        groups[name] = _dated(ds)
    return xr.DataTree.from_dict(groups)


def run_file(fit: Fit, proj: Projection, attrs: dict) -> xr.DataTree:
    """The tree a run stores: ``fit.idata`` (labelled by ``label_evidence``) with the projected
    forecasts as the ``predictions`` group, (chain, draw) restored, and ``attrs`` (plus how the
    draws were made) on the tree and every group."""
    return with_predictions(fit.idata, proj, {**attrs, **draws_attrs(fit)})


def with_predictions(idata: xr.DataTree, proj: Projection, attrs: dict) -> xr.DataTree:
    """``idata`` (in place) with ``proj`` as its ``predictions`` group and ``attrs`` added to the
    tree and every group: a fit's run file, or a stored one re-projected from another origin."""
    chains, draws = idata["posterior"].sizes["chain"], idata["posterior"].sizes["draw"]

    def unstack(da: xr.DataArray) -> xr.DataArray:
        arr = da.values.reshape((chains, draws, *da.shape[1:]))
        return xr.DataArray(
            arr,
            dims=("chain", "draw", *da.dims[1:]),
            coords={k: v for k, v in da.coords.items() if "sample" not in v.dims},
        )

    preds = xr.Dataset(
        {"probability": unstack(proj.probability), "factor_path": unstack(proj.factor_path)}
    )
    idata["predictions"] = xr.DataTree(preds)
    for node in (idata, *idata.children.values()):
        node.attrs.update(attrs)
    return idata


def draws_attrs(fit: Fit) -> dict:
    """How the draws were made, as netCDF attrs: ``sampling_method`` ("nuts" or "psis") and, for a
    reweighted run, the run it reweights and that its draws are resampled (some repeat)."""
    d = fit.diagnostics
    if d.method != "psis":
        return {"sampling_method": d.method}
    return {
        "sampling_method": "psis",
        "reweighted_from": fit.reused.get("base_run", ""),
        "draws_resampled": 1,
        "pareto_k": d.pareto_k,
        "importance_efficiency": d.importance_efficiency,
    }
