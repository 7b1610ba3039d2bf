"""The learned calibration stacked with the fixed extremized crowd, by a weight learned from
earlier questions only.

At an origin month the forecast is the linear pool ``w * calibrated + (1 - w) * extremized``. The
weight ``w`` maximizes the pool's log score, time-averaged per question, over the questions resolved
before the month began, scored with the forecasts each got at its own origins (themselves made
from still earlier questions, so every score is out of sample), times a Beta(2, 2) prior that holds
``w`` near 1/2 when few questions are known. Its interval resamples those questions. A month with
no earlier question gets 1/2. Rows without a crowd forecast keep the calibrated probability.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecast.skill.scoring import log_terms

GRID = np.linspace(0.0, 1.0, 101)
PRIOR_A = PRIOR_B = 2.0  # Beta(2, 2): a weak pull toward an even pool


@dataclass(frozen=True)
class Weight:
    """A stacking weight on the calibrated forecast, its 90% interval and how many questions."""

    mean: float
    lower: float
    upper: float
    n: int

    def as_dict(self) -> dict[str, float]:
        return {"mean": self.mean, "lower": self.lower, "upper": self.upper}


def _best(per_question: np.ndarray) -> float:
    """The grid weight maximizing the summed per-question log score plus the log prior.
    ``per_question`` is (question, grid) mean log probabilities."""
    with np.errstate(divide="ignore"):
        prior = (PRIOR_A - 1) * np.log(GRID) + (PRIOR_B - 1) * np.log1p(-GRID)
    return float(GRID[np.argmax(per_question.sum(axis=0) + prior)])


def stacking_weight(
    train: pd.DataFrame, *, n_boot: int = 200, seed: int = 0, level: float = 0.9
) -> Weight:
    """The weight from ``train`` rows (columns key, y, calibrated, extremized; rows of questions
    resolved before the month, with both forecasts), with a bootstrap interval over questions."""
    both = train.dropna(subset=["calibrated", "extremized"])
    if both.empty:
        return Weight(0.5, 0.5, 0.5, 0)
    pool = (
        GRID[None, :] * both["calibrated"].to_numpy()[:, None]
        + (1 - GRID[None, :]) * both["extremized"].to_numpy()[:, None]
    )
    y = both["y"].to_numpy(float)[:, None]
    logp = -log_terms(pool, np.broadcast_to(y, pool.shape))
    per_q = pd.DataFrame(logp).groupby(both["key"].to_numpy(), sort=False).mean().to_numpy()
    rng = np.random.default_rng(seed)
    n = len(per_q)
    boots = [_best(per_q[rng.integers(0, n, n)]) for _ in range(n_boot)]
    lo, hi = np.quantile(boots, [(1 - level) / 2, (1 + level) / 2])
    return Weight(_best(per_q), float(lo), float(hi), n)


def pool(calibrated: pd.Series, extremized: pd.Series, w: float) -> pd.Series:
    """The stacked forecast: the linear pool where both exist, else the calibrated one."""
    mixed = w * calibrated + (1 - w) * extremized
    return mixed.where(extremized.notna(), calibrated)
