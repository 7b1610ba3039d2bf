"""A run in plain words: how its draws were made, whether they converged, how old its evidence is,
and the cells of the headline table (percent, estimative word, interval, prior-or-data basis)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date

import pandas as pd

from forecast.data.scenario import Scenario
from forecast.inference.gate import DEFAULT_GATE, Gate
from forecast.report.words import ESTIMATIVE_SCALE, estimative_word, long_date
from forecast.runs.explain import new_rows
from forecast.runs.store import Run

# What each number of an outcome is, by kind; the outcome's own description says what counts
MEANING = {
    "event": "chance it happens by then",
    "persistence": "chance it still holds then",
    "state": "chance the condition is met by then",
}
NO_RULE = "The scenario gives no description of what counts."
STALE_AFTER_DAYS = 30  # evidence older than this when the report is made earns a warning


def _base_run(manifest: dict) -> str | None:
    """The id of the sampled run a reweighted run's draws come from (older runs name it only in
    their ``reused.posterior`` note, which ``forecast.runs.update`` writes as ``run <id> ...``)."""
    reused = manifest.get("reused") or {}
    if reused.get("base_run"):
        return str(reused["base_run"])
    m = re.match(r"run (\S+) \(NUTS\) reweighted", str(reused.get("posterior", "")))
    return m.group(1) if m else None


def _rows(n: int, what: str = "evidence row") -> str:
    """``n`` things in words: ``1 evidence row``, ``3 evidence rows``."""
    return f"{n} {what}" + ("" if n == 1 else "s")


def fit_method(run: Run, runs: Sequence[Run] = (), gate: Gate = DEFAULT_GATE) -> str:
    """How the run's draws were made, in one plain sentence: sampled (NUTS), or an earlier
    sampled run's draws reweighted by the evidence that changed (PSIS, trusted within ``gate``)."""
    m = run.manifest
    d = m.get("diagnostics", {})
    if d.get("method") != "psis":
        return (
            f"This run was sampled (NUTS): its draws come from a fresh fit of the model to all "
            f"{_rows(int(m.get('evidence_rows') or 0))}."
        )
    base_id = _base_run(m)
    base = next((r for r in runs if r.id == base_id), None)
    k_hat = d.get("pareto_k")
    how = f"PSIS, k̂ = {k_hat:.2f}" if isinstance(k_hat, int | float) else "PSIS"
    if base is None:  # not in the store any more: say what the manifest knows
        change = "the evidence that changed since"
    else:
        added = len(new_rows(run.inputs(), base.inputs()))
        dropped = len(new_rows(base.inputs(), run.inputs()))
        change = _rows(added, "new evidence row")
        if dropped:
            change += f" and leave out {dropped} removed or edited"
    return (
        f"This run reweights run {base_id or '(unknown)'}'s draws to include {change} ({how}): it "
        f"did not sample afresh. Reweighting is trusted only when k̂ is at most {gate.k_hat_max}; "
        "the ESS above is the earlier run's, scaled by the reweighting's efficiency."
    )


def staleness(
    evidence_end: str | None, today: date, limit_days: int = STALE_AFTER_DAYS
) -> str | None:
    """A warning when the evidence ends more than ``limit_days`` before ``today``, else None."""
    if not evidence_end:
        return None
    end = date.fromisoformat(evidence_end)
    gap = (today - end).days
    if gap <= limit_days:
        return None
    return (
        f"The evidence ends on {long_date(end)}, {gap} days before this report: the forecasts "
        "do not know what happened since."
    )


def scale_legend() -> list[tuple[str, str]]:
    """The estimative words with their ranges, as (word, range) pairs for the legend."""
    out, lo = [], 0.0
    for i, (hi, word) in enumerate(ESTIMATIVE_SCALE):
        if i == 0:
            span = f"below {hi:.0%}"
        elif i == len(ESTIMATIVE_SCALE) - 1:
            span = f"{lo:.0%} or more"
        else:
            span = f"{lo:.0%} to {hi:.0%}"
        out.append((word, span))
        lo = hi
    return out


