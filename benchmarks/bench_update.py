"""Benchmark: plain ``pm.sample`` against the project's fit path, and cold/warm ``forecast update``.

Run from the repository root (about 15 minutes on 2 cores)::

    python benchmarks/bench_update.py            # add --skip-baseline to time only the updates

1. Baseline, in this process (run last): ``pm.sample`` with its defaults (4 chains, 1000 tune +
   1000 draws) on the default scenario's model; wall time includes compilation. It shares the
   PyTensor cache the updates filled (C code of the log-likelihood functions), which can only
   make it faster: the ratio is, if anything, understated.
2. Cold update: ``forecast update`` of the default scenario in a new process with empty PyTensor
   and numba caches (a private ``base_compiledir``).
3. The same cold update again, into a new run store with the caches the first one filled: its
   draws must equal the first one's byte for byte (``same_draws_across_caches``).
4. Warm update: ``forecast update`` in a new process after one new evidence row, with the caches
   and the run the cold update left behind. It reweights the cold run's posterior by the new row
   (``forecast.inference.reweighting``) when that passes the gate, and samples afresh otherwise;
   the table says which.

ESS is the minimum bulk ESS over the model's free parameters (for a reweighted run, the base
run's ESS times the importance-sampling efficiency); ESS per second divides it by the time spent
producing the draws (compile + sampling, or reweighting). The last line printed is one JSON object
with the results.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = "israel_russia"
NEW_ROW = (
    "2026-07-04,event,iran_hostility,-1,Benchmark: one new evidence row,"
    "https://example.org/benchmark,,,,added by benchmarks/bench_update.py\n"
)


def baseline(seed: int) -> dict:
    """PyMC's own NUTS (``nuts_sampler="pymc"``: PyMC 6 defaults to nutpie) with its defaults on
    the default scenario's model; 4 chains x (1000 tune + 1000 draws) on 2 cores."""
    import pymc as pm

    from forecast.data.inputs import load_inputs
    from forecast.inference.sampling import diagnose, free_parameter_names
    from forecast.model.build import build_model
    from forecast.model.design import build_design

    inputs = load_inputs(SCENARIO, ROOT)
    model = build_model(inputs.scenario, build_design(inputs.scenario, inputs.evidence))
    t0 = time.perf_counter()
    with model:
        idata = pm.sample(
            draws=1000,
            tune=1000,
            chains=4,
            cores=2,
            nuts_sampler="pymc",
            random_seed=seed,
            progressbar=False,
            compute_convergence_checks=False,
        )
    wall = time.perf_counter() - t0
    d = diagnose(idata, free_parameter_names(model))
    sampling = idata["posterior"].attrs.get("sampling_time", float("nan"))
    return {
        "wall_s": wall,
        "sample_s": sampling,
        "compile_s": wall - sampling,
        "min_ess_bulk": d.min_ess_bulk,
        "min_ess_tail": d.min_ess_tail,
        "max_rhat": d.max_rhat,
        "divergences": d.divergences,
        "free_parameters": sum(v.size for v in model.initial_point().values()),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def update(project: Path, runs: Path, env: dict, seed: int) -> dict:
    """One ``forecast update`` in a new process: wall time and the new run's manifest."""
    cmd = [sys.executable, "-m", "forecast", "update", "--root", str(project)]
    cmd += ["--runs", str(runs), "--seed", str(seed), "--quiet"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode not in (0, 3):
        raise RuntimeError(f"forecast update failed ({proc.returncode}):\n{proc.stderr}")
    newest = sorted(p for p in runs.iterdir() if (p / "manifest.json").is_file())[-1]
    manifest = json.loads((newest / "manifest.json").read_text())
    return {"wall_s": wall, "manifest": manifest, "path": newest}


def same_draws(a: Path, b: Path) -> bool:
    """Whether two runs' posterior draws are equal byte for byte, variable by variable."""
    import xarray as xr

    with xr.open_datatree(a / "posterior.nc") as ta, xr.open_datatree(b / "posterior.nc") as tb:
        pa, pb = ta["posterior"].to_dataset(), tb["posterior"].to_dataset()
        return set(pa.data_vars) == set(pb.data_vars) and all(
            pa[v].values.tobytes() == pb[v].values.tobytes() for v in pa.data_vars
        )


def draw_s(m: dict) -> float:
    """Seconds a run spent producing its draws: compile + sampling, or reweighting."""
    t = m["timings"]
    return t.get("compile_s", 0.0) + t.get("sample_s", 0.0) + t.get("reweight_s", 0.0)


def row(name: str, draws_s: float, wall_s: float, ess: float, rss: float, how: str) -> None:
    print(
        f"{name:<24}{draws_s:>10.1f}{wall_s:>10.1f}{ess:>10.0f}{ess / draws_s:>10.2f}"
        f"{rss:>10.0f}  {how}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--skip-baseline", action="store_true")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-update-") as tmp:
        tmp = Path(tmp)
        project = tmp / "project"
        for sub in ("priors", "data"):
            shutil.copytree(ROOT / sub, project / sub)
        env = os.environ | {
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
            "PYTENSOR_FLAGS": f"base_compiledir={tmp / 'pytensor'}",  # empty caches
        }
        cold = update(project, tmp / "runs", env, args.seed)
        again = update(project, tmp / "runs-again", env, args.seed)  # warm caches, same inputs
        same = same_draws(cold["path"], again["path"])
        with open(project / "data" / SCENARIO / "events.csv", "a", encoding="utf-8") as fh:
            fh.write(NEW_ROW)
        warm = update(project, tmp / "runs", env, args.seed)
        # the baseline last, in this process, with the cache the updates filled
        os.environ["PYTENSOR_FLAGS"] = env["PYTENSOR_FLAGS"]
        base = None if args.skip_baseline else baseline(args.seed)

    cm, wm = cold["manifest"], warm["manifest"]
    settings = cm["sampler"]
    print(
        f"default scenario, seed {args.seed}; project sampler: {settings['sampler']}, "
        f"{settings['chains']} chains x {settings['tune']} tune + {settings['draws']} draws"
    )
    print(f"{'':<24}{'draws s':>10}{'wall s':>10}{'min ESS':>10}{'ESS/s':>10}{'RSS MB':>10}  how")
    if base:
        row("pm.sample (defaults)", base["wall_s"], base["wall_s"], base["min_ess_bulk"],
            base["peak_rss_mb"], "compile + NUTS")  # fmt: skip
    updates = (
        ("forecast update, cold", cold),
        ("cold, warm caches", again),
        ("forecast update, warm", warm),
    )
    for name, r in updates:
        m = r["manifest"]
        how = {"nuts": "compile + NUTS", "psis": "PSIS reweighting"}[m["diagnostics"]["method"]]
        row(name, draw_s(m), r["wall_s"], m["diagnostics"]["min_ess_bulk"], m["peak_rss_mb"], how)
    for name, m in (("cold", cm), ("warm", wm)):
        d = m["diagnostics"]
        print(
            f"{name}: converged={m['converged']} R-hat {d['max_rhat']:.3f} bulk ESS "
            f"{d['min_ess_bulk']:.0f} tail ESS {d['min_ess_tail']:.0f} divergences "
            f"{d['divergences']} Pareto k {d.get('pareto_k')}; timings {m['timings']};"
            f" reused {m.get('reused')}; failed attempts {m.get('failed_attempts')}"
        )

    print(f"cold updates with empty and with warm compile caches drew the same draws: {same}")

    def ess_per_s(m: dict) -> float:
        return m["diagnostics"]["min_ess_bulk"] / draw_s(m)

    project_eps = ess_per_s(cm)
    base_eps = base["min_ess_bulk"] / base["wall_s"] if base else None
    result = {
        "ess_per_s_ratio": round(project_eps / base_eps, 2) if base_eps else None,
        "cold_over_baseline_wall": round(cold["wall_s"] / base["wall_s"], 3) if base else None,
        "warm_over_cold_wall": round(warm["wall_s"] / cold["wall_s"], 3),
        "same_draws_across_caches": same,
        "baseline_wall_s": round(base["wall_s"], 1) if base else None,
        "cold_warm_caches_update_s": round(again["wall_s"], 1),
        "warm_ess_per_s_ratio": round(ess_per_s(wm) / base_eps, 2) if base_eps else None,
        "baseline_ess_per_s": round(base_eps, 3) if base_eps else None,
        "project_ess_per_s": round(project_eps, 3),
        "warm_update_s": round(warm["wall_s"], 1),
        "cold_update_s": round(cold["wall_s"], 1),
        "warm_converged": wm["converged"],
        "warm_method": wm["diagnostics"]["method"],
        "warm_pareto_k": wm["diagnostics"].get("pareto_k"),
        "warm_importance_efficiency": wm["diagnostics"].get("importance_efficiency"),
        "cold_converged": cm["converged"],
        "peak_rss_mb": max(cm["peak_rss_mb"], wm["peak_rss_mb"]),
        "baseline_peak_rss_mb": round(base["peak_rss_mb"]) if base else None,
        "baseline": {k: round(v, 3) for k, v in base.items()} if base else None,
        "baseline_settings": {"sampler": "pm.sample", "chains": 4, "tune": 1000, "draws": 1000},
        "settings": settings,
        "seed": args.seed,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
