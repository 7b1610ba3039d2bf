"""Calendar months, the model's time step: ``YYYY-MM`` labels, first and last days, months ahead.

Time is monthly from the scenario's start (``Scenario.month_index``, ``Scenario.month_start``,
``Scenario.month_labels`` build on these); forecasts end on ``month_end(origin month, H)``.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd


def month_start(month: str | date, ahead: int = 0) -> date:
    """First day of the month ``ahead`` months after ``month`` (``YYYY-MM``, or any day in it)."""
    y, m = map(int, month.split("-")) if isinstance(month, str) else (month.year, month.month)
    ny, nm = divmod(y * 12 + m - 1 + ahead, 12)
    return date(ny, nm + 1, 1)


def month_end(month: str | date, ahead: int = 0) -> date:
    """Last day of the month ``ahead`` months after ``month`` (``YYYY-MM``, or any day in it).

    A forecast made with evidence through ``month`` at a horizon of H months covers the H months
    after it, so it ends on ``month_end(origin month, H)``: the calendar date a reader is shown.
    """
    return month_start(month, ahead + 1) - timedelta(days=1)


def month_label(d: date) -> str:
    """The ``YYYY-MM`` label of the month ``d`` falls in."""
    return f"{d.year:04d}-{d.month:02d}"


def month_dates(months) -> pd.DatetimeIndex:
    """Month labels as first-of-month dates: ``YYYY-MM`` strings (runs written before months were
    stored as dates) or datetime64 values."""
    values = np.asarray(months)
    if np.issubdtype(values.dtype, np.datetime64):
        return pd.DatetimeIndex(values)
    return pd.to_datetime(values.astype(str), format="%Y-%m")
