"""Where a backtest forecasts each question: on fixed calendar days while it is open, and a fixed
number of days before its scheduled close, never at a date derived from when its event happened.

A question is open from its open date (else its first crowd point) to the day before its ``end``
(the earliest of its close, resolution and reference dates: a question that resolved early stops
being forecast then, as on the platforms). Calendar origins are the given days of each month in
that window; a lead origin is ``close - lead`` when the question was still open then. The crowd
forecast at an origin is its last point on or before it, and counts only if it is at most
``max_crowd_age`` days old.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from forecast.data.questions import Questions
from forecast.skill.links import QuestionLinks

CALENDAR = "calendar"
LEAD = "lead"


def question_origins(
    start: pd.Timestamp | None,
    end: pd.Timestamp,
    close: pd.Timestamp,
    leads: Sequence[int],
    calendar_days: Sequence[int],
) -> list[tuple[str, float, pd.Timestamp]]:
    """``(kind, lead, origin)`` for one question: calendar days in ``[start, end)``, then each
    lead's ``close - lead`` if the question was open then (``lead`` is NaN for calendar rows)."""
    out: list[tuple[str, float, pd.Timestamp]] = []
    if start is not None and start < end:
        for month in pd.period_range(start, end, freq="M"):
            for day in calendar_days:
                when = month.start_time.normalize() + pd.Timedelta(days=day - 1)
                if when.month == month.month and start <= when < end:  # no February 31
                    out.append((CALENDAR, np.nan, when))
    if pd.notna(close):
        for lead in leads:
            when = close - pd.Timedelta(days=int(lead))
            if when < end and (start is None or start <= when):
                out.append((LEAD, float(lead), when))
    return out


def plan(
    questions: Questions,
    links: QuestionLinks,
    leads: Sequence[int],
    calendar_days: Sequence[int] = (1, 15),
    max_crowd_age: int = 30,
) -> pd.DataFrame:
    """One row per resolved question and origin: its kind and lead, the crowd there (NaN if none
    or stale, with its date and age kept), the days left to the scheduled close (NaN if none),
    its platform, factor link, scenario target (``_asks``) and topics, and a training weight that
    makes each question count once however many origins it has."""
    first_crowd = questions.crowd.groupby("key")["date"].min()
    rows = []
    for q in questions.questions.itertuples():
        if not np.isfinite(q.resolution):
            continue
        start = q.open if pd.notna(q.open) else first_crowd.get(q.key)
        found = question_origins(start, q.end, q.close, leads, calendar_days)
        link = links.link(q.key, q.title, q.tags)
        asks = _asks(links, q)
        for kind, lead, origin in found:
            crowd, crowd_date = questions.crowd_at(q.key, origin)
            age = (origin - crowd_date).days if crowd_date is not None else np.nan
            rows.append(
                {
                    "key": q.key,
                    "title": q.title,
                    "kind": kind,
                    "lead": lead,
                    "origin": origin,
                    "month": origin.to_period("M"),
                    "resolved": q.resolved,
                    "y": q.resolution,
                    "crowd": crowd if age <= max_crowd_age else np.nan,
                    "crowd_date": crowd_date,
                    "crowd_age": age,
                    "horizon": (q.close - origin).days if pd.notna(q.close) else np.nan,
                    "platform": q.key.split(":", 1)[0],
                    "link": link.why,
                    "factor": link.factor,
                    "sign": link.sign,
                    **asks,
                    "topics": links.topic_weights(q.tags),
                    "weight": 1.0 / len(found),
                }
            )
    frame = pd.DataFrame(rows, columns=PLAN_COLUMNS)
    # every platform of the plan is a category, so every month's calibration has the same ones
    return frame.assign(platform=pd.Categorical(frame["platform"]))


def _asks(links: QuestionLinks, q) -> dict:
    """The plan columns of the scenario target question ``q`` asks about (``target``, its
    ``target_sign``, the ``window_end``: the link's close, else the scheduled close, NaT if
    neither, and ``target_link``, which entry linked it); empty values if none."""
    found = links.target_of(q.key, q.title, q.tags)
    if found is None:
        return {"target": None, "target_sign": np.nan, "window_end": pd.NaT, "target_link": None}
    link, why = found
    end = pd.Timestamp(link.close) if link.close is not None else q.close
    sign = 1.0 if link.sign == "+" else -1.0
    return {"target": link.target, "target_sign": sign, "window_end": end, "target_link": why}


PLAN_COLUMNS = [
    "key",
    "title",
    "kind",
    "lead",
    "origin",
    "month",
    "resolved",
    "y",
    "crowd",
    "crowd_date",
    "crowd_age",
    "horizon",
    "platform",
    "link",
    "factor",
    "sign",
    "target",
    "target_sign",
    "window_end",
    "target_link",
    "topics",
    "weight",
]
