"""An update run: inputs → model → fit → forecasts → a complete run folder in the store."""

from __future__ import annotations

import hashlib
import json
import resource
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import date
from pathlib import Path

import pandas as pd

from forecast import __version__
from forecast.data.files import sha256_bytes
from forecast.data.inputs import Inputs
from forecast.data.months import month_end
from forecast.inference.gate import DEFAULT_GATE, Gate
from forecast.inference.reweighting import find_base, reweight
from forecast.inference.sampling import Fit, SamplerSettings, sample
from forecast.inference.sensitivity import COLUMNS as SENSITIVITY_COLUMNS
from forecast.inference.sensitivity import add_log_prior, forecast_sensitivity, with_sensitivity
from forecast.model.build import build_model
from forecast.model.design import Design, build_design
from forecast.model.loglik import add_log_likelihood
from forecast.model.posterior import (
    Projection,
    origin_label,
    project,
    projection_inputs,
    stored_projection,
    summarize,
)
from forecast.runs.provenance import provenance
from forecast.runs.run_file import add_predictive, draws_attrs, label_evidence, with_predictions
from forecast.runs.store import CorruptRunWarning, Run, RunStore, StoreError, new_run_id

# manifest keys that describe the fit, copied to a run that re-projects it from a new origin
FIT_KEYS = ("sampler_used", "diagnostics", "converged", "structure_key", "failed_attempts")


class OriginError(ValueError):
    """An origin the evidence or the scenario rules out."""


@dataclass(frozen=True)
class UpdateResult:
    run: Run
    fitted: bool  # a new run was written; False when one of the same inputs and origin existed
    converged: bool
    projected_from: str | None = None  # the run whose posterior a new run re-projected

    def record(self) -> dict:
        """What ``forecast update --format json`` prints: the run, whether it was fitted and
        converged, how, its problems, origin and evidence end."""
        m = self.run.manifest
        diag = m["diagnostics"]  # a dict in every readable run (REQUIRED_KEYS)
        return {
            "run_id": self.run.id,
            "path": str(self.run.path),
            "scenario": self.run.scenario,
            "fitted": self.fitted,
            "converged": self.converged,
            "method": diag.get("method", "nuts"),  # runs before PSIS reweighting lack it
            "problems": diag.get("problems", []),
            "origin_date": m.get("origin_date"),
            "evidence_end": m.get("evidence_end"),
            "projected_from": self.projected_from,
        }


def evidence_end(inputs: Inputs) -> date | None:
    """The date of the latest evidence row (None without evidence)."""
    fr = inputs.evidence.frame
    return fr["date"].max().date() if len(fr) else None


