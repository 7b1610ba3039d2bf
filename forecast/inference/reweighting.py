"""Warm updates without sampling: a previous full fit reweighted by what changed in the evidence.

When the evidence changes but the model's structure does not (same scenario, same months, same
terms and forecasters: the same ``structure_key``), both posteriors live on the same parameters and
p_new(θ) ∝ p_old(θ) · p(new evidence | θ) / p(old evidence | θ). Pareto-smoothed importance
sampling (Vehtari et al. 2024) turns the base run's draws into draws from the new posterior in
seconds. Its Pareto k̂ says whether that can be trusted and the importance-sampling efficiency
scales the base run's ESS; when either fails the gate, the update samples afresh instead. Weighted
draws are resampled (seeded, systematic) so the run has the shape of a sampled one, and every
reweighted run goes back to the same NUTS base, so errors do not compound across updates. Only the
evidence terms whose rows changed are evaluated anew; the others' log-likelihoods (and, later,
their predictive draws) are the base run's at the same draws. The fit keeps which base draw each of
its draws is (``Fit.draws_from``), so an update whose projection inputs did not change takes the
base run's projection of those draws instead of simulating anew.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, replace

import numpy as np
import pymc as pm
import xarray as xr
from arviz_stats.base import array_stats

from forecast.inference.gate import DEFAULT_GATE, Gate
from forecast.inference.sampling import Diagnostics, Fit, SamplerSettings
from forecast.model.design import Design
from forecast.model.loglik import add_log_likelihood
from forecast.runs.store import CorruptRunWarning, Run, RunStore, StoreError

GROUPS = ("posterior", "sample_stats", "log_prior")  # carried over, draw by draw


def find_base(store: RunStore, structure_key: str, settings: SamplerSettings) -> Run | None:
    """The latest converged NUTS run of this model structure with these sampler settings.

    Runs whose manifest cannot be read are skipped (``RunStore.runs`` warns about them), and so is
    a candidate whose files were altered since it was written (with a ``CorruptRunWarning``): the
    next older one is tried, or the model is sampled afresh.
    """
    for run in reversed(store.runs()):
        m = run.manifest
        if (
            m.get("structure_key") == structure_key
            and m.get("sampler") == asdict(settings)
            and m.get("converged")
            and m.get("diagnostics", {}).get("method", "nuts") == "nuts"
        ):
            try:
                return store.load(run.id)
            except StoreError as exc:
                warnings.warn(
                    f"not reweighting run {run.id}: {exc}", CorruptRunWarning, stacklevel=2
                )
    return None


def total_log_likelihood(ll: xr.Dataset) -> np.ndarray:
    """Log-likelihood of all evidence at each draw: (chain * draw,)."""
    n = ll.sizes["chain"] * ll.sizes["draw"]
    return sum((v.values.reshape(n, -1).sum(axis=1) for v in ll.data_vars.values()), np.zeros(n))


def psis_weights(log_ratios: np.ndarray) -> tuple[np.ndarray, float]:
    """Pareto-smoothed importance weights (normalized) for per-draw log ratios, and their k̂."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # psislw warns about large k̂; callers report it
        # arviz-stats takes log-likelihood values and smooths the weights of their negatives
        log_w, k_hat = array_stats.psislw(-np.asarray(log_ratios, float))
    w = np.exp(log_w - log_w.max())
    return w / w.sum(), float(k_hat)


def systematic_resample(weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``len(weights)`` draw indices resampled by normalized ``weights`` (sorted, low variance)."""
    n = len(weights)
    positions = (rng.random() + np.arange(n)) / n
    cum = np.cumsum(weights)
    cum[-1] = 1.0
    return np.searchsorted(cum, positions)


def _take(ds: xr.Dataset, idx: np.ndarray) -> xr.Dataset:
    """``ds`` with its (chain, draw) samples replaced by the flat sample indices ``idx``."""
    c, d = ds.sizes["chain"], ds.sizes["draw"]
    out = {}
    for name, v in ds.data_vars.items():
        vals = v.transpose("chain", "draw", ...).values
        vals = vals.reshape(c * d, *vals.shape[2:])[idx].reshape(vals.shape)
        out[name] = (v.transpose("chain", "draw", ...).dims, vals)
    return xr.Dataset(out, coords=ds.coords, attrs=ds.attrs)


def reweight(
    base: xr.DataTree,
    base_diagnostics: dict,
    model: pm.Model,
    design: Design,
    settings: SamplerSettings,
    gate: Gate = DEFAULT_GATE,
) -> Fit:
    """The base posterior reweighted to ``model``'s evidence, with ``gate``'s verdict in its
    diagnostics.

    ``model`` must have the base run's structure; its evidence may differ in any rows.
    """
    new = xr.DataTree.from_dict({"posterior": base["posterior"].to_dataset()})
    same = add_log_likelihood(new, model, design, base=base)
    log_w = total_log_likelihood(new["log_likelihood"].to_dataset()) - total_log_likelihood(
        base["log_likelihood"].to_dataset()
    )
    w, k_hat = psis_weights(log_w)
    efficiency = float(1.0 / np.sum(w**2) / len(w))
    idx = systematic_resample(w, np.random.default_rng(settings.seed))
    groups = {g: _take(base[g].to_dataset(), idx) for g in GROUPS if g in base.children}
    groups["log_likelihood"] = _take(new["log_likelihood"].to_dataset(), idx)
    idata = xr.DataTree.from_dict(groups)
    diagnostics = _diagnostics(base_diagnostics, k_hat, efficiency, gate)
    fit = Fit(idata=idata, diagnostics=diagnostics, settings=settings, timings={}, draws_from=idx)
    if same:
        fit.reused["log_likelihood"] = f"the base run's for the unchanged terms: {', '.join(same)}"
    return fit


def _diagnostics(
    base: dict, k_hat: float, efficiency: float, gate: Gate = DEFAULT_GATE
) -> Diagnostics:
    """The base run's NUTS diagnostics with its ESS scaled by the importance-sampling efficiency,
    judged by ``gate``'s k̂ and ESS limits."""
    d = Diagnostics(
        max_rhat=base["max_rhat"],
        min_ess_bulk=base["min_ess_bulk"] * efficiency,
        min_ess_tail=base["min_ess_tail"] * efficiency,
        divergences=base["divergences"],
        draws=base["draws"],
        chains=base["chains"],
        converged=False,
        worst=base.get("worst", {}),
        method="psis",
        pareto_k=k_hat,
        importance_efficiency=efficiency,
    )
    problems = list(base.get("problems", []))
    if k_hat > gate.k_hat_max:
        problems.append(
            f"Pareto k̂ {k_hat:.2f} > {gate.k_hat_max}: the evidence changed too much to reweight"
        )
    if min(d.min_ess_bulk, d.min_ess_tail) < gate.ess_min:
        problems.append(
            f"ESS after reweighting {min(d.min_ess_bulk, d.min_ess_tail):.0f} < {gate.ess_min}"
            f" (importance efficiency {efficiency:.2f})"
        )
    return replace(d, problems=problems, converged=not problems)
