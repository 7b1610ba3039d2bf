"""The leave-future-out check: what it scores and that it can tell a surprising month."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sim import FAST, mini_inputs

from forecast.data.evidence import Evidence
from forecast.skill.lfo import new_rows_by_kind, one_step

pytestmark = pytest.mark.fit


def _with_value(inputs, target: str, month: str, value: float):
    """``inputs`` with the ``target`` row of ``month`` set to ``value``."""
    fr = inputs.evidence.frame.copy()
    fr.loc[(fr["target"] == target) & (fr["date"].dt.strftime("%Y-%m") == month), "value"] = value
    return type(inputs)(
        **{**vars(inputs), "evidence": Evidence(frame=fr, files=inputs.evidence.files)}
    )


def test_new_rows_are_those_public_in_the_month():
    inputs = mini_inputs()
    fr = inputs.evidence.frame
    old, new = fr[fr["date"] < "2022-06-01"], fr[fr["date"] < "2022-07-01"]
    assert new_rows_by_kind(old, new) == {"indicator": 1}


def test_a_surprising_month_scores_lower():
    """The stockpile reading of 2022-06 is scored by a fit on what was known at the end of May;
    the same month with a reading far outside anything the model expects scores far lower, and
    kinds with nothing new score exactly 0."""
    inputs = mini_inputs()
    month = pd.Period("2022-06", "M")
    usual = one_step(inputs, month, FAST)
    odd = one_step(_with_value(inputs, "stockpile", "2022-06", 6200.0), month, FAST)
    assert usual.new_rows["indicator"] == 1
    assert np.isfinite(usual.lpd["indicator"])
    assert odd.lpd["indicator"] < usual.lpd["indicator"] - 8
    quiet = [k for k, n in usual.new_rows.items() if n == 0]
    assert quiet and all(usual.lpd[k] == 0.0 and usual.mcse[k] == 0.0 for k in quiet)
    assert 0 < usual.mcse["indicator"] < 0.5
