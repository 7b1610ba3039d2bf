"""Questions that ask about one of the scenario's own targets (``[[targets]]`` in the links file):
their crowd histories as forecast evidence of the scenario fit, and their probability from the
scenario itself.

A linked question asks whether its target (an outcome, or one candidate of it) happens, or for a
persistence outcome still holds, by the end of its window. From a fit whose design spans the
window, given a posterior draw's monthly hazards h the chance that none of the target's units
still open at the origin ends in the window is the product over units and months of
``(1 - h) ** part``, ``part`` the share of the month inside ``[origin, end]`` (the survival
model's own within-month rule); months after the evidence carry hazards drawn from the factor
dynamics, so this is a forecast. Averaged over draws it is the scenario's probability, and the
draws' 5-95 % range its interval (parameter uncertainty only).

The crowd of a linked question enters the fit as ``forecast`` rows on its target (forecaster: the
platform, whose bias and noise the model learns, pooled over platforms): the last point of each
month, so a market's daily prices count as one monthly reading, public on its day.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import xarray as xr

from forecast.data.evidence import FRAME_COLUMNS, Evidence
from forecast.data.months import month_start
from forecast.data.questions import Questions
from forecast.data.scenario import Scenario
from forecast.data.target import Target
from forecast.model.design import Design

DAYS_PER_MONTH = 365.25 / 12
CROWD_FILE = "crowd"  # the ``file`` of crowd rows in an evidence frame


def window_parts(s: Scenario, origin: date, end: date, n_months: int) -> np.ndarray:
    """(n_months,) the share of each scenario month inside ``[origin, end]`` (both days
    included); months outside the design get nothing, so check ``covers`` first."""
    parts = np.zeros(n_months)
    cur = month_start(origin)
    stop = end + timedelta(days=1)
    while cur < stop:
        nxt = month_start(cur, 1)
        t = s.month_index(cur)
        if 0 <= t < n_months:
            inside = (min(nxt, stop) - max(cur, origin)).days
            parts[t] = max(inside, 0) / (nxt - cur).days
        cur = nxt
    return parts


def covers(s: Scenario, d: Design, origin: date, end: date) -> bool:
    """Whether the design's months span the window ``[origin, end]``."""
    return s.month_index(month_start(origin)) >= 0 and s.month_index(month_start(end)) < d.n_months


def window_probability(
    s: Scenario,
    d: Design,
    idata: xr.DataTree,
    target: str,
    sign: float,
    origin: date,
    end: date,
) -> np.ndarray:
    """(sample,) P(the question's "yes") per posterior draw: the target happens (an event) or
    still holds (a persistence) through ``[origin, end]``, given that its units open at the
    origin were open then; ``sign`` -1 asks the opposite. Units the design saw end are left out
    (an "any candidate" target asks about the others)."""
    outcome, candidate = Target.parse(target)
    units = [u for u in d.units.units_of(outcome, candidate) if d.resolution.closed_at[u] < 0]
    x = idata["posterior"]["logit_hazard"].stack(sample=("chain", "draw"))
    x = x.transpose("sample", "unit", "month").values[:, units, :]  # (S, unit, month)
    parts = window_parts(s, origin, end, d.n_months)
    neg_log_s = (np.logaddexp(0.0, x) * parts).sum(axis=(1, 2))  # -log P(no unit ends)
    survive = np.exp(-neg_log_s)
    holds = survive if s.outcomes[outcome].kind == "persistence" else 1.0 - survive
    return holds if sign > 0 else 1.0 - holds


def crowd_rows(s: Scenario, questions: Questions, asked: pd.DataFrame, floor: float) -> Evidence:
    """Forecast-kind evidence rows from the crowd of every question in ``asked`` (plan rows with
    ``key``, ``target``, ``target_sign`` and ``window_end``; one per question is enough): the
    last point of each month dated inside the scenario and before the window ends, as the
    probability of the target (``1 - p`` for a question asking the opposite), clipped to
    ``[floor, 1 - floor]``, over the months left to the window's end."""
    first = asked.dropna(subset=["target", "window_end"]).drop_duplicates("key")
    recs = []
    lo, hi = pd.Timestamp(s.start_date), pd.Timestamp(month_start(s.end_date, 1))
    for q in first.itertuples():
        series = questions.crowd[questions.crowd["key"] == q.key]
        series = series[(series["date"] >= lo) & (series["date"] < hi)]
        series = series[series["date"] <= q.window_end]
        monthly = series.groupby(series["date"].dt.to_period("M"), sort=True).tail(1)
        outcome, candidate = Target.parse(q.target)
        for pt in monthly.itertuples():
            p = pt.p if q.target_sign > 0 else 1.0 - pt.p
            days = (q.window_end - pt.date).days + 1
            recs.append(
                {
                    "file": CROWD_FILE,
                    "row": len(recs) + 1,
                    "date": pt.date,
                    "month": s.month_index(pt.date.date()),
                    "day_known": True,
                    "kind": "forecast",
                    "target": q.target,
                    "outcome": outcome,
                    "candidate": candidate,
                    "value": float(np.clip(p, floor, 1.0 - floor)),
                    "horizon_months": days / DAYS_PER_MONTH,
                    "exposure_days": np.nan,
                    "forecaster": q.key.split(":", 1)[0],
                    "published": pd.NaT,
                    "source": f"crowd of {q.key}",
                    "source_url": "",
                    "note": f"last crowd point of {pt.date:%Y-%m} on {q.key}",
                }
            )
    return Evidence(frame=pd.DataFrame(recs, columns=list(FRAME_COLUMNS)), files=())


def with_crowd(ev: Evidence, crowd: Evidence | None) -> Evidence:
    """The evidence log and the crowd's rows together, in the log's order (date, file, row)."""
    if crowd is None or crowd.frame.empty:
        return ev
    frame = pd.concat([ev.frame, crowd.frame], ignore_index=True)
    frame = frame.sort_values(["date", "file", "row"], kind="stable").reset_index(drop=True)
    return Evidence(frame=frame, files=ev.files)