def forecast_origin(inputs: Inputs, origin: date | None) -> date | None:
    """The day a run forecasts from: ``origin``, checked, or (None) the last evidence date.

    Raises ``OriginError`` for an origin before the last evidence date (evidence after it would
    leak into a forecast said to be made then), before the scenario's start or after its end.
    """
    end = evidence_end(inputs)
    if origin is None:
        return end
    s = inputs.scenario
    if end is not None and origin < end:
        raise OriginError(
            f"origin {origin} is before the last evidence date {end} (evidence after an origin"
            " would leak into its forecasts)"
        )
    if origin < s.start_date:
        raise OriginError(f"origin {origin} is before the scenario's start ({s.start})")
    if origin > s.end_date:
        raise OriginError(f"origin {origin} is after the scenario's end ({s.end}); extend `end`")
    return origin


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def fit_key(inputs: Inputs, settings: SamplerSettings) -> str:
    """What determines a fit's numbers: input contents, sampler settings and the code version."""
    payload = {
        "inputs": inputs.input_hash(),
        "settings": asdict(settings),
        "forecast": __version__,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def projection_key(inputs: Inputs, design: Design, seed: int, origin: date | None) -> str:
    """What a run's projection depends on besides its draws: the scenario file, the design's
    months and outcome states (``projection_inputs``), the origin, the seed and the code."""
    payload = {
        "scenario": sha256_bytes(inputs.scenario_bytes()),
        "design": projection_inputs(design),
        "origin": origin.isoformat() if origin else None,
        "seed": seed,
        "forecast": __version__,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def fit_inputs(
    inputs: Inputs,
    settings: SamplerSettings,
    on_phase: Callable[[str], None] | None = None,
    *,
    store: RunStore | None = None,
    gate: Gate = DEFAULT_GATE,
    origin: date | None = None,
) -> tuple[Fit, Projection, dict[str, str]]:
    """Build and fit the scenario's model, add pointwise log-likelihoods, project forecasts, and
    add the groups and names of the run file (``forecast.runs.run_file``). Forecasts are from
    ``origin`` (None: the end of the last evidence month; see ``project``).

    With a ``store``, a converged NUTS run of the same model structure and settings is first
    reweighted by the changed evidence (``forecast.inference.reweighting``); NUTS samples only if
    that fails ``gate`` or there is no such run; a reweighted fit takes the base run's projection
    of its draws when nothing the projection reads has changed (``projection_key``). Also returns
    the model's structure key and the projection's key, for the manifest.
    """
    phase = on_phase or (lambda _msg: None)
    phase("building model")
    t0 = time.perf_counter()
    design = build_design(inputs.scenario, inputs.evidence)
    model = build_model(inputs.scenario, design)
    key = model.structure_key
    timings = {"build_s": time.perf_counter() - t0}
    fit, refused, base_tree = None, None, None
    base = find_base(store, key, settings) if store is not None and key else None
    if base is not None:
        phase(f"reweighting run {base.id} by the changed evidence")
        t0 = time.perf_counter()
        base_tree = base.posterior()
        candidate = reweight(base_tree, base.manifest["diagnostics"], model, design, settings, gate)
        timings["reweight_s"] = time.perf_counter() - t0
        d = candidate.diagnostics
        note = f"run {base.id} (NUTS) reweighted: Pareto k̂ {d.pareto_k:.2f}, importance "
        note += f"efficiency {d.importance_efficiency:.2f}"
        if d.converged:
            fit = candidate
            fit.reused["posterior"] = note
            fit.reused["base_run"] = base.id
        else:
            refused = f"{note}; refused ({'; '.join(d.problems)}), sampled afresh"
    if fit is None:
        fit = sample(model, settings, on_phase=phase, gate=gate)
        phase("computing pointwise log-likelihood and log prior")
        t0 = time.perf_counter()
        add_log_likelihood(fit.idata, model, design)
        timings["log_likelihood_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        add_log_prior(fit.idata, model)
        timings["log_prior_s"] = time.perf_counter() - t0
        if refused:
            fit.reused["posterior"] = refused
    t0 = time.perf_counter()
    projected = projection_key(inputs, design, settings.seed, origin)
    if fit.draws_from is not None and base.manifest.get("projection_key") == projected:
        # the same projection of the same draws: the base run's, draw by draw (not a new
        # Monte Carlo of the factor paths, which would cost ~12 s on the default scenario)
        phase(f"taking run {base.id}'s projection of the reweighted draws")
        month = origin_label(inputs.scenario, design, origin)
        proj = stored_projection(base_tree["predictions"].to_dataset(), month, fit.draws_from)
        fit.reused["projection"] = f"run {base.id}'s, at the reweighted draws"
    else:
        phase("projecting forecasts")
        proj = project(inputs.scenario, design, fit.idata, seed=settings.seed, origin=origin)
    timings["project_s"] = time.perf_counter() - t0
    phase("sampling the posterior predictive")
    t0 = time.perf_counter()
    lent = (base_tree, fit.draws_from) if fit.draws_from is not None else None
    if kept := add_predictive(fit.idata, model, seed=settings.seed, base=lent):
        fit.reused["posterior_predictive"] = f"run {base.id}'s for the unchanged terms: "
        fit.reused["posterior_predictive"] += ", ".join(kept)
    timings["posterior_predictive_s"] = time.perf_counter() - t0
    fit = replace(fit, idata=label_evidence(fit.idata, design, inputs.evidence.frame))
    fit.timings.update(timings)
    return fit, proj, {"structure_key": key, "projection_key": projected}


def copy_inputs(inputs: Inputs, folder: Path) -> None:
    """Write the scenario and evidence files into ``folder`` in the project layout.

    Writes the bytes ``load_inputs`` snapshotted and the fit used (not the files as they are on
    disk now: a row may have been added since), so the copy matches the manifest's hashes.
    """
    s = inputs.scenario
    (folder / "priors").mkdir(parents=True)
    (folder / "priors" / f"{s.name}.toml").write_bytes(inputs.scenario_bytes())
    data = folder / "data" / s.name
    data.mkdir(parents=True)
    for name, content in inputs.evidence_bytes().items():
        (data / name).write_bytes(content)


def run_update(
    inputs: Inputs,
    store: RunStore,
    settings: SamplerSettings,
    *,
    origin: date | None = None,
    force: bool = False,
    cold: bool = False,
    on_phase: Callable[[str], None] | None = None,
) -> UpdateResult:
    """Store a run forecasting from ``origin`` (None: the last evidence date), unless a run of the
    same inputs, settings and origin exists (then return it, unless ``force``).

    A run is identified by its fit (``fit_key``: inputs, settings, code) and its origin. A stored
    run of the same fit from another origin lends its posterior: the months up to a later origin
    hold no evidence, so the fit would be the same; only the projection is redone, in seconds.
    Otherwise the model is fitted: a previous run of the same structure is reweighted when that
    passes the gate, unless ``cold``. Raises ``OriginError`` for an origin ``forecast_origin``
    refuses.
    """
    start = forecast_origin(inputs, origin)
    day = start.isoformat() if start else None
    key = fit_key(inputs, settings)
    with store.locked():
        existing = None if force else _stored(store, key, day, cold)
        if existing is not None:
            return UpdateResult(existing, fitted=False, converged=existing.manifest["converged"])
        base = None if force else _lender(store, key, cold)
        t0 = time.perf_counter()
        if base is None:
            idata, proj, drawn, described = _fitted(inputs, settings, on_phase, store, cold, start)
        else:
            (on_phase or (lambda _msg: None))(f"projecting run {base.id}'s posterior from {day}")
            idata, proj, projected = _reprojected(base, inputs, start, settings.seed)
            drawn = {}  # the stored run file says how its draws were made
            reused = {k: v for k, v in base.manifest.get("reused", {}).items() if k != "projection"}
            source = reused.get("projected_from", base.id)
            described = {k: base.manifest[k] for k in FIT_KEYS if k in base.manifest}
            described["reused"] = {**reused, "projected_from": source}
            described["projection_key"] = projected
            described["timings"] = {"project_s": round(time.perf_counter() - t0, 3)}
        manifest = _manifest(inputs, settings, key, described, day)
        attrs = {
            "scenario": inputs.scenario.name,
            "input_hash": manifest["input_hash"],
            "fit_key": key,
            "seed": settings.seed,
            "forecast_version": __version__,
            "converged": int(manifest["converged"]),
            **{k: manifest[k] for k in ("origin_date", "evidence_end") if manifest[k]},
        }
        idata = with_predictions(idata, proj, {**attrs, **drawn})
        table = with_sensitivity(summarize(proj), forecast_sensitivity(idata))

        def write(folder: Path) -> None:
            idata.to_netcdf(str(folder / "posterior.nc"))
            table.to_csv(folder / "forecast.csv", index=False, float_format="%.6f")
            copy_inputs(inputs, folder / "inputs")

        manifest["wall_time_s"] = round(time.perf_counter() - t0, 3)
        run = store.write(new_run_id(manifest["input_hash"]), manifest, write)
    source = None if base is None else manifest["reused"]["projected_from"]
    return UpdateResult(run, fitted=True, converged=manifest["converged"], projected_from=source)


def _fitted(inputs, settings, on_phase, store, cold: bool, start):
    """A new fit (``fit_inputs``): its posterior, projection, draw attributes and the manifest
    fields that describe how it was made."""
    fit, proj, keys = fit_inputs(
        inputs, settings, on_phase=on_phase, store=None if cold else store, origin=start
    )
    described = {
        "sampler_used": asdict(fit.settings),  # after any retries (see failed_attempts)
        "diagnostics": fit.diagnostics.to_dict(),
        "converged": fit.diagnostics.converged,
        **keys,
        "failed_attempts": fit.failed_attempts,
        "reused": fit.reused,
        "timings": {k: round(v, 3) for k, v in fit.timings.items()},
    }
    return fit.idata, proj, draws_attrs(fit), described


def _manifest(inputs: Inputs, settings: SamplerSettings, key: str, described: dict, day) -> dict:
    """A run's manifest: what went in (``provenance``), how the posterior was made, the origin,
    the evidence's end, the horizons and the peak memory."""
    ends = evidence_end(inputs)
    return {
        **provenance(inputs, seed=settings.seed, settings=settings, settings_key="sampler"),
        "fit_key": key,
        **described,
        "origin_date": day,
        "evidence_end": ends.isoformat() if ends else None,
        "horizons": list(inputs.scenario.horizons),
        "evidence_rows": len(inputs.evidence.frame),
        "peak_rss_mb": peak_rss_mb(),
    }


def _stored(store: RunStore, key: str, day, cold: bool) -> Run | None:
    """The latest run of fit ``key`` from origin ``day`` (``...``: any), unless ``cold`` asks for
    a sampled fit and its draws were reweighted."""
    run = store.find(key, day)
    if cold and run is not None and run.manifest["diagnostics"].get("method") == "psis":
        return None
    return run


def _lender(store: RunStore, key: str, cold: bool) -> Run | None:
    """The latest intact run of fit ``key`` from any origin, to re-project (None: fit afresh)."""
    run = _stored(store, key, ..., cold)
    if run is None:
        return None
    try:
        return store.load(run.id)  # its files checked against the manifest's hashes
    except StoreError as exc:
        warnings.warn(f"not re-projecting run {run.id}: {exc}", CorruptRunWarning, stacklevel=3)
        return None


def _reprojected(base: Run, inputs: Inputs, origin: date | None, seed: int):
    """``base``'s run file, a projection of its posterior from ``origin`` and its key."""
    idata = base.posterior()
    design = build_design(inputs.scenario, inputs.evidence)
    proj = project(inputs.scenario, design, idata, seed=seed, origin=origin)
    return idata, proj, projection_key(inputs, design, seed, origin)


def forecast_table(run: Run) -> pd.DataFrame:
    """The run's forecast table with every horizon's calendar end (``end_date``, ISO).

    A run written before ``end_date`` was stored gets it from the month of its manifest's
    ``origin_date`` (the last evidence month, as in the fit), by the same ``month_end``.
    """
    df = run.forecast()
    origin = run.manifest.get("origin_date")
    if "end_date" not in df and isinstance(origin, str):
        ends = [month_end(origin[:7], int(h)).isoformat() for h in df["horizon_months"]]
        df.insert(list(df.columns).index("horizon_months") + 1, "end_date", ends)
    return df


def forecast_records(run: Run) -> list[dict]:
    """The run's forecast table as JSON-ready records (``candidate`` None for whole outcomes)."""
    df = forecast_table(run)
    recs = []
    for r in df.itertuples(index=False):
        cand = r.candidate if isinstance(r.candidate, str) and r.candidate else None
        recs.append(
            {
                "outcome": r.outcome,
                "candidate": cand,
                "horizon_months": int(r.horizon_months),
                "end_date": getattr(r, "end_date", None),
                "probability": float(r.probability),
                "lower": float(r.lower),
                "upper": float(r.upper),
                **_sensitivity_fields(r),
            }
        )
    return recs


def _sensitivity_fields(r) -> dict:
    """Monte Carlo error and prior-versus-data reading of one forecast row (None for runs made
    before they were computed)."""

    def num(name: str) -> float | None:
        v = getattr(r, name, None)
        return None if v is None or pd.isna(v) else float(v)

    verdict = getattr(r, "evidence_verdict", None)
    return {
        **{c: num(c) for c in SENSITIVITY_COLUMNS},
        "evidence_verdict": verdict if isinstance(verdict, str) and verdict else None,
    }
