"""Sampling, and every fit judged by the diagnostics gate.

nutpie (a Rust NUTS with PyMC models compiled by numba) is the default sampler, with its low-rank
mass matrix adaptation: the factor paths, loadings and indicator scales are strongly correlated, and
on the default scenario the low-rank metric cuts leapfrog steps per draw about tenfold (310 → 31)
and removes the divergences a diagonal metric leaves. The low-rank estimate is renewed when the
adaptation window switches, not every 20 tuning draws (nutpie 0.16.11's default, whose repeated
decompositions made a default-scenario fit 473 s instead of 34 s; see ``SamplerSettings``).
PyMC's own ``pm.sample`` is the fallback.
Every fit is checked against the diagnostics gate (``forecast.inference.gate``); a fit that fails
it is returned all the same, but marked not converged, so callers can refuse to present it silently.

A compiled nutpie model can be refitted to new data of the same structure (``CompileCache``,
``sample_compiled``): the evidence enters the model as ``pm.Data``. Across processes, PyTensor's
disk cache keeps the numba-compiled logp and gradient (``forecast.model.numba_ops`` makes the model
cacheable); nutpie's C wrapper around them is still compiled in every process.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

import arviz_stats as az  # ArviZ's diagnostics without its plotting stack (1 s to import)
import numpy as np
import pymc as pm
import xarray as xr

from forecast.inference.gate import DEFAULT_GATE, Gate
from forecast.model.build import ForecastModel

Sampler = Literal["nutpie", "pymc"]


@dataclass(frozen=True)
class SamplerSettings:
    """What the sampler was asked to do; recorded in every run manifest."""

    sampler: Sampler = "nutpie"
    draws: int = 1000
    tune: int = 1000
    chains: int = 4
    cores: int = 2
    seed: int = 1
    # 0.95: nutpie 0.16.11's adaptation left 13 divergences on the default scenario at 0.9, none
    # at 0.95 (seed 1, 4 x 1000 + 1000; 34 s of sampling, bulk ESS 927, R-hat 1.007)
    target_accept: float = 0.95
    # nutpie: adapts to the loading/factor correlations. It needs long adaptation windows: on short
    # fits (2 chains x 300-400 tuning draws) nutpie 0.16.11's low-rank estimate left 2 of 30 SBC
    # replications at R-hat > 1.1 and the recovery fit at bulk ESS 54, where the diagonal metric
    # gave R-hat <= 1.054 and ESS 193; SBC and recovery tests fit with False
    low_rank_mass_matrix: bool = True
    # nutpie renews the low-rank estimate every this many tuning draws; None: only when the
    # adaptation window switches (every 80 draws), as nutpie <= 0.16.8 did
    mass_matrix_update_every: int | None = None
    retries: int = 0  # refits after a failed gate, each more careful (see ``escalate``)


@dataclass(frozen=True)
class Diagnostics:
    """Convergence summary over the model's free parameters, and the gate's verdict."""

    max_rhat: float
    min_ess_bulk: float
    min_ess_tail: float
    divergences: int
    draws: int
    chains: int
    converged: bool
    problems: list[str] = field(default_factory=list)
    worst: dict[str, dict[str, float]] = field(default_factory=dict)
    method: str = "nuts"  # or "psis": a NUTS base run reweighted (forecast.inference.reweighting)
    pareto_k: float | None = None
    importance_efficiency: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Fit:
    idata: xr.DataTree
    diagnostics: Diagnostics
    settings: SamplerSettings
    timings: dict[str, float]
    reused: dict[str, str] = field(default_factory=dict)  # what was not built afresh (manifest)
    failed_attempts: list[dict] = field(default_factory=list)  # fits the gate refused, in order
    draws_from: np.ndarray | None = None  # a reweighted fit: the base run's flat draw of each draw


def free_parameter_names(model: pm.Model) -> list[str]:
    return [v.name for v in model.free_RVs]


def diagnose(idata: xr.DataTree, var_names: list[str], gate: Gate = DEFAULT_GATE) -> Diagnostics:
    """Apply ``gate``'s R-hat, bulk and tail ESS and divergence limits to ``var_names``."""
    post = idata["posterior"].to_dataset()[var_names]
    rhat = az.rhat(post)
    ess_b = az.ess(post, method="bulk")
    ess_t = az.ess(post, method="tail")

    def extreme(ds, fn) -> tuple[float, str]:
        vals = {
            k: float(fn(np.nan_to_num(v.values, nan=np.inf if fn is np.max else 0.0)))
            for k, v in ds.data_vars.items()
        }
        name = (max if fn is np.max else min)(vals, key=vals.get)
        return vals[name], name

    max_rhat, rhat_var = extreme(rhat, np.max)
    min_bulk, bulk_var = extreme(ess_b, np.min)
    min_tail, tail_var = extreme(ess_t, np.min)
    stats = idata["sample_stats"].to_dataset() if "sample_stats" in idata.children else {}
    div = int(stats["diverging"].sum()) if "diverging" in stats else 0
    problems = []
    if max_rhat > gate.rhat_max:
        problems.append(f"R-hat {max_rhat:.3f} > {gate.rhat_max} (worst: {rhat_var})")
    if min_bulk < gate.ess_min:
        problems.append(f"bulk ESS {min_bulk:.0f} < {gate.ess_min} (worst: {bulk_var})")
    if min_tail < gate.ess_min:
        problems.append(f"tail ESS {min_tail:.0f} < {gate.ess_min} (worst: {tail_var})")
    if div > gate.max_divergences:
        problems.append(f"{div} divergent transitions")
    return Diagnostics(
        max_rhat=max_rhat,
        min_ess_bulk=min_bulk,
        min_ess_tail=min_tail,
        divergences=div,
        draws=int(post.sizes["draw"]),
        chains=int(post.sizes["chain"]),
        converged=not problems,
        problems=problems,
        worst={
            "rhat": {rhat_var: max_rhat},
            "ess_bulk": {bulk_var: min_bulk},
            "ess_tail": {tail_var: min_tail},
        },
    )


