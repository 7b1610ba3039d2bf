"""Proper scores of probability forecasts of binary outcomes, their comparison with a bootstrap
clustered by question, the minimum detectable difference, and reliability tables."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from forecast.skill.backtest import BacktestSettings

# every forecaster a backtest scores: the model, its calibration alone, the crowd, the fixed
# extremized crowd and two baselines
FORECASTERS = ("model", "calibrated", "crowd", "extremized", "base_rate", "half")

LOG_FLOOR = 1e-3  # probabilities are clipped to [0.001, 0.999] for the log score only


def _floats(*values) -> tuple[np.ndarray, ...]:
    """Each argument as a float array (forecasts and outcomes may come as ints or booleans)."""
    return tuple(np.asarray(v, float) for v in values)


# 90% two-sided interval excluding 0 with 80% power: z_0.95 + z_0.80
MDD_Z = 1.6449 + 0.8416


def brier_terms(p, y) -> np.ndarray:
    """Each forecast's squared error against its outcome (0/1)."""
    p, y = _floats(p, y)
    return (p - y) ** 2


def log_terms(p, y) -> np.ndarray:
    """Each forecast's negative log probability of what happened (natural log).

    Probabilities are clipped to ``[LOG_FLOOR, 1 - LOG_FLOOR]`` so a single 0 or 1 forecast that
    turned out wrong costs log(1000) ~ 6.9 instead of infinity.
    """
    p, y = _floats(p, y)
    p = np.clip(p, LOG_FLOOR, 1 - LOG_FLOOR)
    return -(y * np.log(p) + (1 - y) * np.log1p(-p))


def brier(p, y) -> float:
    """Mean squared error of probabilities ``p`` against outcomes ``y`` (0/1); lower is better."""
    return float(np.mean(brier_terms(p, y)))


def log_loss(p, y) -> float:
    """Mean negative log probability given to what happened; lower is better (see
    :func:`log_terms`)."""
    return float(np.mean(log_terms(p, y)))


TERMS = {"brier": brier_terms, "log": log_terms}


def per_question(terms, question) -> np.ndarray:
    """The mean of ``terms`` within each question (a question forecast at several origins counts
    once: its time average), in the order of first appearance."""
    frame = pd.DataFrame({"q": np.asarray(question), "t": np.asarray(terms, float)})
    return frame.groupby("q", sort=False)["t"].mean().to_numpy()


def clustered_difference(
    a, b, y, question, *, score: str = "brier", n: int = 2000, level: float = 0.9, seed: int = 0
) -> dict[str, float]:
    """Time-averaged ``score(a) - score(b)`` over questions, with a percentile bootstrap interval
    that resamples whole questions (every origin of a question goes in or out together).

    Returns ``{value, lower, upper}``; negative means ``a`` scored better than ``b``."""
    terms = TERMS[score]
    d = per_question(terms(a, y) - terms(b, y), question)
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, len(d), size=(n, len(d)))].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, 1 - (1 - level) / 2])
    return {"value": float(d.mean()), "lower": float(lo), "upper": float(hi)}


def minimum_detectable_difference(a, b, y, question, *, score: str = "brier") -> float:
    """The smallest mean score difference a 90% interval would tell from 0 four times in five,
    for these questions, if differences spread as those of ``a`` and ``b`` do: ``MDD_Z *
    sd / sqrt(n)`` over per-question differences. Computed from two baselines (the crowd and the
    fixed extremized crowd), so it is known before any model is scored."""
    terms = TERMS[score]
    d = per_question(terms(a, y) - terms(b, y), question)
    if len(d) < 2:  # no spread to measure
        return float("nan")
    return float(MDD_Z * d.std(ddof=1) / np.sqrt(len(d)))


def reliability(p, y, bins: int = 5) -> pd.DataFrame:
    """Forecasts grouped into equal-width probability bins: count, mean forecast, observed rate.

    Bin ``k`` holds forecasts in ``[k / bins, (k + 1) / bins)``, the last one also 1.0: a forecast
    exactly on an inner edge goes to the bin above it (0.2, 0.4, 0.6 and 0.8 alike; the edges are
    computed as ``k / bins``, so 0.6 is the edge and not just below it).
    """
    p, y = _floats(p, y)
    edges = np.arange(bins + 1) / bins
    which = np.digitize(p, edges[1:-1])  # 0 .. bins - 1, whatever p is
    rows = []
    for k in range(bins):
        sel = which == k
        rows.append(
            {
                "bin": f"{edges[k]:.1f}-{edges[k + 1]:.1f}",
                "n": int(sel.sum()),
                "mean_forecast": float(p[sel].mean()) if sel.any() else np.nan,
                "observed": float(y[sel].mean()) if sel.any() else np.nan,
            }
        )
    return pd.DataFrame(rows)


def _mean_score(p, y, question, score: str) -> float | None:
    """Time-averaged score: the mean over questions of each question's mean over its origins."""
    if len(y) == 0:
        return None
    return float(per_question(TERMS[score](p, y), question).mean())


def score_set(rows: pd.DataFrame, settings: BacktestSettings, **extra) -> dict:
    """Scores of one set of origins (one lead, or the calendar origins), time-averaged per question:
    every forecaster on the origins with a crowd forecast (the comparison set), the model and the
    baselines on all, differences with intervals clustered by question, the minimum detectable
    difference of the comparison set (from the crowd and extremized crowd only), and ``extra``
    (the weights on the scenario and on the calibration, as ``{mean, lower, upper}``)."""
    both = rows[rows["crowd"].notna()]
    out: dict = {
        "n": int(both["key"].nunique()),
        "n_forecasts": len(both),
        "n_all": int(rows["key"].nunique()),
    }
    for name in ("brier", "log"):
        for who in FORECASTERS:
            out[f"{who}_{name}"] = _mean_score(both[who], both["y"], both["key"], name)
        for who in ("model", "calibrated", "base_rate", "half"):
            out[f"{who}_{name}_all"] = _mean_score(rows[who], rows["y"], rows["key"], name)
    for name in ("brier", "log"):
        for other in ("crowd", "extremized"):
            out[f"model_minus_{other}_{name}"] = (
                clustered_difference(
                    both["model"],
                    both[other],
                    both["y"],
                    both["key"],
                    score=name,
                    n=settings.bootstrap,
                    seed=settings.seed,
                )
                if len(both)
                else None
            )
        mdd = minimum_detectable_difference(
            both["extremized"], both["crowd"], both["y"], both["key"], score=name
        )
        out[f"mdd_{name}"] = mdd if np.isfinite(mdd) else None  # None: fewer than 2 questions
    out["brier_ratio"] = (
        out["model_brier"] / out["crowd_brier"] if out["n"] and out["crowd_brier"] else None
    )
    return out | extra
