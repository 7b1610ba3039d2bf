"""Scenario files (``priors/<name>.toml``): factors, indicators, outcomes, loadings and priors.

Every number in a scenario carries a ``rationale`` and a ``source``. This module is the schema:
typed, frozen objects and the checks of one table at a time (types, ranges). Reading a file, the
rules that span several tables and the located error messages are in
``forecast.data.scenario_file``.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StringConstraints,
    field_validator,
)

from forecast.data.months import month_end, month_label, month_start
from forecast.data.target import Target

NAME_PATTERN = r"^[a-z][a-z0-9_]*$"
Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN, max_length=64)]
Text = Annotated[str, StringConstraints(min_length=1, strip_whitespace=True)]
Sign = Literal["+", "-", "free"]
MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$", re.ASCII)
MIN_YEAR, MAX_YEAR = 1900, 2200  # a scenario's months must lie in this span
NAME_HELP = "lowercase letters, digits and _, starting with a letter, at most 64 characters"
# Forecast horizons are at most ten years ahead: no evidence the model takes speaks to diplomacy
# further out, and the projection's memory grows with the longest horizon (draws x targets x
# months; [6, 100000] needed 21 GiB after the whole fit), so a typo must fail in `forecast check`.
MAX_HORIZON_MONTHS = 120
# Numbers are strict: a TOML boolean (``true`` is an int in Python) or a quoted "1.5" is refused
# rather than read as 1 or 1.5; integers are accepted where a float is expected.
Float = StrictFloat
Int = StrictInt


class _Strict(BaseModel):
    # inf and nan are valid TOML floats but never a valid prior parameter
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False, allow_inf_nan=False)


class _Sourced(_Strict):
    rationale: Text
    source: Text


class Number(_Sourced):
    """A single sourced number."""

    value: Float


class PositiveNumber(_Sourced):
    value: Float = Field(gt=0)


class NormalPrior(_Sourced):
    """A Normal prior: mean and standard deviation, with its reasons."""

    mean: Float
    sd: Float = Field(gt=0)


class BetaPrior(_Sourced):
    """A Beta prior on a share in [0, 1], with its reasons."""

    alpha: Float = Field(gt=0)
    beta: Float = Field(gt=0)


class BaseRate(_Sourced):
    """Prior on an outcome's baseline monthly hazard: median rate and spread on the logit scale."""

    monthly: Float = Field(gt=0, lt=1)
    logit_sd: Float = Field(gt=0)


class Loading(_Sourced):
    """How an outcome depends on a factor: a sign fixed by theory (or ``free``), a prior scale."""

    sign: Sign
    scale: Float = Field(gt=0)


class Reversion(_Sourced):
    """Monthly autoregressive coefficient of a factor: 1 is a random walk, < 1 mean-reverting.

    With ``sd`` the coefficient is learned: a Beta prior with mean ``value`` and this sd (a
    factor's only; the outcome drift's reversion stays fixed).
    """

    value: Float = Field(gt=0, le=1)
    sd: Float | None = Field(default=None, gt=0)

    def beta(self) -> tuple[float, float]:
        """(a, b) of the Beta prior with mean ``value`` and sd ``sd``."""
        assert self.sd is not None
        m = self.value
        n = m * (1.0 - m) / self.sd**2 - 1.0
        return m * n, (1.0 - m) * n


class Factor(_Strict):
    """A latent factor on a standardized scale that moves monthly: f[t] = r f[t-1] + vol z[t].

    ``reversion`` (optional) is r, the monthly pull toward 0 (1.0, a pure random walk, when
    omitted); with r < 1 the factor is stationary with sd vol / sqrt(1 - r^2). A learned
    reversion (``reversion.sd``) keeps that stationary sd, the factor's unit, at the value the
    scenario's numbers give and lets the monthly volatility follow: vol(r) = sd * sqrt(1 - r^2).

    ``loading_scale`` (optional) is the HalfNormal scale of the factor's pooled loading strength;
    when it is omitted the model uses 1.0.
    """

    label: Text
    description: str = ""
    initial: NormalPrior
    volatility: PositiveNumber  # monthly innovation sd (at the prior's reversion if learned)
    reversion: Reversion | None = None
    # HalfNormal scale of the pooled loading strength tau[k]. Optional: a factor that no outcome
    # loads on does not need it, and when it is omitted the model uses 1.0.
    loading_scale: PositiveNumber | None = None