class CompileCache:
    """Compiled nutpie models by structure key (``forecast.model.arrays.structure_key``).

    numba compilation takes 30-60 s per model structure; a fit whose model differs from a cached
    one only in the values of its ``pm.Data`` containers (evidence rows added, removed or changed)
    reuses the compiled model with the new data swapped in.
    """

    def __init__(self) -> None:
        self._compiled: dict[str, Any] = {}

    def __contains__(self, key: str) -> bool:
        return key in self._compiled

    def __len__(self) -> int:
        return len(self._compiled)

    def get(self, key: str, model: pm.Model) -> Any:
        """The compiled model for ``key`` holding ``model``'s data, compiling it if needed."""
        if key not in self._compiled:
            self._compiled[key] = compile_nutpie(model)
            return self._compiled[key]
        data = {v.name: v.get_value() for v in model.data_vars}
        return self._compiled[key].with_data(**data) if data else self._compiled[key]


PROCESS_CACHE = CompileCache()


def reuse_note(key: str | None, in_process: bool) -> dict[str, str]:
    """What a nutpie fit reused instead of compiling: for the run manifest."""
    if in_process:
        return {"compiled_model": f"in-process cache, structure key {key}"}
    from pytensor import config
    from pytensor.link.numba.cache import NUMBA_CACHE_PATH

    if not config.numba__cache:
        return {}
    return {"numba_functions": f"PyTensor's disk cache where present ({NUMBA_CACHE_PATH})"}


def compile_nutpie(model: pm.Model) -> Any:
    """Compile ``model`` for nutpie (numba backend; ``pm.Data`` stays swappable)."""
    import nutpie

    return nutpie.compile_pymc_model(model)


def sample_compiled(
    compiled: Any,
    settings: SamplerSettings,
    var_names: list[str],
    on_phase: Callable[[str], None] | None = None,
    gate: Gate = DEFAULT_GATE,
) -> Fit:
    """Sample a compiled nutpie model (e.g. ``compiled.with_data(...)``) and run ``gate`` on
    ``var_names`` (the model's free parameters)."""

    phase = on_phase or (lambda _msg: None)
    phase(f"sampling {settings.chains} chains x {settings.draws} draws")
    t0 = time.perf_counter()
    # nutpie.sample takes no mass-matrix update frequency: its background sampler takes the
    # settings object whole (nutpie pinned to 0.16.x in pyproject.toml)
    from nutpie.sample import _BackgroundSampler

    idata = _BackgroundSampler(
        compiled,
        nutpie_settings(settings),
        np.zeros(compiled.n_dim),
        settings.cores,
        progress_bar=False,
        save_warmup=False,
    ).wait()
    timings = {"sample_s": time.perf_counter() - t0}
    phase("checking convergence")
    return Fit(
        idata=idata,
        diagnostics=diagnose(idata, var_names, gate),
        settings=settings,
        timings=timings,
    )


