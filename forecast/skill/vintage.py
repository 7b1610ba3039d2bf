"""A scenario as it could have been written on an earlier day: every number chosen with data
after that day replaced by one known then, so that forecasts at later origins (the hindcast, a
backtest's scenario fits) see no hindsight through the scenario."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from forecast.data.evidence import Evidence
from forecast.data.scenario import NormalPrior, Number, PositiveNumber, Scenario, Vintage

# the rationale and source of every replaced number (part of the hindcast's cache keys)
HINDSIGHT = "recomputed for the track record without hindsight (forecast.skill.hindcast)"


def trend_spread(months: np.ndarray, values: np.ndarray, span: int) -> float:
    """The sd over ``span`` months of a line with the values' least-squares slope per month:
    |slope| * span / sqrt(12). An indicator's spread is its unit over the scenario's period; the
    sd of a few early values of a growing series (the stockpile's four 2022 estimates: 0.28 log
    kg, against 0.76 over 2022-2025) makes its later values many units out, which no factor
    path can reach (the backtest's fits diverged). The trend's sd keeps its direction out: the
    centre stays the values' mean. 0 when the values share one month."""
    if np.ptp(months) == 0:
        return 0.0
    slope = np.polyfit(months, values, 1)[0]
    return float(abs(slope) * span / np.sqrt(12.0))


def without_hindsight(s: Scenario, evidence: Evidence, as_of: date) -> tuple[Scenario, list[str]]:
    """The scenario with every number that needs hindsight replaced by one known on ``as_of``,
    and a line per change. Initial factor levels were placed against the whole period's average:
    each becomes 0 (the factor's unit is unchanged). Candidate offsets are choices made knowing
    later events (one candidate's knowing it resolved): every candidate gets the outcome's median
    hazard. A normal indicator's centre becomes the mean of its transformed values public on
    ``as_of`` (at least two, not all equal, else ``ValueError``) and its spread their sd or, if
    larger, the sd their trend would give over the scenario's span (``trend_spread``)."""
    changes: list[str] = []
    why = f"{HINDSIGHT}, as of {as_of}"
    factors = {}
    for name, f in s.factors.items():
        if f.initial.mean != 0:
            changes.append(f"factor {name}: initial level mean {f.initial.mean:+g} -> 0")
        initial = NormalPrior(mean=0.0, sd=f.initial.sd, rationale=why, source=why)
        factors[name] = f.model_copy(update={"initial": initial})
    outcomes = {}
    for name, o in s.outcomes.items():
        cands = {}
        for c, cand in o.candidates.items():
            if cand.offset is not None:
                changes.append(f"candidate {name}:{c}: offset mean {cand.offset.mean:+g} removed")
            cands[c] = cand.model_copy(update={"offset": None})
        outcomes[name] = o.model_copy(update={"candidates": cands})
    known = evidence.frame[evidence.public_on() <= pd.Timestamp(as_of)]
    indicators = {}
    for name, ind in s.indicators.items():
        if ind.likelihood == "normal":
            rows = known[(known["kind"] == "indicator") & (known["target"] == name)]
            v = rows["value"].to_numpy(float)
            v = np.log(v) if ind.transform == "log" else v
            if len(v) < 2 or np.std(v, ddof=1) == 0:
                raise ValueError(
                    f"indicator {name}: {len(v)} distinct value(s) public by {as_of}; its centre "
                    "and spread cannot be recomputed without hindsight (start later)"
                )
            months = rows["month"].to_numpy(float)
            spread = max(
                float(np.std(v, ddof=1)), trend_spread(months, v, s.month_index(s.end_date) + 1)
            )
            centre = float(v.mean())
            text = f"{why}: from its {len(v)} values public then (spread: sd or trend, the larger)"
            changes.append(
                f"indicator {name}: centre {ind.center.value:g} -> {centre:.3f}, "
                f"spread {ind.spread.value:g} -> {spread:.3f} ({len(v)} values)"
            )
            ind = ind.model_copy(
                update={
                    "center": Number(value=centre, rationale=text, source=text),
                    "spread": PositiveNumber(value=spread, rationale=text, source=text),
                }
            )
        indicators[name] = ind
    vintage = Vintage(as_of=as_of, rationale=why, source=why)
    update = {"factors": factors, "outcomes": outcomes, "indicators": indicators}
    return s.model_copy(update=update | {"vintage": vintage}), changes
