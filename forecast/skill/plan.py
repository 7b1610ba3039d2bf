"""What a simulation produces, fixed before any value is drawn: a ``Plan`` of evidence rows
(months, targets, horizons, sources), and the quantities an SBC of a whole scenario ranks.

A plan never looks at simulated values, so a fit to a simulated log is a fit to data the model
describes exactly (``forecast.skill.simulation``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from forecast.data.evidence import Evidence
from forecast.data.scenario import Scenario
from forecast.model.arrays import hazard_arrays
from forecast.model.design import hazard_units, source_labels
from forecast.model.priors import correlated_factors, learned_reversions


@dataclass(frozen=True)
class ForecastRow:
    """A crowd or expert probability for ``target`` (``outcome`` or ``outcome:candidate``)."""

    target: str
    month: int
    horizon: int
    forecaster: str


@dataclass(frozen=True)
class RatioRow:
    """An analyst's likelihood ratio that ``target`` happens (or holds) by ``month + horizon``."""

    target: str
    month: int
    horizon: int
    ratio: float


@dataclass(frozen=True)
class Plan:
    """Which evidence rows a simulation produces, fixed before any value is drawn.

    ``indicator_months``: months with a row, per indicator (normal, count or rating);
    ``source_months``: months with a row from a declared source, per indicator and source (the
    rows of ``indicator_months`` are the reference's);
    ``event_months``: months with a coded event, per factor or (outcome-coded news) hazard outcome
    (which then needs the scenario's ``outcome_drift``);
    ``resolve``: a resolution row for every
    hazard unit (the month it happened or ended, else "not yet" at the last month).
    """

    n_months: int
    indicator_months: dict[str, tuple[int, ...]] = field(default_factory=dict)
    source_months: dict[str, dict[str, tuple[int, ...]]] = field(default_factory=dict)
    event_months: dict[str, tuple[int, ...]] = field(default_factory=dict)
    forecasts: tuple[ForecastRow, ...] = ()
    ratios: tuple[RatioRow, ...] = ()
    resolve: bool = True

    @property
    def forecasters(self) -> list[str]:
        """Forecast sources in the order ``build_design`` gives them (sorted)."""
        return sorted({r.forecaster for r in self.forecasts})

    @classmethod
    def every_month(
        cls,
        s: Scenario,
        n_months: int,
        *,
        every: int = 1,
        events: bool = True,
        forecasts: tuple[ForecastRow, ...] = (),
        ratios: tuple[RatioRow, ...] = (),
    ) -> Plan:
        """A row for every indicator every ``every`` months and an event per factor and month."""
        months = tuple(range(0, n_months, every))
        return cls(
            n_months=n_months,
            indicator_months=dict.fromkeys(s.indicators, months),
            event_months=dict.fromkeys(s.factors, tuple(range(n_months))) if events else {},
            forecasts=forecasts,
            ratios=ratios,
        )

    @classmethod
    def like(cls, s: Scenario, ev: Evidence) -> Plan:
        """A plan with the structure of a real evidence log: its indicator months (by declared
        source), its events (on factors and outcomes) by month, its forecast rows, and a
        resolution per hazard unit."""
        fr = ev.frame

        def months(rows: pd.DataFrame) -> tuple[int, ...]:
            return tuple(int(t) for t in rows["month"])

        indicators = fr[fr["kind"].isin(["indicator", "count", "rating"])]
        source = [
            s.indicators[n].source_of(text)
            for n, text in zip(indicators["target"], indicators["source"], strict=True)
        ]
        indicators = indicators.assign(series=[x or "" for x in source])
        reference = indicators[indicators["series"] == ""]
        by_source: dict[str, dict[str, tuple[int, ...]]] = {}
        for (n, src), g in indicators[indicators["series"] != ""].groupby(
            ["target", "series"], sort=False
        ):
            by_source.setdefault(n, {})[src] = months(g)
        events = fr[fr["kind"] == "event"]
        forecasts = fr[fr["kind"] == "forecast"]
        return cls(
            n_months=ev.last_month + 1,
            indicator_months={n: months(g) for n, g in reference.groupby("target", sort=False)},
            source_months=by_source,
            event_months={t: months(g) for t, g in events.groupby("target", sort=False)},
            forecasts=tuple(
                ForecastRow(r.target, int(r.month), int(r.horizon_months), r.forecaster)
                for r in forecasts.itertuples()
            ),
        )


def structure_quantities(s: Scenario) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Quantities an SBC of a whole scenario ranks: every hazard outcome's intercept and first
    loading, every factor's first and last level and pooled loading scale, and what the scenario
    learns of its dynamics and sources: learned reversions, innovation correlations, source
    offsets."""
    units = hazard_units(s)
    h = hazard_arrays(s, units)
    factors = list(s.factors)
    out: dict[str, tuple[str, tuple[int, ...]]] = {}
    for j, o in enumerate(units.outcomes):
        out[f"alpha[{o}]"] = ("alpha", (j,))
        k = int(np.argmax(h.scale[j] > 0))
        out[f"loading[{o},{factors[k]}]"] = ("loading", (j, k))
    for k, f in enumerate(factors):
        out[f"f_first[{f}]"] = ("f", (k, 0))
        out[f"f_last[{f}]"] = ("f", (k, -1))
        out[f"tau[{f}]"] = ("tau", (k,))
    for k in learned_reversions(s):
        out[f"reversion[{factors[k]}]"] = ("reversion", (k,))
    block = correlated_factors(s)
    for i, j in zip(*np.tril_indices(len(block), -1), strict=True):
        pair = f"{factors[block[i]]},{factors[block[j]]}"
        out[f"innovation_correlation[{pair}]"] = ("innovation_correlation", (int(i), int(j)))
    for kind in ("normal", "count"):
        names = [n for n, ind in s.indicators.items() if ind.likelihood == kind]
        for i, label in enumerate(source_labels(s, names)):
            out[f"{kind}_source_offset[{label}]"] = (f"{kind}_source_offset", (i,))
    return out