def nutpie_settings(settings: SamplerSettings) -> Any:
    """nutpie's NUTS settings for ``settings``."""
    from nutpie import _lib

    kind = (
        _lib.PyNutsSettings.LowRank if settings.low_rank_mass_matrix else _lib.PyNutsSettings.Diag
    )
    out = kind(settings.seed)
    d = out.as_dict()["settings"]
    d.update(num_tune=settings.tune, num_draws=settings.draws, num_chains=settings.chains)
    d["adapt_options"]["step_size_settings"]["target_accept"] = settings.target_accept
    if settings.low_rank_mass_matrix:
        never = settings.tune + settings.draws + 1
        d["adapt_options"]["mass_matrix_update_freq"] = settings.mass_matrix_update_every or never
    out.update_settings(d)
    return out


def escalate(settings: SamplerSettings) -> SamplerSettings:
    """Settings for a refit after a failed gate: half the distance to acceptance 1 (smaller steps,
    for divergences) and 1.5 times the draws (for R-hat and ESS)."""
    return replace(
        settings,
        target_accept=round(1.0 - (1.0 - settings.target_accept) / 2, 4),
        draws=settings.draws * 3 // 2,
        retries=settings.retries - 1,
    )


def sample(
    model: pm.Model,
    settings: SamplerSettings,
    on_phase: Callable[[str], None] | None = None,
    *,
    cache: CompileCache | None = None,
    key: str | None = None,
    gate: Gate = DEFAULT_GATE,
) -> Fit:
    """Fit ``model`` and run the diagnostics ``gate``; refit up to ``settings.retries`` times with
    escalated settings while the gate fails. A refit must pass the gate on its own; the failed
    attempts are kept in ``Fit.failed_attempts`` for the manifest."""
    phase = on_phase or (lambda _msg: None)
    failed: list[dict] = []
    fit = _sample_once(model, settings, phase, cache=cache, key=key, gate=gate)
    while not fit.diagnostics.converged and fit.settings.retries > 0:
        failed.append(
            {
                "target_accept": fit.settings.target_accept,
                "draws": fit.settings.draws,
                "problems": fit.diagnostics.problems,
                "timings": fit.timings,
            }
        )
        nxt = escalate(fit.settings)
        phase(
            f"gate failed ({'; '.join(fit.diagnostics.problems)}): refitting with target_accept"
            f" {nxt.target_accept} and {nxt.draws} draws"
        )
        fit = _sample_once(model, nxt, phase, cache=cache, key=key, gate=gate)
    for attempt in failed:
        for k, v in attempt["timings"].items():
            fit.timings[k] = fit.timings.get(k, 0.0) + v
    fit.failed_attempts.extend(failed)
    return fit


def _sample_once(
    model: pm.Model,
    settings: SamplerSettings,
    on_phase: Callable[[str], None] | None = None,
    *,
    cache: CompileCache | None = None,
    key: str | None = None,
    gate: Gate = DEFAULT_GATE,
) -> Fit:
    """One fit of ``model`` with the configured sampler, and the diagnostics ``gate``.

    With nutpie, a model built by ``build_model`` (or any model given a ``key``, its
    ``structure_key``) is compiled once per process: a later model of the same structure reuses
    the compiled one from ``cache`` (default: a cache shared by the whole process) with its own
    data swapped in.
    """
    phase = on_phase or (lambda _msg: None)
    var_names = free_parameter_names(model)
    if settings.sampler == "nutpie":
        t0 = time.perf_counter()
        key = key or (model.structure_key if isinstance(model, ForecastModel) else None)
        cache = PROCESS_CACHE if cache is None else cache
        in_process = key is not None and key in cache
        if key is not None:
            phase("reusing compiled model" if in_process else "compiling model (nutpie/numba)")
            compiled = cache.get(key, model)
        else:
            phase("compiling model (nutpie/numba)")
            compiled = compile_nutpie(model)
        compile_s = time.perf_counter() - t0
        fit = sample_compiled(compiled, settings, var_names, on_phase=phase, gate=gate)
        fit.timings["compile_s"] = compile_s
        fit.reused.update(reuse_note(key, in_process))
        return fit
    phase(f"sampling with pm.sample ({settings.chains} chains x {settings.draws} draws)")
    t0 = time.perf_counter()
    with model:
        idata = pm.sample(
            draws=settings.draws,
            tune=settings.tune,
            chains=settings.chains,
            cores=settings.cores,
            random_seed=settings.seed,
            target_accept=settings.target_accept,
            progressbar=False,
            compute_convergence_checks=False,
        )
    timings = {"sample_s": time.perf_counter() - t0}
    phase("checking convergence")
    return Fit(
        idata=idata,
        diagnostics=diagnose(idata, var_names, gate),
        settings=settings,
        timings=timings,
    )
