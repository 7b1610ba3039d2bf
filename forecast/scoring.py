"""Proper scores of probability forecasts of binary outcomes, their bootstrap comparison, and
reliability tables."""

from __future__ import annotations

import numpy as np
import pandas as pd

LOG_FLOOR = 1e-3  # probabilities are clipped to [0.001, 0.999] for the log score only


def brier(p, y) -> float:
    """Mean squared error of probabilities ``p`` against outcomes ``y`` (0/1); lower is better."""
    p, y = np.asarray(p, float), np.asarray(y, float)
    return float(np.mean((p - y) ** 2))


def log_loss(p, y) -> float:
    """Mean negative log probability given to what happened (natural log); lower is better.

    Probabilities are clipped to ``[LOG_FLOOR, 1 - LOG_FLOOR]`` so a single 0 or 1 forecast that
    turned out wrong costs log(1000) ~ 6.9 instead of infinity.
    """
    p = np.clip(np.asarray(p, float), LOG_FLOOR, 1 - LOG_FLOOR)
    y = np.asarray(y, float)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))


def bootstrap_difference(
    a, b, y, *, score=brier, n: int = 2000, level: float = 0.9, seed: int = 0
) -> tuple[float, float, float]:
    """``score(a) - score(b)`` on the same questions, with a percentile bootstrap interval over
    questions resampled with replacement (seeded: the same inputs give the same interval)."""
    a, b, y = (np.asarray(v, float) for v in (a, b, y))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(y), size=(n, len(y)))
    diffs = np.array([score(a[i], y[i]) - score(b[i], y[i]) for i in idx])
    lo, hi = np.quantile(diffs, [(1 - level) / 2, 1 - (1 - level) / 2])
    return score(a, y) - score(b, y), float(lo), float(hi)


def reliability(p, y, bins: int = 5) -> pd.DataFrame:
    """Forecasts grouped into equal-width probability bins: count, mean forecast, observed rate."""
    p, y = np.asarray(p, float), np.asarray(y, float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    rows = []
    for k in range(bins):
        sel = which == k
        rows.append(
            {
                "bin": f"{edges[k]:.1f}-{edges[k + 1]:.1f}",
                "n": int(sel.sum()),
                "mean_forecast": float(p[sel].mean()) if sel.any() else float("nan"),
                "observed": float(y[sel].mean()) if sel.any() else float("nan"),
            }
        )
    return pd.DataFrame(rows)
