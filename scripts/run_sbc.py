"""Simulation-based calibration of the model on the one-factor SBC scenario, or on a whole scenario.

The SBC driver and its scenario are in ``forecast.skill.sbc``, the simulator in
``forecast.skill.simulation``. With ``--scenario NAME`` the replications have that scenario's
structure: its factors, outcomes and indicators, and an evidence log shaped like its own (the same
rows by kind, target and month; ``Plan.like``).

Runs N replications (draw parameters and evidence of every kind from the prior, fit, rank each
true value among thinned posterior draws), then writes the ranks, the per-fit diagnostics and a
rank histogram per quantity (CSV and PNG), and prints uniformity p-values.

    python scripts/run_sbc.py --reps 200 --out sbc_out
    python scripts/run_sbc.py --scenario israel_russia --reps 20 --out sbc_default
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from forecast.data.inputs import load_inputs
from forecast.inference.sampling import SamplerSettings
from forecast.report.plots import sbc_histograms
from forecast.skill.plan import Plan, structure_quantities
from forecast.skill.sbc import run_sbc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=100, help="replications (default 100)")
    ap.add_argument("--seed", type=int, default=1, help="seed of the simulations")
    ap.add_argument("--draws", type=int, default=300, help="posterior draws per chain")
    ap.add_argument("--tune", type=int, default=300, help="warm-up draws per chain")
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--thin", type=int, default=3, help="keep every n-th draw for the ranks")
    ap.add_argument("--bins", type=int, default=10, help="histogram / chi-square bins")
    ap.add_argument("--scenario", help="a scenario's structure instead of the SBC scenario")
    ap.add_argument("--root", type=Path, default=Path("."), help="project folder (--scenario)")
    ap.add_argument("--out", type=Path, default=Path("sbc_out"), help="output folder")
    args = ap.parse_args()

    settings = SamplerSettings(
        chains=args.chains,
        draws=args.draws,
        tune=args.tune,
        seed=args.seed * 1000,
        low_rank_mass_matrix=False,  # short fits: see SamplerSettings
    )
    t0 = time.perf_counter()

    def progress(i: int, fit) -> None:
        dg = fit.diagnostics
        print(
            f"rep {i + 1}/{args.reps}  {time.perf_counter() - t0:7.1f}s  "
            f"divergences={dg.divergences} min_ess={dg.min_ess_bulk:.0f} rhat={dg.max_rhat:.3f}",
            flush=True,
        )

    shape = {}
    if args.scenario:
        inputs = load_inputs(args.scenario, args.root)
        s = inputs.scenario
        shape = {
            "scenario": s,
            "plan": Plan.like(s, inputs.evidence),
            "quantities": structure_quantities(s),
        }
    res = run_sbc(
        args.reps, seed=args.seed, settings=settings, thin=args.thin, on_rep=progress, **shape
    )
    args.out.mkdir(parents=True, exist_ok=True)
    res.ranks.to_csv(args.out / "ranks.csv", index=False)
    res.fits.to_csv(args.out / "fits.csv", index=False)
    hist = res.histogram(args.bins)
    hist.to_csv(args.out / "rank_histogram.csv")
    p = res.pvalues(args.bins)
    p.to_csv(args.out / "pvalues.csv", index=False)
    sbc_histograms(hist, args.reps).savefig(args.out / "rank_histograms.png", dpi=120)
    print(f"wrote {args.out / 'rank_histograms.png'}")
    fits = res.fits
    print(
        f"\n{args.reps} replications, {res.n_draws} thinned draws each, "
        f"{time.perf_counter() - t0:.0f}s; fits with divergences: "
        f"{(fits['divergences'] > 0).sum()}, max R-hat {fits['max_rhat'].max():.3f}, "
        f"median min bulk ESS {fits['min_ess_bulk'].median():.0f}"
    )
    print(p.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
