"""Fit the default scenario and its measured variant at one origin and seed, and compare forecasts.

The variant, ``israel_russia_measured``, is the README's ("Importing measured evidence"): a copy of
``priors/israel_russia.toml`` with the README's indicator block added and a copy of
``data/israel_russia/``, into which ``imports/israel_russia_measured.toml`` imports ACLED Lebanon
counts and a Polymarket price history from ``../shared/data`` (read in place, never committed).
Everything is built in ``--out``; the repository is not touched.

    python scripts/compare_measured_variant.py --out /tmp/measured --origin 2026-12-03
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd

from forecast.runs.store import RunStore

ROOT = Path(__file__).resolve().parents[1]
VARIANT = "israel_russia_measured"
COLUMNS = ["probability", "lower", "upper", "evidence_verdict", "likelihood_sensitivity"]


def readme_block(marker: str) -> str:
    """The README's ```toml block after ``marker``."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    after = text[text.index(marker) :]
    start = after.index("```toml\n") + len("```toml\n")
    return after[start : after.index("```", start)]


def build_variant(out: Path) -> None:
    """The variant's scenario and evidence in ``out``, with the mapping's imports applied."""
    (out / "priors").mkdir(parents=True, exist_ok=True)
    base = (ROOT / "priors" / "israel_russia.toml").read_text(encoding="utf-8")
    text = base.replace('name = "israel_russia"', f'name = "{VARIANT}"')
    (out / "priors" / f"{VARIANT}.toml").write_text(
        text + "\n" + readme_block("What a variant scenario adds"), encoding="utf-8"
    )
    shutil.copytree(ROOT / "data" / "israel_russia", out / "data" / VARIANT, dirs_exist_ok=True)
    (out / "imports").mkdir(exist_ok=True)
    mapping = out / "imports" / f"{VARIANT}.toml"
    shutil.copy(ROOT / "imports" / f"{VARIANT}.toml", mapping)
    # the mapping's paths are relative to its folder: point them at ../shared beside the repo
    shared = (ROOT.parent / "shared").as_posix()
    mapping.write_text(mapping.read_text().replace("../../shared", shared), encoding="utf-8")
    forecast("evidence", "import", str(mapping), "--root", str(out))


def forecast(*args: str) -> None:
    """Run a ``forecast`` command in a new process, as a user would."""
    subprocess.run([str(Path(sys.executable).with_name("forecast")), *args], check=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="scratch folder")
    ap.add_argument("--origin", required=True, help="forecast origin (YYYY-MM-DD), both fits")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    build_variant(args.out)
    fit = ("--seed", str(args.seed), "--origin", args.origin)
    forecast("update", "--root", str(ROOT), "--runs", str(args.out / "runs_default"), *fit)
    forecast(
        "update",
        "--scenario",
        VARIANT,
        "--root",
        str(args.out),
        "--runs",
        str(args.out / "runs_variant"),
        *fit,
    )
    key = ["outcome", "candidate", "horizon_months"]
    runs = {n: RunStore(args.out / f"runs_{n}").latest() for n in ("default", "variant")}
    a, b = (runs[n].forecast()[key + COLUMNS] for n in ("default", "variant"))
    m = a.merge(b, on=key, suffixes=("_default", "_variant"))
    m["change_pp"] = 100 * (m["probability_variant"] - m["probability_default"])
    pd.set_option("display.width", 250)
    print(m.round(3).to_string(index=False))
    print(pd.crosstab(m["evidence_verdict_default"], m["evidence_verdict_variant"]))
    for n, run in runs.items():
        dg = run.manifest["diagnostics"]
        print(
            f"{n}: converged {run.manifest['converged']}, R-hat {dg['max_rhat']:.3f}, "
            f"ESS {dg['min_ess_bulk']:.0f}, divergences {dg['divergences']}, "
            f"failed attempts {len(run.manifest.get('failed_attempts', []))}"
        )


if __name__ == "__main__":
    main()
