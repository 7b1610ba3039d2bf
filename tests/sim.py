"""Helpers shared by the sampling tests: small fits of the mini scenario, data variants of its
evidence, and Monte Carlo error of posterior means.

Every fit goes through ``forecast.inference.sampling.sample``, which compiles a model structure once
per process and swaps the data in for later fits of the same structure: all mini-scenario fits in a
test session (these helpers, the recovery test, the CLI tests) share one numba compilation.
"""

from __future__ import annotations

from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd

from forecast.data.evidence import Evidence
from forecast.data.inputs import Inputs, load_inputs
from forecast.inference.sampling import Diagnostics, Fit, SamplerSettings, sample
from forecast.model.build import build_model
from forecast.model.design import Design, build_design
from forecast.model.posterior import Projection, project

MINI_ROOT = Path(__file__).parent / "fixtures" / "mini"
MINI_MONTHS = 18  # 2022-01 .. 2023-06, the span of the mini evidence log
FAST = SamplerSettings(chains=2, draws=400, tune=400, cores=2, seed=7)
# the skill tests' stubbed fits: settings passed through, never sampled, and a gate they passed
QUICK = SamplerSettings(chains=2, draws=10, tune=10, cores=1, seed=5)
DIAG = Diagnostics(
    max_rhat=1.001, min_ess_bulk=900.0, min_ess_tail=800.0, divergences=0, draws=10, chains=2,
    converged=True,
)  # fmt: skip


def mini_inputs() -> Inputs:
    return load_inputs("mini", MINI_ROOT)


def with_rows(ev: Evidence, rows: list[dict]) -> Evidence:
    """``ev`` plus rows given as partial evidence-frame records (month, kind, target, value...)."""
    recs = []
    for i, r in enumerate(rows):
        month = int(r["month"])
        y, m = divmod(month, 12)
        rec = {
            "file": "extra.csv",
            "row": i + 2,
            "date": pd.Timestamp(2022 + y, m + 1, 1),
            "outcome": None,
            "candidate": None,
            "horizon_months": None,
            "exposure_days": None,
            "forecaster": None,
            "source": "test",
            "source_url": "https://example.org/test",
            "note": "",
        }
        rec.update(r)
        if rec["kind"] in ("forecast", "likelihood_ratio", "resolution"):
            outcome, _, cand = rec["target"].partition(":")
            rec.update(outcome=outcome, candidate=cand or None)
        recs.append(rec)
    frame = pd.concat([ev.frame, pd.DataFrame(recs)], ignore_index=True)
    frame = frame.sort_values(["date", "file", "row"], kind="stable").reset_index(drop=True)
    return Evidence(frame=frame, files=ev.files)


def fit_design(
    inputs: Inputs, ev: Evidence, settings: SamplerSettings = FAST, n_months: int = MINI_MONTHS
) -> tuple[Design, Fit]:
    d = build_design(inputs.scenario, ev, n_months=n_months)
    return d, sample(build_model(inputs.scenario, d), settings)


def projection(inputs: Inputs, d: Design, fit: Fit, seed: int = 1) -> Projection:
    return project(inputs.scenario, d, fit.idata, seed=seed, n_paths=8)


def mean_se(x: np.ndarray) -> tuple[float, float]:
    """Posterior mean of per-draw values shaped (chain, draw) and its Monte Carlo standard error."""
    return float(x.mean()), float(az.mcse(az.convert_to_dataset(x))["x"].values)


def chain_draw(values: np.ndarray, fit: Fit) -> np.ndarray:
    """Per-sample values (chain and draw merged, as in ``Projection``) back to (chain, draw)."""
    c, d = fit.idata.posterior.sizes["chain"], fit.idata.posterior.sizes["draw"]
    return values.reshape(c, d)
