"""Which evidence moved a forecast, without refitting.

Leaving a set of evidence rows out of the fit is approximated by Pareto-smoothed importance sampling
(PSIS) on the stored pointwise log-likelihood: each draw is reweighted by 1 / p(rows | draw), and
the forecast probabilities stored per draw are re-averaged under those weights. The Pareto k̂ of the
weights says whether the approximation can be trusted (above the gate's limit: refit without the
rows instead).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from forecast.data.inputs import Inputs
from forecast.data.rules import COLUMNS
from forecast.data.target import Target
from forecast.inference.gate import DEFAULT_GATE, Gate
from forecast.inference.reweighting import psis_weights
from forecast.model.design import build_design
from forecast.model.loglik import row_log_likelihood
from forecast.runs.store import Run


@dataclass(frozen=True)
class Influence:
    """Effect of leaving ``rows`` out: P(full fit) - P(fit without them), per horizon."""

    label: str
    rows: list[int]
    effect: dict[int, float]  # horizon -> change in probability the rows caused
    k_hat: float
    k_hat_max: float = DEFAULT_GATE.k_hat_max  # the gate's limit the estimate was judged by

    @property
    def reliable(self) -> bool:
        """Whether PSIS can measure the effect (k̂ within the gate); if not, refit to measure it."""
        return self.k_hat <= self.k_hat_max


def _target_probs(idata: xr.DataTree, outcome: str, candidate: str | None) -> np.ndarray:
    """(sample, horizon) per-draw probabilities of one target."""
    p = idata["predictions"]["probability"]
    label = str(Target(outcome, candidate))
    if label not in p["target"].values:
        raise KeyError(f"no forecast target {label!r} in this run")
    sel = p.sel(target=label)
    return sel.values.reshape(-1, sel.sizes["horizon"])


def _psis_effect(ll_rows: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, float]:
    """(P_full - P_without, k̂) for leaving out rows whose summed log-lik per draw is ``ll_rows``."""
    w, k_hat = psis_weights(-ll_rows)
    return probs.mean(axis=0) - w @ probs, k_hat


def evidence_label(frame: pd.DataFrame, row: int) -> str:
    r = frame.loc[row]
    return f"{r['kind']}:{r['target']}"


def influences(
    run: Run,
    outcome: str,
    candidate: str | None = None,
    *,
    inputs: Inputs | None = None,
    groups: dict[str, list[int]] | None = None,
    gate: Gate = DEFAULT_GATE,
) -> list[Influence]:
    """Influence of each evidence group (default: kind and target) on one target's forecast.

    Sorted by the size of the effect at the middle horizon; ``gate`` says which are reliable.
    """
    inputs = inputs or run.inputs()
    idata = run.posterior()
    design = build_design(inputs.scenario, inputs.evidence)
    ll, row_ids = row_log_likelihood(idata, design)
    col = {r: i for i, r in enumerate(row_ids)}
    probs = _target_probs(idata, outcome, candidate)
    horizons = [int(h) for h in idata["predictions"]["horizon"].values]
    frame = inputs.evidence.frame
    if groups is None:
        groups = {}
        for r in row_ids:
            groups.setdefault(evidence_label(frame, r), []).append(int(r))
    out = []
    for label, rows in groups.items():
        cols = [col[r] for r in rows if r in col]
        if not cols:
            continue
        eff, k = _psis_effect(ll[:, cols].sum(axis=1), probs)
        effect = dict(zip(horizons, eff.tolist(), strict=True))
        out.append(Influence(label, rows, effect, k, gate.k_hat_max))
    mid = horizons[len(horizons) // 2]
    return sorted(out, key=lambda i: -abs(i.effect[mid]))


def _row_key(frame: pd.DataFrame, i: int) -> tuple:
    """A row's identity across runs: its content, not its file, position or note."""
    r = frame.loc[i]
    return tuple(str(r[c]) for c in COLUMNS if c != "note")


def new_rows(current: Inputs, previous: Inputs) -> list[int]:
    """Rows of ``current`` evidence (frame index) that were not in ``previous``."""
    before = {_row_key(previous.evidence.frame, i) for i in previous.evidence.frame.index}
    fr = current.evidence.frame
    return [int(i) for i in fr.index if _row_key(fr, i) not in before]


@dataclass(frozen=True)
class Change:
    """How a target's forecast changed between two runs, and what the new rows did."""

    previous: dict[int, float]
    current: dict[int, float]
    added_rows: list[int]
    joint: Influence | None  # all added rows together
    by_row: list[Influence]  # each added row alone, largest first


def change_since(
    run: Run,
    previous: Run,
    outcome: str,
    candidate: str | None = None,
    gate: Gate = DEFAULT_GATE,
) -> Change:
    """Attribute the change since ``previous`` to the evidence added since then (PSIS, no refit);
    ``gate`` says which attributions are reliable."""
    cur_in, prev_in = run.inputs(), previous.inputs()
    added = new_rows(cur_in, prev_in)

    def probs(r: Run) -> dict[int, float]:
        df = r.forecast()
        sel = (df["outcome"] == outcome) & (
            df["candidate"].isna() if candidate is None else df["candidate"] == candidate
        )
        return {
            int(h): float(p)
            for h, p in zip(df[sel]["horizon_months"], df[sel]["probability"], strict=True)
        }

    joint, by_row = None, []
    if added:
        frame = cur_in.evidence.frame
        groups = {"all added rows": added}
        joint = influences(run, outcome, candidate, inputs=cur_in, groups=groups, gate=gate)[0]
        by_row = influences(
            run,
            outcome,
            candidate,
            inputs=cur_in,
            groups={f"{r}:{evidence_label(frame, r)}": [r] for r in added},
            gate=gate,
        )
    return Change(probs(previous), probs(run), added, joint, by_row)
