"""Proper scores of probability forecasts of binary outcomes, their bootstrap comparison, and
reliability tables."""

from __future__ import annotations

import numpy as np
import pandas as pd

LOG_FLOOR = 1e-3  # probabilities are clipped to [0.001, 0.999] for the log score only


def _floats(*values) -> tuple[np.ndarray, ...]:
    """Each argument as a float array (forecasts and outcomes may come as ints or booleans)."""
    return tuple(np.asarray(v, float) for v in values)


def brier(p, y) -> float:
    """Mean squared error of probabilities ``p`` against outcomes ``y`` (0/1); lower is better."""
    p, y = _floats(p, y)
    return float(np.mean((p - y) ** 2))


def log_loss(p, y) -> float:
    """Mean negative log probability given to what happened (natural log); lower is better.

    Probabilities are clipped to ``[LOG_FLOOR, 1 - LOG_FLOOR]`` so a single 0 or 1 forecast that
    turned out wrong costs log(1000) ~ 6.9 instead of infinity.
    """
    p, y = _floats(p, y)
    p = np.clip(p, LOG_FLOOR, 1 - LOG_FLOOR)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))


def bootstrap_difference(
    a, b, y, *, score=brier, n: int = 2000, level: float = 0.9, seed: int = 0
) -> tuple[float, float, float]:
    """``score(a) - score(b)`` on the same questions, with a percentile bootstrap interval over
    questions resampled with replacement (seeded: the same inputs give the same interval).

    Returns ``(difference, lower, upper)``: the bounds are the ``(1 - level) / 2`` and
    ``(1 + level) / 2`` quantiles of ``n`` resampled differences (5th and 95th percentiles at the
    default 90%). Negative means ``a`` scored better (lower) than ``b``."""
    a, b, y = _floats(a, b, y)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(y), size=(n, len(y)))
    diffs = np.array([score(a[i], y[i]) - score(b[i], y[i]) for i in idx])
    lo, hi = np.quantile(diffs, [(1 - level) / 2, 1 - (1 - level) / 2])
    return score(a, y) - score(b, y), float(lo), float(hi)


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
