"""Leave-future-out comparison of a scenario with and without its learned dynamics.

At each origin month (``forecast.skill.lfo.leave_future_out``), the evidence known before it began
scores the evidence that became public during it, per evidence kind, from the last fit's draws
reweighted by what became public since (PSIS-LFO: refitted when k̂ > 0.7; ``--exact`` refits at
every origin). Each kind is scored jointly and by group (event cells, rows; see
``forecast.skill.lfo``); the progress lines print both, joint/by group.
The ``fixed`` variant is the scenario with its learned reversions, correlated and heavy-tailed
innovations and coder effect switched off (the model before issue 14 item 3); ``learned`` is the
scenario as written; ``heavy`` is it with Student-t innovations (``HEAVY_TAILS``).

    python scripts/run_lfo.py --months 2024-07 2025-01 2025-07 2026-01 --out lfo.csv
    python scripts/run_lfo.py --from 2024-07 --to 2026-06 --out lfo.csv   # every month
    python scripts/run_lfo.py --compare lfo_learned.csv lfo_fixed.csv      # variants run apart
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
from scipy import stats

from forecast.data.inputs import load_inputs
from forecast.data.scenario import Scenario
from forecast.inference.gate import Gate
from forecast.inference.sampling import SamplerSettings
from forecast.skill.lfo import leave_future_out

# A month's estimate is trusted when it rests on at least this share of the draws (its importance
# efficiency): 5 % of 4000 draws is an effective sample of 200, where the delta-method error holds
MIN_EFFICIENCY = 0.05


# The heavy-tailed variant's innovations: the default scenario does not use them (its fits fail
# the gate on the innovation correlation; see README, "The model in one paragraph")
HEAVY_TAILS = {
    "df": 4.0,
    "rationale": "Regime changes (the 2024-11 ceasefire, Assad's fall) as one month's step; "
    "4 degrees of freedom, the usual robust default",
    "source": "Lange, Little and Taylor (1989), JASA 84; issue 14 (counts lost at the ceasefire)",
}


def heavy_tails(s: Scenario) -> Scenario:
    """``s`` with Student-t factor innovations (``HEAVY_TAILS``)."""
    return Scenario.model_validate(s.model_dump() | {"innovations": HEAVY_TAILS})


def fixed_dynamics(s: Scenario) -> Scenario:
    """``s`` with fixed reversions, independent Gaussian innovations and no coder effect."""
    raw = s.model_dump()
    for f in raw["factors"].values():
        if f.get("reversion"):
            f["reversion"]["sd"] = None
    raw["correlation"] = None
    raw["innovations"] = None
    raw["event_signal"]["month_noise"] = None
    return Scenario.model_validate(raw)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--months", nargs="+", default=[], help="origin months (YYYY-MM)")
    ap.add_argument("--from", dest="start", help="first origin month of a monthly range")
    ap.add_argument("--to", dest="end", help="last origin month of a monthly range")
    ap.add_argument("--exact", action="store_true", help="refit at every origin")
    ap.add_argument("--root", type=Path, default=Path("."), help="project folder")
    ap.add_argument("--scenario", default="israel_russia", help="scenario name")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--variants", nargs="+", default=["fixed", "learned"])
    ap.add_argument("--out", type=Path, default=Path("lfo.csv"))
    ap.add_argument(
        "--compare", nargs="+", type=Path, help="only compare the rows of earlier --out files"
    )
    ap.add_argument(
        "--min-efficiency",
        type=float,
        default=MIN_EFFICIENCY,
        help="share of the draws a month's estimate must rest on to count as trusted",
    )
    args = ap.parse_args()
    if args.compare:
        rows = pd.concat([pd.read_csv(p) for p in args.compare], ignore_index=True)
        report(rows, args.min_efficiency)
        return
    months = [pd.Period(m, "M") for m in args.months]
    if args.start and args.end:
        months += list(pd.period_range(args.start, args.end, freq="M"))
    if not months:
        ap.error("give --months or --from and --to")

    inputs = load_inputs(args.scenario, args.root)
    variants = {
        "learned": inputs.scenario,
        "fixed": fixed_dynamics(inputs.scenario),
        "heavy": heavy_tails(inputs.scenario),
    }
    gate = Gate(k_hat_max=-float("inf")) if args.exact else Gate()
    settings = SamplerSettings(seed=args.seed, retries=1)
    rows: list[dict] = []
    t0 = time.perf_counter()
    for name in args.variants:

        def done(step, name=name):
            rows.extend(step.rows(name))
            pd.DataFrame(rows).to_csv(args.out, index=False)
            lpd = ", ".join(
                f"{k} {v:.2f}/{step.lpd_groups[k]:.2f}" for k, v in step.lpd.items() if v
            )
            how = "refit" if step.pareto_k is None else f"k̂ {step.pareto_k:.2f}"
            print(
                f"{time.perf_counter() - t0:7.0f}s {name} {step.month} ({how}): {lpd}", flush=True
            )

        leave_future_out(inputs, months, settings, scenario=variants[name], gate=gate, on_step=done)
    report(pd.DataFrame(rows), args.min_efficiency)


def report(rows: pd.DataFrame, min_efficiency: float) -> None:
    """Both scores: joint per month and kind, and by group."""
    for score, se, eff, what in (
        ("lpd", "mcse", "efficiency", "joint"),
        ("lpd_groups", "mcse_groups", "efficiency_groups", "by group"),
    ):
        print(f"\n{score} ({what})")
        compare(rows, score, se, eff, min_efficiency)


# the comparisons printed when both variants' rows are present: (variant, baseline)
PAIRS = (("learned", "fixed"), ("heavy", "learned"), ("heavy", "fixed"))


def compare(rows: pd.DataFrame, score: str, se: str, eff: str, min_efficiency: float) -> None:
    """Print ``score`` by month and kind per variant and, for each pair of ``PAIRS`` present,
    variant - baseline per kind with Monte Carlo errors (months' errors independent: separate fits
    or reweightings), the months' signs, and the difference over the months whose estimates rest
    on at least ``min_efficiency`` of the draws in both variants."""
    cols = rows.pivot_table(
        index=["month", "kind"], columns="variant", values=[score, se, eff, "new_rows"]
    )
    table = cols[score]
    print(table.to_string())
    for a, b in PAIRS:
        if {a, b} <= set(table.columns):
            _pair(cols, score, se, eff, a, b, min_efficiency)


def _pair(cols, score, se, eff, a: str, b: str, min_efficiency: float) -> None:
    name = f"{a} - {b}"
    pair_var = cols[se][a] ** 2 + cols[se][b] ** 2
    diff = cols[score][a] - cols[score][b]
    by_kind = pd.DataFrame(
        {
            name: diff.groupby(level="kind").sum(),
            "mcse": pair_var.groupby(level="kind").sum() ** 0.5,
        }
    )
    print(f"\n{by_kind.to_string()}")
    by_month = diff.groupby(level="month").sum()
    moved = by_month[by_month != 0]
    ahead = int((moved > 0).sum())
    tests = ""
    if len(moved):
        sign_p = stats.binomtest(ahead, len(moved)).pvalue
        tests = f" (sign test p {sign_p:.3f}, Wilcoxon p {stats.wilcoxon(moved).pvalue:.3f})"
    print(
        f"total: {diff.sum():.2f} (Monte Carlo se {float(pair_var.sum()) ** 0.5:.2f}); "
        f"{a} ahead in {ahead} of {len(moved)} months with a difference{tests}"
    )
    new = cols["new_rows"][[a, b]].max(axis=1)
    sure = (cols[eff][[a, b]].min(axis=1) >= min_efficiency) & (new > 0)
    for kind, d in diff[sure].groupby(level="kind"):
        print(
            f"{kind}: {len(d)} months rest on >= {min_efficiency:.0%} of the draws in both "
            f"variants ({int(new[sure].xs(kind, level='kind').sum())} rows): "
            f"{name} {d.sum():+.2f}, ahead in {int((d > 0).sum())}"
        )


if __name__ == "__main__":
    main()
