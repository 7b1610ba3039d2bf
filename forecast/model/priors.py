"""Fixed priors of the model (sourced data in ``fixed_priors.toml``), the scenario's prior scales as
arrays, and HalfNormal scales sampled through a softplus (``SoftplusTransform``)."""

from __future__ import annotations

import tomllib
from importlib import resources

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from pydantic import Field

from forecast.data.scenario import Float, NormalPrior, PositiveNumber, Scenario, _Sourced, _Strict


class LogNormalPrior(_Sourced):
    """A LogNormal prior by its median and the sd of its log."""

    median: Float = Field(gt=0)
    log_sd: Float = Field(gt=0)

    @property
    def log_params(self) -> tuple[float, float]:
        """(mu, sigma) of the log, as ``pm.LogNormal`` and numpy take them."""
        return float(np.log(self.median)), self.log_sd


class LoadingScales(_Sourced):
    """HalfNormal scales of loadings where the scenario gives no ``loading_scale``."""

    factor: Float = Field(gt=0)
    normal: Float = Field(gt=0)
    count: Float = Field(gt=0)
    rating: Float = Field(gt=0)


class FixedPriors(_Strict):
    """The model's own priors (``fixed_priors.toml``): what a scenario does not set."""

    normal_intercept_sd: PositiveNumber
    normal_sd: LogNormalPrior
    count_intercept_sd: PositiveNumber
    count_inv_dispersion: LogNormalPrior
    cutpoint_first: NormalPrior
    cutpoint_gap_log_sd: PositiveNumber
    forecast_noise_log_sd: PositiveNumber
    loading_scale: LoadingScales


def load_fixed_priors() -> FixedPriors:
    """The packaged ``fixed_priors.toml``, validated."""
    text = resources.files("forecast.model").joinpath("fixed_priors.toml").read_text("utf-8")
    return FixedPriors.model_validate(tomllib.loads(text))


FIXED = load_fixed_priors()
SIGN = {"+": 1.0, "-": -1.0, "free": 0.0}

# The fixed priors as the model and the simulator (forecast/skill/simulation.py) use them
NORMAL_INTERCEPT_SD = FIXED.normal_intercept_sd.value
NORMAL_SD_LOG = FIXED.normal_sd.log_params  # LogNormal(mu, sigma) of a normal indicator's noise sd
COUNT_INTERCEPT_SD = FIXED.count_intercept_sd.value  # around log(baseline)
COUNT_INV_DISPERSION_LOG = FIXED.count_inv_dispersion.log_params  # of 1 / NegativeBinomial alpha
CUTPOINT_FIRST = (FIXED.cutpoint_first.mean, FIXED.cutpoint_first.sd)
CUTPOINT_GAP_LOG_SD = FIXED.cutpoint_gap_log_sd.value
FORECAST_NOISE_LOG_SD = FIXED.forecast_noise_log_sd.value  # LogNormal(log noise_scale, this)
DEFAULT_LOADING_SCALE = {
    "normal": FIXED.loading_scale.normal,
    "count": FIXED.loading_scale.count,
    "rating": FIXED.loading_scale.rating,
}


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


def innovation_dfs(s: Scenario) -> np.ndarray | None:
    """Each factor's degrees of freedom of its Student-t innovations (``[innovations]``), inf for
    a Gaussian factor; None when every factor is Gaussian."""
    v = s.innovations
    if v is None:
        return None
    heavy = v.factors if v.factors is not None else tuple(s.factors)
    return np.array([v.df if k in heavy else np.inf for k in s.factors])


def t_scale(df: float | np.ndarray) -> float | np.ndarray:
    """Scale of a Student-t with ``df`` (> 2) degrees of freedom and unit variance."""
    return np.sqrt((df - 2.0) / df)


def standardized_innovations(
    rng: np.random.Generator, dfs: np.ndarray | None, size: tuple[int, ...], axis: int = -1
) -> np.ndarray:
    """Unit-variance innovations: Gaussian, or along ``axis`` (the factors) Student-t with each
    factor's ``dfs`` degrees of freedom (``innovation_dfs``; inf: Gaussian)."""
    if dfs is None:
        return rng.standard_normal(size)
    shape = [1] * len(size)
    shape[axis] = len(dfs)
    df = np.broadcast_to(np.reshape(dfs, shape), size)
    heavy = np.isfinite(df)
    if heavy.all():
        return t_scale(df) * rng.standard_t(df)
    finite = np.where(heavy, df, 3.0)  # any finite df: the draws it gives are not kept
    return np.where(heavy, t_scale(finite) * rng.standard_t(finite), rng.standard_normal(size))


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
    return np.array(
        [
            f.loading_scale.value if f.loading_scale else FIXED.loading_scale.factor
            for f in s.factors.values()
        ]
    )


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
