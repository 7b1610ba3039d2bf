"""Benchmark: the backtest's wall time with 1 and with 2 local Dask workers.

Run from the repository root, with ``../shared`` beside it::

    python benchmarks/bench_backtest.py          # dev questions of 2024-10..12: 5 scenario fits
    python benchmarks/bench_backtest.py --from 2011-01-01 --to 2025-12-31   # every dev question

Each run is ``forecast backtest --as-of 2022-12-31`` on the dev questions whose reference date
(``lead_ref_date``: the scheduled close, or the day the event happened) falls in the window, and
their crowd series: scenario fits at the origin months with linked questions, a calibration fit
at every origin month. Each runs in a new process with empty compile caches of its own, so the
two runs pay the same compiling. Fits are seeded per month, so the two runs must give the same
scores (``same_scores``). The last line printed is one JSON object with the results.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ROOT.parent / "shared" / "data" / "questions"
QS, CROWD = "questions_dev.csv", "crowd_series_dev.csv"


def subset(folder: Path, start: str, end: str) -> int:
    """Write the dev questions whose reference date is in the window, and their crowd series,
    into ``folder``; return how many questions."""
    read = {"dtype": str, "keep_default_na": False}
    q = pd.read_csv(QUESTIONS / QS, **read)
    day = pd.to_datetime(q["lead_ref_date"], errors="coerce")
    picked = q[(day >= start) & (day <= end)]
    crowd = pd.read_csv(QUESTIONS / CROWD, **read)
    keys = set(zip(picked["platform"], picked["id"], strict=True))
    mine = [k in keys for k in zip(crowd["platform"], crowd["id"], strict=True)]
    picked.to_csv(folder / QS, index=False)
    crowd[mine].to_csv(folder / CROWD, index=False)
    return len(picked)


def backtest(folder: Path, out: Path, workers: int, seed: int, caches: Path) -> dict:
    """One ``forecast backtest`` in a new process: its wall time, scores and fit table."""
    env = os.environ | {
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "PYTENSOR_FLAGS": f"base_compiledir={caches / 'pytensor'}",
        "NUMBA_CACHE_DIR": str(caches / "numba"),
    }
    cmd = [
        *(sys.executable, "-m", "forecast", "backtest", "--questions", str(folder / QS)),
        *("--crowd", str(folder / CROWD), "--as-of", "2022-12-31"),
        *("--workers", str(workers), "--seed", str(seed), "--out", str(out)),
        *("--format", "json", "--quiet"),
    ]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"backtest with {workers} worker(s) failed:\n{proc.stderr[-3000:]}")
    scores = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"wall_s": round(wall, 1), "scores": scores, "fits": pd.read_csv(out / "fits.csv")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--from", dest="start", default="2024-10-01", help="first reference day")
    ap.add_argument("--to", dest="end", default="2024-12-31", help="last reference day")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    if not QUESTIONS.is_dir():
        sys.exit(f"{QUESTIONS} not found: the benchmark reads the shared dev questions")
    runs = {}
    with tempfile.TemporaryDirectory(prefix="bench-backtest-") as tmp:
        tmp = Path(tmp)
        n = subset(tmp, args.start, args.end)
        for workers in (1, 2):
            out, caches = tmp / f"out-{workers}", tmp / f"caches-{workers}"
            runs[workers] = backtest(tmp, out, workers, args.seed, caches)
    fits = runs[1]["fits"]
    kinds = fits["fit"].value_counts().to_dict()
    print(f"{n} dev questions with reference days {args.start} to {args.end}; fits {kinds}")
    for workers, r in runs.items():
        print(f"  {workers} worker(s): {r['wall_s']:8.1f} s")
    scenario = fits[fits["fit"] == "scenario"]
    result = {
        "questions": n,
        "scenario_fits": len(scenario),
        "scenario_fits_converged": int(scenario["converged"].sum()),
        "calibration_fits": int(kinds.get("calibration", 0)),
        "wall_1_worker_s": runs[1]["wall_s"],
        "wall_2_workers_s": runs[2]["wall_s"],
        "speedup_2_over_1": round(runs[1]["wall_s"] / runs[2]["wall_s"], 3),
        "same_scores": runs[1]["scores"] == runs[2]["scores"],
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
