"""The leave-future-out check: what it scores and that it can tell a surprising month."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sim import FAST, mini_inputs

from forecast.data.evidence import Evidence
from forecast.inference.gate import Gate
from forecast.model.design import build_design
from forecast.model.loglik import element_rows
from forecast.skill.backtest import known_evidence
from forecast.skill.lfo import (
    _scored,
    group_keys,
    leave_future_out,
    new_rows_by_kind,
    one_step,
)


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
    old = rng.normal(size=400)
    before = {"event": {"a": old}, "count": {("f", 2): np.zeros(400)}}
    delta = rng.normal(-2.0, 0.5, 400)
    after = {"event": {"a": old + delta}, "count": {("f", 2): np.zeros(400)}}
    counts = {"event": 3}
    month = pd.Period("2024-01", "M")
    flat = _scored(month, np.full(400, 1 / 400), before, after, counts, None, None)
    assert flat.lpd["event"] == pytest.approx(np.log(np.mean(np.exp(delta))))
    w = np.exp(delta)
    eff = w.sum() ** 2 / (w**2).sum() / 400
    assert flat.efficiency["event"] == pytest.approx(eff)
    assert flat.mcse["event"] == pytest.approx(np.sqrt((1 / eff - 1) / 400))
    # one group: the group score is the joint one
    assert flat.lpd_groups["event"] == pytest.approx(flat.lpd["event"])
    assert flat.mcse_groups["event"] == pytest.approx(flat.mcse["event"])
    assert flat.groups == {"event": 1, "count": 0}
    assert flat.lpd["count"] == 0.0 and flat.mcse["count"] == 0.0 and flat.new_rows["count"] == 0
    assert flat.new_rows["event"] == 3 and flat.pareto_k is None
    one = np.zeros(400)
    one[7] = 1.0
    on_seven = _scored(month, one, before, after, counts, None, 0.2)
    assert on_seven.lpd["event"] == pytest.approx(delta[7]) and on_seven.mcse["event"] < 1e-9
    assert on_seven.pareto_k == 0.2


def test_groups_are_scored_each_on_their_own():
    """Two new groups and an unchanged one: the group score is the sum of each new group's log
    mean density (not the log mean of their product), its error comes from both groups' draws
    by the delta method, and the unchanged group is left out. Two groups whose densities rise and
    fall together score higher jointly than apart."""
    rng = np.random.default_rng(1)
    n = 2000
    shared = rng.normal(0.0, 1.5, n)
    d1, d2 = shared + rng.normal(0, 0.3, n), shared + rng.normal(0, 0.3, n)
    keep = rng.normal(size=n)
    before = {"count": {("f", 1): keep}}
    after = {"count": {("f", 1): keep.copy(), ("f", 2): d1, ("f", 3): d2}}
    st = _scored(pd.Period("2024-01", "M"), np.full(n, 1 / n), before, after, {}, None, None)
    lm = [np.log(np.mean(np.exp(d))) for d in (d1, d2)]
    assert st.groups["count"] == 2
    assert st.lpd_groups["count"] == pytest.approx(sum(lm))
    assert st.lpd["count"] == pytest.approx(np.log(np.mean(np.exp(d1 + d2))))
    assert st.lpd["count"] > st.lpd_groups["count"] + 0.3
    r = np.exp(d1 - lm[0]) - 1 + np.exp(d2 - lm[1]) - 1
    assert st.mcse_groups["count"] == pytest.approx(np.sqrt(np.sum(r**2)) / n)
    effs = [np.exp(d).sum() ** 2 / (np.exp(d) ** 2).sum() / n for d in (d1, d2)]
    assert st.efficiency_groups["count"] == pytest.approx(min(effs))


def test_group_keys_match_across_cuts():
    """Every element of the earlier cut's design has its group in the later cut's; the later
    cut's new groups are its new rows (one per row, or one per event cell)."""
    inputs = mini_inputs()
    s = inputs.scenario
    cuts = [known_evidence(inputs.evidence, pd.Period(m, "M")) for m in ("2022-06", "2023-02")]
    designs = [build_design(s, ev, n_months=14) for ev in cuts]
    keys = [
        {var: group_keys(var, d, ev.frame) for var in element_rows(d)}
        for d, ev in zip(designs, cuts, strict=True)
    ]
    new = new_rows_by_kind(cuts[0].frame, cuts[1].frame)
    assert sum(new.values()) > 2
    for var, old_keys in keys[0].items():
        assert set(old_keys) <= set(keys[1][var]), var
    for var, new_keys in keys[1].items():
        fresh = set(new_keys) - set(keys[0].get(var, []))
        if var in ("resolution", "forecast"):
            assert fresh <= {"all"}
        elif var != "event":
            assert len(fresh) == new.get(var, 0), var
    fr = cuts[1].frame
    rows = designs[1].count.rows
    assert keys[1]["count"] == list(zip(fr["file"][rows], fr["row"][rows], strict=True))