class SourceOffset(_Sourced):
    """A source that measures an indicator on a level of its own (Alma counts more attacks than
    ITIC): the rows whose ``source`` text contains ``match`` (case-insensitive) are offset from
    the reference rows (those of no declared source) by ``sd * raw``, raw ~ Normal(0, 1), on the
    log rate for counts and in standardized units for normal indicators."""

    match: Text
    sd: Float = Field(gt=0)


class Indicator(_Strict):
    """An observed quantity that measures one factor (Normal series, monthly counts or ratings).

    ``sources`` (count and normal indicators only) gives a source its own level; the rows of no
    declared source are the reference, whose level the intercept and the indicator's numbers
    (``baseline``, ``center``) describe.
    """

    label: Text
    factor: Name
    sign: Literal["+", "-"]
    likelihood: Literal["normal", "count", "rating"]
    unit: str = ""
    description: str = ""
    transform: Literal["identity", "log"] = "identity"
    center: Number | None = None  # normal: typical transformed value
    spread: PositiveNumber | None = None  # normal: typical sd of transformed values
    baseline: PositiveNumber | None = None  # count: typical count per month at factor 0
    levels: tuple[Name, ...] | None = None  # rating: ordered level names, low to high
    loading_scale: PositiveNumber | None = None  # HalfNormal scale of |loading| (model default)
    sources: dict[Name, SourceOffset] = Field(default_factory=dict)  # count, normal

    def source_of(self, text: str) -> str | None:
        """The declared source a row's ``source`` text belongs to (``None``: the reference).

        Raises ``ValueError`` when the text matches several: a row belongs to one source at most.
        """
        low = text.casefold()
        found = [n for n, src in self.sources.items() if src.match.casefold() in low]
        if len(found) > 1:
            names = ", ".join(f"{n} ({self.sources[n].match!r})" for n in found)
            raise ValueError(
                f"matches several sources the scenario declares for its indicator: {names}; a "
                "row belongs to one source at most, so make its source text or their match "
                "texts more specific"
            )
        return found[0] if found else None


class Candidate(_Strict):
    """One way an outcome can happen (e.g. a state that might join the Abraham Accords)."""

    label: Text
    offset: NormalPrior | None = (
        None  # prior on the candidate's logit offset (default N(0, spread))
    )


class Outcome(_Strict):
    """A latent outcome.

    ``event``: happens at some month (P that it has happened by the horizon);
    ``persistence``: a state that holds until an ending event (P that it still holds at the
    horizon);
    ``state``: a predicate on a projected measure (P that the measure is below/above a threshold for
    ``window`` consecutive months at some point by the horizon).
    """

    label: Text
    kind: Literal["event", "persistence", "state"]
    description: str = ""
    base_rate: BaseRate | None = None
    candidate_spread: PositiveNumber | None = None
    candidates: dict[Name, Candidate] = Field(default_factory=dict)
    loadings: dict[Name, Loading] = Field(default_factory=dict)
    measure: Name | None = None
    condition: Literal["below", "above"] | None = None
    threshold: Number | None = None
    window: PositiveNumber | None = None


class EventSignal(_Strict):
    """How coded news events (direction x strength) translate into factor innovations.

    ``month_noise`` (optional) is the sd of a coder effect shared by every event on the same
    target in the same month: however many events coders found, a month's reading of the
    innovation is no more precise than ``month_noise`` allows (coverage, not the world, sets the
    number of events).
    """

    gain: PositiveNumber
    noise: PositiveNumber
    month_noise: PositiveNumber | None = None


class OutcomeDrift(_Strict):
    """Each outcome's own drift of its logit hazard, apart from the factors: what outcome-coded
    news (an event row on an outcome) reads. An AR(1) path per outcome that has news, its
    innovation sd ``volatility`` (logit units a month) and its monthly ``reversion`` toward 0."""

    volatility: PositiveNumber
    reversion: Reversion


