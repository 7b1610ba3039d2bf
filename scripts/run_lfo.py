"""Leave-future-out comparison of a scenario with and without its learned dynamics.

Exact refits at fixed origins (``forecast.skill.lfo``): for each origin month, a fit on the evidence
known before it began scores the evidence that became public during it, per evidence kind. The
``fixed`` variant is the scenario with its learned reversions, correlated innovations and coder
effect switched off (the model before issue 14 item 3); ``learned`` is the scenario as written.

    python scripts/run_lfo.py --months 2024-07 2025-01 2025-07 2026-01 --out lfo.csv
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from forecast.data.inputs import load_inputs
from forecast.data.scenario import Scenario
from forecast.inference.sampling import SamplerSettings
from forecast.skill.lfo import one_step


def fixed_dynamics(s: Scenario) -> Scenario:
    """``s`` with fixed reversions, independent innovations and no coder effect."""
    raw = s.model_dump()
    for f in raw["factors"].values():
        if f.get("reversion"):
            f["reversion"]["sd"] = None
    raw["correlation"] = None
    raw["event_signal"]["month_noise"] = None
    return Scenario.model_validate(raw)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--months", nargs="+", required=True, help="origin months (YYYY-MM)")
    ap.add_argument("--root", type=Path, default=Path("."), help="project folder")
    ap.add_argument("--scenario", default="israel_russia", help="scenario name")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--variants", nargs="+", default=["fixed", "learned"])
    ap.add_argument("--out", type=Path, default=Path("lfo.csv"))
    args = ap.parse_args()

    inputs = load_inputs(args.scenario, args.root)
    variants = {"learned": inputs.scenario, "fixed": fixed_dynamics(inputs.scenario)}
    rows: list[dict] = []
    t0 = time.perf_counter()
    for month in map(pd.Period, args.months):  # both variants of an origin before the next
        for name in args.variants:
            settings = SamplerSettings(seed=args.seed * 100_003 + month.ordinal, retries=1)
            step = one_step(inputs, month, settings, scenario=variants[name])
            rows += step.rows(name)
            pd.DataFrame(rows).to_csv(args.out, index=False)
            lpd = ", ".join(f"{k} {v:.2f}" for k, v in step.lpd.items())
            print(f"{time.perf_counter() - t0:7.0f}s {name} {month}: {lpd}", flush=True)
    table = pd.DataFrame(rows).pivot_table(
        index=["month", "kind"], columns="variant", values="lpd", aggfunc="sum"
    )
    print(table.to_string())
    if {"fixed", "learned"} <= set(table.columns):
        var = (
            pd.DataFrame(rows).pivot_table(
                index=["month", "kind"], columns="variant", values="mcse", aggfunc="sum"
            )
            ** 2
        )
        diff = table["learned"] - table["fixed"]
        se = (var["learned"] + var["fixed"]).groupby(level="kind").sum() ** 0.5
        by_kind = pd.DataFrame({"learned - fixed": diff.groupby(level="kind").sum(), "mcse": se})
        print(by_kind.to_string())
        total_se = float((var["learned"] + var["fixed"]).sum() ** 0.5)
        print(f"total: {diff.sum():.2f} (Monte Carlo se {total_se:.2f})")


if __name__ == "__main__":
    main()
