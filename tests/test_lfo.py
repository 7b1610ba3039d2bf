"""The leave-future-out check: what it scores and that it can tell a surprising month."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sim import FAST, mini_inputs

from forecast.data.evidence import Evidence
from forecast.inference.gate import Gate
from forecast.skill.lfo import _scored, leave_future_out, new_rows_by_kind, one_step


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


@pytest.mark.fit
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


@pytest.mark.fit
def test_psis_lfo_carries_a_fit_forward_and_agrees_with_exact_refits():
    """From the fit at 2022-05, the 2022-06 origin is that fit's draws weighted by what became
    public in May (no refit while k̂ is within the gate): its score of June's reading agrees with
    an exact refit's within Monte Carlo error. A k̂ limit of -inf refits at every origin, and an
    origin's fit is seeded by its month, so both runs' first origins are the same fit."""
    inputs = mini_inputs()
    months = [pd.Period("2022-05", "M"), pd.Period("2022-06", "M")]
    carried = leave_future_out(inputs, months, FAST)
    exact = leave_future_out(inputs, months, FAST, gate=Gate(k_hat_max=-np.inf))
    assert carried[0].pareto_k is None and exact[0].pareto_k is None
    assert carried[0].lpd == exact[0].lpd
    assert carried[1].pareto_k is not None and carried[1].pareto_k <= 0.7
    assert exact[1].pareto_k is None
    assert carried[1].new_rows["indicator"] == 1
    a, b = carried[1].lpd["indicator"], exact[1].lpd["indicator"]
    se = np.hypot(carried[1].mcse["indicator"], exact[1].mcse["indicator"])
    assert abs(a - b) < 4 * se + 0.1, (a, b, se)  # + 0.1: the MCSE leaves out autocorrelation
    assert [r["refit"] for st in carried for r in st.rows("v")][-1] is False


def test_a_weighted_score_is_the_log_of_the_weighted_mean_density():
    """Equal weights give log mean_s p_s and sqrt((1 / efficiency - 1) / draws); weights on one
    draw give that draw's density with no Monte Carlo error; a kind with nothing new scores 0."""
    rng = np.random.default_rng(0)
    before = {"event": rng.normal(size=400), "count": np.zeros(400)}
    delta = rng.normal(-2.0, 0.5, 400)
    after = {"event": before["event"] + delta, "count": np.zeros(400)}
    counts = {"event": 3}
    flat = _scored(
        pd.Period("2024-01", "M"), np.full(400, 1 / 400), before, after, counts, None, None
    )
    assert flat.lpd["event"] == pytest.approx(np.log(np.mean(np.exp(delta))))
    w = np.exp(delta)
    eff = w.sum() ** 2 / (w**2).sum() / 400
    assert flat.efficiency["event"] == pytest.approx(eff)
    assert flat.mcse["event"] == pytest.approx(np.sqrt((1 / eff - 1) / 400))
    assert flat.lpd["count"] == 0.0 and flat.mcse["count"] == 0.0 and flat.new_rows["count"] == 0
    assert flat.new_rows["event"] == 3 and flat.pareto_k is None
    one = np.zeros(400)
    one[7] = 1.0
    on_seven = _scored(pd.Period("2024-01", "M"), one, before, after, counts, None, 0.2)
    assert on_seven.lpd["event"] == pytest.approx(delta[7]) and on_seven.mcse["event"] < 1e-9
    assert on_seven.pareto_k == 0.2