def convergence(manifest: dict, gate: Gate = DEFAULT_GATE) -> dict:
    """The verdict of ``gate`` as plain sentences: ``{"ok": bool, "lines": [...]}``."""
    d = manifest.get("diagnostics", {})
    rhat = d.get("max_rhat", float("nan"))
    ess = min(d.get("min_ess_bulk", float("nan")), d.get("min_ess_tail", float("nan")))
    div = d.get("divergences", 0)
    chains = d.get("chains", "the")
    if manifest.get("converged"):
        return {
            "ok": True,
            "lines": [
                f"The fit passed every convergence check: the {chains} independent sampling "
                f"chains agree (largest R-hat {rhat:.3f}, limit {gate.rhat_max}), there are "
                f"enough effectively independent draws (smallest ESS {ess:.0f}, minimum "
                f"{gate.ess_min}) and the sampler reported no divergent transitions.",
                "So the numbers below are this model's answer to its evidence, computed reliably;"
                " that says nothing on whether the scenario itself is right (how good the model"
                " has been is under Track record, when backtest results are given).",
            ],
        }
    lines = []
    if rhat > gate.rhat_max:
        lines.append(
            f"The independent sampling chains disagree with each other (largest R-hat {rhat:.3f};"
            f" it must be at most {gate.rhat_max})."
        )
    if ess < gate.ess_min:
        lines.append(
            f"There are too few effectively independent draws to pin the numbers down "
            f"(smallest ESS {ess:.0f}; at least {gate.ess_min} are needed)."
        )
    if div:
        lines.append(
            f"The sampler hit {div} divergent transition(s): it could not explore the whole "
            "range of plausible parameter values."
        )
    lines.append(
        "Refit with more draws (forecast update --draws 2000 --tune 2000 --force) or review the "
        "newest evidence before using these forecasts."
    )
    return {"ok": False, "lines": lines, "problems": d.get("problems", [])}


def _pct(p: float) -> str:
    """A probability in whole percent; near-certain values say so instead of rounding to 0/100."""
    if 0.0 < p < 0.005:
        return "<1%"
    if 0.995 < p < 1.0:
        return ">99%"
    return f"{p:.0%}"


# What a forecast's power-scaling verdict (forecast.inference.sensitivity) tells a reader
BASIS = {
    "mostly prior": "mostly prior: the evidence says little",
    "mixed": "prior and evidence both matter",
    "mostly data": "mostly evidence",
    "unclear": "prior or evidence: too close to call",
}


def _cell(p: float, lo: float, hi: float, verdict: object = None) -> dict:
    """A headline cell; a certain value (the outcome already resolved) says so, with no word."""
    resolved = lo == hi == p and p in (0.0, 1.0)
    iv = "already resolved" if resolved else f"90%: {_pct(lo)}–{_pct(hi)}"
    basis = "" if resolved or not isinstance(verdict, str) else BASIS.get(verdict, "")
    word = "" if resolved else estimative_word(p)
    return {"p": _pct(p), "word": word, "interval": iv, "basis": basis}


def horizon_ends(forecast: pd.DataFrame) -> dict[int, str]:
    """Each horizon's calendar end in words (``31 January 2027``), from the table's ``end_date``
    (``forecast.runs.update.forecast_table``); empty for a table without it."""
    if "end_date" not in forecast:
        return {}
    pairs = forecast[["horizon_months", "end_date"]].drop_duplicates()
    return {
        int(h): long_date(date.fromisoformat(str(e)))
        for h, e in zip(pairs["horizon_months"], pairs["end_date"], strict=True)
    }


def headline(forecast: pd.DataFrame, s: Scenario) -> tuple[list[int], list[dict]]:
    """Rows of the headline table: each outcome (then its candidates) with a cell per horizon.

    An outcome's row carries its description from the scenario (``rule``, what counts) and what
    its numbers are (``meaning``, by the outcome's kind).
    """
    horizons = sorted(int(h) for h in forecast["horizon_months"].unique())
    rows = []
    for (o, c), g in forecast.groupby(["outcome", "candidate"], dropna=False, sort=False):
        out = s.outcomes[o]
        cand = c if isinstance(c, str) and c else None
        by_h = g.set_index("horizon_months")
        rows.append(
            {
                "label": out.candidates[cand].label if cand else out.label,
                "candidate": cand is not None,
                "rule": "" if cand else (out.description.strip() or NO_RULE),
                "meaning": "" if cand else MEANING[out.kind],
                "cells": [
                    _cell(
                        *by_h.loc[h, ["probability", "lower", "upper"]],
                        by_h.get("evidence_verdict", {}).get(h),
                    )
                    for h in horizons
                ],
            }
        )
    return horizons, rows
