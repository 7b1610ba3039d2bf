"""The diagnostics gate: every limit a fit must meet before its forecasts count as converged.

One frozen ``Gate`` holds the limits, each with the reason for its value; the functions that judge a
fit (``diagnose``, ``reweight``, ``influences``) and the texts that explain a verdict take a gate
(default ``DEFAULT_GATE``) instead of repeating the numbers.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Gate:
    """Diagnostic limits for NUTS fits and Pareto-smoothed importance sampling."""

    # chains that agree to 1% (Vehtari et al. 2021, "Rank-normalization, folding, and localization")
    rhat_max: float = 1.01
    # bulk and tail ESS: 100 per chain over 4 chains keeps R-hat and tail quantiles stable (ibid.)
    ess_min: int = 400
    # a divergence means the sampler missed part of the posterior, so none is accepted
    max_divergences: int = 0
    # above 0.7 the PSIS estimate's error no longer falls usefully with draws (Vehtari et al. 2024)
    k_hat_max: float = 0.7


DEFAULT_GATE = Gate()
