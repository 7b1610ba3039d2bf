"""Fixed priors of the model, the scenario's prior scales as arrays, and HalfNormal scales sampled
through a softplus (``SoftplusTransform``)."""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from forecast.data.scenario import Scenario

# Default prior scales of indicator loadings (an indicator's `loading_scale` overrides them), per
# likelihood: standardized data (normal), log rate (count) and logit (rating). A count moving from
# ~0 to hundreds per month spans ~6 log units over a factor range of a few sd, hence wider scales.
DEFAULT_LOADING_SCALE = {"normal": 1.0, "count": 2.0, "rating": 2.0}
SIGN = {"+": 1.0, "-": -1.0, "free": 0.0}

# Fixed priors of the evidence terms (the simulator in forecast/skill/simulation.py draws from the
# same).
NORMAL_INTERCEPT_SD = 1.0  # standardized indicators: the intercept is near 0
NORMAL_SD_LOG = (np.log(0.3), 0.5)  # LogNormal(mu, sigma) of a normal indicator's noise sd
COUNT_INTERCEPT_SD = 1.5  # around log(baseline)
COUNT_INV_DISPERSION_LOG = (np.log(0.5), 0.75)  # LogNormal of 1 / NegativeBinomial alpha
# rating cutpoints: the first ~ Normal(mean, sd); the gaps to the next ~ LogNormal around an even
# spacing of the cutpoints over [-2, 2]
CUTPOINT_FIRST = (-2.0, 2.0)
CUTPOINT_GAP_LOG_SD = 0.75
FORECAST_NOISE_LOG_SD = 0.5  # LogNormal(log noise_scale, this) per forecast source


class SoftplusTransform(pm.distributions.transforms.Transform):
    """Positive values as ``softplus(y)`` of an unconstrained ``y``: log-like near 0, identity far
    from it.

    Used for every HalfNormal scale. Under the usual log transform a HalfNormal's density in
    ``y = log(x)`` is ``exp(y - exp(2y) / 2 sd^2)``, whose curvature grows like ``exp(2y)`` in the
    right tail: a scale that the data barely inform (a pooled strength with one loading, the
    forecast bias spread with one source) then sends NUTS trajectories into a wall, the source of
    most divergences on small evidence logs. Under softplus the right tail is Gaussian in ``y``.
    """

    name = "softplus"

    def forward(self, value, *inputs):
        return value + pt.log1mexp(-value)  # log(expm1(value)), stable

    def backward(self, value, *inputs):
        return pt.softplus(value)

    def log_jac_det(self, value, *inputs):
        return -pt.softplus(-value)  # log(sigmoid(value))


SOFTPLUS = SoftplusTransform()


def half_normal(name: str, sigma, **kwargs) -> pt.TensorVariable:
    """A HalfNormal prior sampled through ``SoftplusTransform``."""
    return pm.HalfNormal(name, sigma=sigma, default_transform=SOFTPLUS, **kwargs)


def cutpoint_spacing(n_levels: int) -> float:
    """Prior median gap between a rating's neighbouring cutpoints: even spacing over [-2, 2]."""
    return 4.0 / max(n_levels - 2, 1)


def reversions(s: Scenario) -> np.ndarray:
    """Each factor's monthly autoregressive coefficient (1.0: random walk)."""
    return np.array([f.reversion.value if f.reversion else 1.0 for f in s.factors.values()])


def volatilities(s: Scenario) -> np.ndarray:
    """Each factor's monthly innovation sd as the scenario gives it."""
    return np.array([f.volatility.value for f in s.factors.values()])


def learned_reversions(s: Scenario) -> dict[int, tuple[float, float]]:
    """Factors whose reversion is learned: index -> (a, b) of its Beta prior."""
    return {
        k: f.reversion.beta()
        for k, f in enumerate(s.factors.values())
        if f.reversion is not None and f.reversion.sd is not None
    }


def correlated_factors(s: Scenario) -> list[int]:
    """Indices of the factors whose innovations correlate (``[correlation]``; empty: none)."""
    return [list(s.factors).index(k) for k in s.correlation.factors] if s.correlation else []


def stationary_sds(s: Scenario) -> np.ndarray:
    """Each factor's stationary sd vol / sqrt(1 - r^2) at the scenario's numbers (inf for a random
    walk): a learned reversion keeps it, so the factor's unit does not move with r."""
    r = reversions(s)
    with np.errstate(divide="ignore"):
        return volatilities(s) / np.sqrt(1.0 - r**2)


def factor_loading_scales(s: Scenario) -> np.ndarray:
    """HalfNormal scale of each factor's pooled loading strength tau[k]."""
    return np.array([f.loading_scale.value if f.loading_scale else 1.0 for f in s.factors.values()])


def indicator_loading_scales(s: Scenario, names: list[str]) -> np.ndarray:
    inds = [s.indicators[n] for n in names]
    return np.array(
        [
            i.loading_scale.value if i.loading_scale else DEFAULT_LOADING_SCALE[i.likelihood]
            for i in inds
        ]
    )


def source_offset_sds(s: Scenario, names: list[str]) -> np.ndarray:
    """Prior sd of each source offset declared for the indicators ``names``, in the order of
    ``forecast.model.design.source_labels``."""
    return np.array([src.sd for n in names for src in s.indicators[n].sources.values()])
