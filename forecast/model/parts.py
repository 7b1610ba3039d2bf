"""The design's typed parts, one per evidence kind: the arrays a kind's likelihood term reads,
with the evidence-frame row each element came from (``rows``)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def _ints() -> np.ndarray:
    return np.zeros(0, int)


def _floats() -> np.ndarray:
    return np.zeros(0)


def _matrix() -> np.ndarray:
    return np.zeros((0, 0))


@dataclass(frozen=True)
class _MeasuredRows:
    """Rows of the indicators ``names`` (``ind`` indexes them). ``sources``: the declared
    ``indicator:source`` labels (``source_labels``); ``src``: each row's index into them, -1 for
    the reference (both empty when no source is declared)."""

    names: list[str] = field(default_factory=list)
    ind: np.ndarray = field(default_factory=_ints)
    rows: np.ndarray = field(default_factory=_ints)
    sources: list[str] = field(default_factory=list)
    src: np.ndarray = field(default_factory=_ints)


@dataclass(frozen=True)
class Indicators(_MeasuredRows):
    """Normal indicator rows, standardized by their indicator's centre and spread."""

    month: np.ndarray = field(default_factory=_ints)
    y: np.ndarray = field(default_factory=_floats)


@dataclass(frozen=True)
class Counts(_MeasuredRows):
    """Count rows with a (row x month) exposure weight in months of the counted period."""

    weight: np.ndarray = field(default_factory=_matrix)
    y: np.ndarray = field(default_factory=_ints)


@dataclass(frozen=True)
class Ratings:
    """The rows of one rating indicator."""

    month: np.ndarray = field(default_factory=_ints)
    y: np.ndarray = field(default_factory=_ints)
    rows: np.ndarray = field(default_factory=_ints)


@dataclass(frozen=True)
class Events:
    """Coded events: a signal on a factor's innovation, or (outcome-coded news) on the innovation
    of an outcome's own drift. ``outcome`` indexes ``news_outcomes`` (-1 for factor events).
    Rows are sorted by cell (target x month); ``first`` is the index of each row's cell's first
    row and ``rank`` its place in the cell (both empty without a coder effect,
    ``[event_signal.month_noise]``)."""

    factor: np.ndarray = field(default_factory=_ints)
    outcome: np.ndarray = field(default_factory=_ints)
    news_outcomes: list[str] = field(default_factory=list)  # hazard outcomes with news, in order
    month: np.ndarray = field(default_factory=_ints)
    value: np.ndarray = field(default_factory=_floats)
    first: np.ndarray = field(default_factory=_ints)
    rank: np.ndarray = field(default_factory=_ints)
    rows: np.ndarray = field(default_factory=_ints)


@dataclass(frozen=True)
class Resolutions:
    """Discrete-time survival as Bernoulli cells (unit, month, happened), and per unit what a
    forecast needs: the month of its ending event and the last month it was known open."""

    unit: np.ndarray = field(default_factory=_ints)
    month: np.ndarray = field(default_factory=_ints)
    y: np.ndarray = field(default_factory=_ints)
    # the part of the cell's month observed: 1, except the month of a day-dated "still open" row
    # (open on the 4th of a 31-day month: 4/31 of the month survived, not all of it)
    weight: np.ndarray = field(default_factory=_floats)
    rows: np.ndarray = field(default_factory=_ints)
    closed_at: np.ndarray = field(default_factory=_ints)  # per unit: -1 if open
    # per unit: last month a resolution row says it was still open (-1: none); forecasts integrate
    # the hazard over the months from then to the origin instead of assuming them survived
    known_open_until: np.ndarray = field(default_factory=_ints)
    known_open_fraction: np.ndarray = field(default_factory=_floats)  # of that month


@dataclass(frozen=True)
class _TargetRows:
    """Rows about P(target by month + horizon): target units as a (row x unit) 0/1 mask, and
    whether the target is a persistence (P of the state lasting, not of an event)."""

    mask: np.ndarray = field(default_factory=_matrix)
    month: np.ndarray = field(default_factory=_ints)
    horizon: np.ndarray = field(default_factory=_floats)
    persist: np.ndarray = field(default_factory=_floats)
    rows: np.ndarray = field(default_factory=_ints)


@dataclass(frozen=True)
class Forecasts(_TargetRows):
    """Crowd or expert forecasts: the probability's logit and each row's index into
    ``sources``."""

    logit: np.ndarray = field(default_factory=_floats)
    source: np.ndarray = field(default_factory=_ints)
    sources: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class LikelihoodRatios(_TargetRows):
    """Analysts' likelihood ratios on the target, as logs."""

    log: np.ndarray = field(default_factory=_floats)