class Correlation(_Sourced):
    """Factors whose monthly innovations may correlate, with an LKJ(eta) prior on their
    correlation matrix (eta 1: uniform; larger: closer to independent)."""

    factors: tuple[Name, ...]
    eta: Float = Field(gt=0)


class Innovations(_Sourced):
    """Heavy-tailed factor innovations: each month's standardized innovation after month 0 is a
    Student-t with ``df`` degrees of freedom scaled to unit variance, so a factor keeps its unit
    and volatility while a regime change (a ceasefire, a government's fall) can be one large
    step. ``factors`` limits them to the factors named (regime-prone ones), whose others stay
    Gaussian; without it, every factor's innovations are heavy-tailed."""

    df: Float = Field(gt=2)
    factors: tuple[Name, ...] | None = None


class ForecastNoise(_Strict):
    """Priors on crowd/expert forecast sources: bias and noise on the logit scale, pooled."""

    bias_sd: PositiveNumber
    noise_scale: PositiveNumber


class Vintage(_Sourced):
    """The last day of data the scenario's numbers were chosen with. A backtest origin before it
    would see hindsight through the scenario (initial levels, indicator centres, candidate
    offsets), so the backtest keeps the scenario's fits out there."""

    as_of: date


class Scenario(_Strict):
    """A whole scenario: what the model is built from."""

    name: Name
    title: Text
    description: str = ""
    start: str
    end: str
    horizons: tuple[Int, ...]
    vintage: Vintage | None = None  # none: every number may hold hindsight
    event_signal: EventSignal
    outcome_drift: OutcomeDrift | None = None  # needed only by news on outcomes
    correlation: Correlation | None = None  # none: factor innovations are independent
    innovations: Innovations | None = None  # none: factor innovations are Gaussian
    forecast_noise: ForecastNoise
    factors: dict[Name, Factor]
    indicators: dict[Name, Indicator] = Field(default_factory=dict)
    outcomes: dict[Name, Outcome]

    @field_validator("start", "end")
    @classmethod
    def _month(cls, v: str) -> str:
        m = MONTH_RE.match(v)
        if not m or not 1 <= int(m.group(2)) <= 12:
            raise ValueError(f"expected a month as YYYY-MM, got {v!r}")
        if not MIN_YEAR <= int(m.group(1)) <= MAX_YEAR:
            raise ValueError(f"year must be between {MIN_YEAR} and {MAX_YEAR}, got {v!r}")
        return v

    @field_validator("horizons")
    @classmethod
    def _horizons(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if not v or any(h <= 0 for h in v) or list(v) != sorted(set(v)):
            raise ValueError("horizons must be positive whole months in increasing order")
        if v[-1] > MAX_HORIZON_MONTHS:
            raise ValueError(
                f"horizons must be at most {MAX_HORIZON_MONTHS} months (ten years), got {v[-1]}"
            )
        return v

    # --- derived, read-only views -------------------------------------------------------------
    @property
    def start_date(self) -> date:
        """First day of the scenario's first month (month index 0)."""
        return month_start(self.start)

    @property
    def end_date(self) -> date:
        """Last day of the scenario's last month: evidence may not be dated after it."""
        return month_end(self.end)

    @property
    def factor_names(self) -> list[str]:
        return list(self.factors)

    @property
    def outcome_names(self) -> list[str]:
        return list(self.outcomes)

    def month_index(self, d: date) -> int:
        """Months since the scenario's start month."""
        return (d.year - self.start_date.year) * 12 + d.month - self.start_date.month

    def month_start(self, t: int) -> date:
        """First day of month index ``t``."""
        return month_start(self.start, t)

    def month_labels(self, n: int) -> list[str]:
        """``YYYY-MM`` labels of the first ``n`` months (the model's ``month`` coordinate)."""
        return [month_label(self.month_start(t)) for t in range(n)]

    def targets(self) -> list[Target]:
        """Every forecast target: each outcome as a whole, then each of its candidates."""
        out: list[Target] = []
        for name, o in self.outcomes.items():
            out.append(Target(name))
            out.extend(Target(name, c) for c in o.candidates)
        return out
