"""Forecasts from posteriors.

Fast part: coherence of ``project``/``summarize`` on synthetic posteriors (``arviz.from_dict``
with a seeded generator, no sampling). Sampling part: each evidence kind moves the posterior the
right way, comparing small fits of the mini scenario with and without added rows; every fit shares
one compiled model (see tests/sim.py).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import arviz as az
import numpy as np
import pytest
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sim import (
    FAST,
    MINI_MONTHS,
    chain_draw,
    fit_design,
    mean_se,
    mini_inputs,
    projection,
    with_rows,
)

from forecast.model.design import build_design
from forecast.model.posterior import (
    origin_fraction,
    project,
    projection_inputs,
    stored_projection,
    summarize,
)

# --- coherence on synthetic posteriors ---------------------------------------------------------


def synthetic_posterior(s, d, rng: np.random.Generator, spread: float, chains=2, draws=50):
    """Posterior-shaped draws of every variable ``project`` reads, for the mini scenario."""
    K, T, J = len(s.factors), d.n_months, len(d.units.outcomes)
    C = len(d.units.candidates)

    def norm(*shape, loc=0.0, sd=1.0):
        return rng.normal(loc, sd * spread, (chains, draws, *shape))

    post = {
        "f": np.cumsum(norm(K, T, sd=0.3), axis=-1),
        "loading": norm(J, K),
        "alpha": norm(J, loc=-3.5),
        "candidate_offset": norm(C),
        "count_intercept": norm(len(d.count.names), loc=3.0, sd=0.5),
        "count_loading_abs": np.abs(norm(len(d.count.names))),
        "count_inv_dispersion": np.exp(norm(len(d.count.names), loc=-0.7, sd=0.5)),
        "normal_intercept": norm(len(d.indicator.names)),
        "normal_loading_abs": np.abs(norm(len(d.indicator.names))),
        "normal_sd": np.exp(norm(len(d.indicator.names), loc=-1.2, sd=0.3)),
    }
    dims = {
        "f": ["factor", "month"],
        "loading": ["outcome", "factor"],
        "alpha": ["outcome"],
        "candidate_offset": ["candidate"],
        "count_intercept": ["count_indicator"],
        "count_loading_abs": ["count_indicator"],
        "count_inv_dispersion": ["count_indicator"],
        "normal_intercept": ["normal_indicator"],
        "normal_loading_abs": ["normal_indicator"],
        "normal_sd": ["normal_indicator"],
    }
    coords = {
        "factor": list(s.factors),
        "month": d.months,
        "outcome": d.units.outcomes,
        "candidate": d.units.candidates,
        "count_indicator": d.count.names,
        "normal_indicator": d.indicator.names,
    }
    return az.from_dict({"posterior": post}, dims=dims, coords=coords)


@pytest.fixture(scope="module")
def mini():
    inputs = mini_inputs()
    return inputs, build_design(inputs.scenario, inputs.evidence)


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 2**32 - 1), spread=st.floats(0.05, 3.0))
def test_projection_is_coherent_for_any_posterior(mini, seed, spread):
    inputs, d = mini
    s = inputs.scenario
    idata = synthetic_posterior(s, d, np.random.default_rng(seed), spread)
    proj = project(s, d, idata, seed=seed % 1000, n_paths=4)
    p = proj.probability  # (sample, target, horizon), horizons increasing
    assert list(p["horizon"].values) == sorted(s.horizons)
    assert np.all((p.values >= 0) & (p.values <= 1))
    steps = np.diff(p.values, axis=2)
    for t in p["target"].values:
        kind = s.outcomes[t.split(":")[0]].kind
        step = steps[:, list(p["target"].values).index(t)]
        # per draw, not only on average: every horizon uses the same projected paths
        if kind == "persistence":
            assert np.all(step <= 1e-12), t
        else:  # event and state outcomes: "by the horizon" can only become more likely
            assert np.all(step >= -1e-12), t
    # a resolved candidate is certain and drops out of "any open candidate"
    beta = p.sel(target="deal:beta").values
    assert np.all(beta == 1.0)
    np.testing.assert_array_equal(p.sel(target="deal").values, p.sel(target="deal:alpha").values)
    table = summarize(proj)
    assert len(table) == len(p["target"]) * len(s.horizons)
    assert (table["lower"] <= table["probability"]).all()
    assert (table["probability"] <= table["upper"]).all()
    assert table[["lower", "upper"]].stack().between(0, 1).all()
    mono = table.sort_values("horizon_months").groupby(["outcome", "candidate"], dropna=False)
    for (outcome, _), g in mono:
        diffs = np.diff(g["probability"].to_numpy())
        if s.outcomes[outcome].kind == "persistence":
            assert np.all(diffs <= 1e-12)
        else:
            assert np.all(diffs >= -1e-12)


def test_forecast_table_gives_each_horizon_its_calendar_end(mini):
    """The projection starts the month after the last evidence month (June 2023 in the mini log),
    so 6 months end on 31 December 2023; the existing columns keep their order."""
    inputs, d = mini
    assert inputs.evidence.frame["date"].max().strftime("%Y-%m") == "2023-06"
    idata = synthetic_posterior(inputs.scenario, d, np.random.default_rng(2), 1.0)
    proj = project(inputs.scenario, d, idata, seed=2, n_paths=2)
    assert proj.origin == "2023-06"
    table = summarize(proj)
    assert list(table.columns) == [
        "outcome",
        "candidate",
        "horizon_months",
        "end_date",
        "probability",
        "lower",
        "upper",
    ]
    ends = dict(zip(table["horizon_months"], table["end_date"], strict=True))
    assert ends == {6: "2023-12-31", 12: "2024-06-30", 24: "2025-06-30"}
    held = summarize(project(inputs.scenario, d, idata, seed=2, n_paths=2, horizons=(1, 7)))
    assert set(held["end_date"]) == {"2023-07-31", "2024-01-31"}


def test_projection_is_reproducible_with_a_seed(mini):
    inputs, d = mini
    idata = synthetic_posterior(inputs.scenario, d, np.random.default_rng(5), 1.0)
    a = project(inputs.scenario, d, idata, seed=3).probability.values
    b = project(inputs.scenario, d, idata, seed=3).probability.values
    c = project(inputs.scenario, d, idata, seed=4).probability.values
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_holding_a_positively_loaded_factor_high_raises_the_outcome(mini):
    inputs, d = mini
    s = inputs.scenario
    idata = synthetic_posterior(s, d, np.random.default_rng(9), 0.5)
    idata.posterior["loading"].loc[{"outcome": "deal", "factor": "appetite"}] = 1.0
    low = project(s, d, idata, seed=1, hold={"appetite": -2.0}).probability
    high = project(s, d, idata, seed=1, hold={"appetite": 2.0}).probability
    assert np.all(high.sel(target="deal:alpha").values > low.sel(target="deal:alpha").values)


def test_the_first_month_ahead_reads_the_origins_factor_levels(mini):
    """The hazard reads last month's factors: P(by one month) is fixed by the origin's levels, so
    it does not depend on the projected paths (a seed changes nothing)."""
    inputs, d = mini
    s = inputs.scenario
    idata = synthetic_posterior(s, d, np.random.default_rng(2), 1.0)
    post = idata["posterior"].to_dataset().stack(sample=("chain", "draw"))
    f_origin = post["f"].isel(month=d.origin).transpose("sample", "factor").values
    j = d.units.outcomes.index("deal")
    x = (
        post["alpha"].values[j]
        + post["candidate_offset"].sel(candidate="deal:alpha").values
        + np.einsum("sk,ks->s", f_origin, post["loading"].values[j])
    )
    for seed in (1, 2):
        p = project(s, d, idata, seed=seed, horizons=(1,)).probability
        np.testing.assert_allclose(
            p.sel(target="deal:alpha", horizon=1).values, 1 / (1 + np.exp(-x))
        )


def test_months_after_an_outcome_was_last_known_open_are_forecast_too(mini):
    """bases_kept was last known to hold in the evidence's last month; a forecast made four months
    later must multiply in the chance that it survived those four unobserved months."""
    inputs, d0 = mini
    s = inputs.scenario
    d = build_design(s, inputs.evidence, n_months=d0.n_months + 4)
    u = d.units.labels.index("bases_kept")
    assert d.resolution.known_open_until[u] == d0.origin < d.origin
    idata = synthetic_posterior(s, d, np.random.default_rng(4), 0.5)
    rng = np.random.default_rng(5)
    x = rng.normal(-3.0, 1.0, (2, 50, len(d.units.labels), d.n_months))
    post = idata["posterior"].to_dataset()
    idata["posterior"] = post.assign(logit_hazard=(("chain", "draw", "unit", "month"), x))
    known_now = replace(
        d,
        resolution=replace(
            d.resolution,
            known_open_until=np.where(d.resolution.known_open_until >= 0, d.origin, -1),
        ),
    )
    with_gap = project(s, d, idata, seed=1).probability.sel(target="bases_kept").values
    without = project(s, known_now, idata, seed=1).probability.sel(target="bases_kept").values
    gap = x.reshape(100, len(d.units.labels), -1)[:, u, d0.origin + 1 :]
    survived = np.exp(-np.logaddexp(0.0, gap).sum(axis=1))
    np.testing.assert_allclose(with_gap, without * survived[:, None], rtol=1e-10)
    # known open on day 4 of a 30-day origin month: the other 26/30 of it are forecast too
    seen = replace(
        known_now,
        resolution=replace(
            known_now.resolution,
            known_open_fraction=np.where(d.resolution.known_open_until >= 0, 4 / 30, 1.0),
        ),
    )
    part = project(s, seen, idata, seed=1).probability.sel(target="bases_kept").values
    rest = np.exp(-26 / 30 * np.logaddexp(0.0, x.reshape(100, len(d.units.labels), -1)[:, u, -1]))
    np.testing.assert_allclose(part, without * rest[:, None], rtol=1e-10)


def with_hazards(idata, d, seed=5):
    """``idata`` with fitted logit hazards (the gap months before the projection read them)."""
    x = np.random.default_rng(seed).normal(-3.0, 1.0, (2, 50, len(d.units.labels), d.n_months))
    post = idata["posterior"].to_dataset()
    idata["posterior"] = post.assign(logit_hazard=(("chain", "draw", "unit", "month"), x))
    return idata


def test_an_origin_in_the_last_evidence_month_forecasts_as_before(mini):
    """``origin`` None (``--origin evidence``), the last evidence date, and any later day of that
    month (which the fit treats as observed) all give the same numbers and end dates."""
    inputs, d = mini
    s = inputs.scenario
    idata = with_hazards(synthetic_posterior(s, d, np.random.default_rng(6), 0.7), d)
    base = project(s, d, idata, seed=1)
    for day in (inputs.evidence.frame["date"].max().date(), date(2023, 6, 30)):
        again = project(s, d, idata, seed=1, origin=day)
        np.testing.assert_array_equal(again.probability.values, base.probability.values)
        assert again.origin == base.origin == "2023-06"
    with pytest.raises(ValueError, match="before the last fitted month"):
        project(s, d, idata, seed=1, origin=date(2023, 5, 31))


def held_hazards(s, d, idata, unit: str, months: int, level: float = 0.4) -> np.ndarray:
    """(sample, month ahead) hazards of ``unit`` with every factor held at ``level``: the first
    month after the last fitted one reads that month's fitted levels, later ones the held level."""
    post = idata["posterior"].to_dataset().stack(sample=("chain", "draw"))
    u = d.units.labels.index(unit)
    j = d.units.outcome_idx[u]
    x0 = post["alpha"].values[j]
    if unit in d.units.candidates:
        x0 = x0 + post["candidate_offset"].sel(candidate=unit).values
    lam = post["loading"].values[j]  # (factor, sample)
    f_last = post["f"].isel(month=d.origin).transpose("factor", "sample").values
    x = np.stack([x0 + (lam * (f_last if m == 0 else level)).sum(0) for m in range(months)], 1)
    return 1 / (1 + np.exp(-x))


def test_a_later_origin_integrates_the_hazard_of_the_months_in_between(mini):
    """Three months after the evidence (origin 20 September 2023, no new evidence): an outcome
    last known open in June is at risk in July, August and all of September, then the H months
    after; one with no resolution rows is taken as open on the 20th, so only 10/30 of September
    counts. With the factors held the hazards are known per draw, so P is exact."""
    inputs, d0 = mini
    s = inputs.scenario
    u = d0.units.labels.index("deal:alpha")
    last = d0.resolution.known_open_until
    known = replace(
        d0,
        resolution=replace(
            d0.resolution,
            known_open_until=np.where(np.arange(len(last)) == u, d0.origin, last),
        ),
    )
    idata = with_hazards(synthetic_posterior(s, d0, np.random.default_rng(8), 0.5), d0)
    hold = dict.fromkeys(s.factors, 0.4)
    origin = date(2023, 9, 20)
    h = held_hazards(s, d0, idata, "deal:alpha", 3 + 24)
    log_q = np.log1p(-h)  # (sample, month ahead): July 2023 onwards
    for design, sept in ((known, 1.0), (d0, 10 / 30)):
        p = project(s, design, idata, seed=1, hold=hold, origin=origin)
        assert p.origin == "2023-09"
        for H in s.horizons:
            log_s = sept * log_q[:, 2] + log_q[:, 3 : 3 + H].sum(1)
            if design is known:
                log_s = log_s + log_q[:, :2].sum(1)
            got = p.probability.sel(target="deal:alpha", horizon=H).values
            np.testing.assert_allclose(got, -np.expm1(log_s), rtol=1e-10)
    # known open in June: a later origin can only add months at risk
    now = project(s, known, idata, seed=1, hold=hold).probability.sel(target="deal:alpha")
    later = project(s, known, idata, seed=1, hold=hold, origin=origin).probability
    assert np.all(later.sel(target="deal:alpha").values >= now.values)
    table = summarize(project(s, d0, idata, seed=1, origin=origin))
    assert set(table["end_date"]) == {"2024-03-31", "2024-09-30", "2025-09-30"}


def test_an_origin_later_in_its_month_leaves_less_of_it_at_risk(mini):
    """From 1 September an outcome with no resolution rows has 29/30 of September ahead of it,
    from the 20th 10/30: P(event by H) is lower, P(still holds) higher; an outcome known open in
    June is at risk all of September from either day, so it does not move."""
    inputs, d = mini
    s = inputs.scenario
    idata = with_hazards(synthetic_posterior(s, d, np.random.default_rng(9), 0.5), d)
    assert origin_fraction(date(2023, 9, 1)) == 29 / 30
    early = project(s, d, idata, seed=1, origin=date(2023, 9, 1)).probability
    late = project(s, d, idata, seed=1, origin=date(2023, 9, 20)).probability
    alpha = "deal:alpha"
    assert np.all(early.sel(target=alpha).values > late.sel(target=alpha).values)
    np.testing.assert_array_equal(
        early.sel(target="bases_kept").values, late.sel(target="bases_kept").values
    )


def test_a_state_outcomes_interval_is_about_parameters_not_monte_carlo(mini):
    """With every draw the same, the spread of a state outcome's per-draw probability is pure
    simulation noise: its own 256 paths keep it near the binomial sd sqrt(p(1-p)/256), a quarter
    of what 16 shared paths gave."""
    inputs, d = mini
    s = inputs.scenario
    idata = synthetic_posterior(s, d, np.random.default_rng(3), 1e-9)

    def spread(n: int) -> np.ndarray:
        p = project(s, d, idata, seed=1, n_state_paths=n).probability.sel(target="calm")
        return p.std("sample").values

    p = project(s, d, idata, seed=1).probability.sel(target="calm").mean("sample").values
    assert np.all(spread(256) <= 1.2 * np.sqrt(p * (1 - p) / 256))
    assert np.all(spread(256) < spread(16) / 3)


# --- each evidence kind moves the posterior (sampling) -----------------------------------------

H12 = 12  # horizon compared


@pytest.fixture(scope="module")
def base():
    """The shipped mini evidence, fitted with a longer warm-up than ``FAST``: with 400 tuning
    draws the mini model's adaptation is marginal (seed 7 compiled into empty caches: R-hat 1.04,
    bulk ESS 54, 8 divergences; with 1000: 1.025, 174, 1)."""
    inputs = mini_inputs()
    d, fit = fit_design(inputs, inputs.evidence, settings=replace(FAST, tune=1000))
    return inputs, d, fit


def refit(inputs, rows):
    return fit_design(inputs, with_rows(inputs.evidence, rows))


def prob(inputs, d, fit, target, horizon=H12):
    p = projection(inputs, d, fit).probability.sel(target=target, horizon=horizon).values
    return mean_se(chain_draw(p, fit))


def factor_at_origin(fit, factor):
    return mean_se(fit.idata.posterior["f"].sel(factor=factor).isel(month=-1).values)


def assert_moved(before, after, direction, min_effect):
    """``after - before`` has the sign ``direction`` and exceeds both ``min_effect`` and five
    combined Monte Carlo standard errors."""
    (m0, se0), (m1, se1) = before, after
    change = direction * (m1 - m0)
    assert change > max(min_effect, 5 * np.hypot(se0, se1)), (m0, se0, m1, se1)


@pytest.mark.fit
def test_base_fit_is_usable(base):
    _, _, fit = base
    dg = fit.diagnostics
    assert dg.max_rhat < 1.05 and dg.min_ess_bulk > 100, dg


@pytest.mark.fit
def test_resolved_candidate_is_certain_and_excluded(base):
    inputs, d, fit = base
    p = projection(inputs, d, fit).probability
    assert np.all(p.sel(target="deal:beta").values == 1.0)  # resolved 2023-01
    np.testing.assert_array_equal(p.sel(target="deal").values, p.sel(target="deal:alpha").values)
    assert 0 < float(p.sel(target="bases_kept").mean()) < 1  # still held as of 2023-06


@pytest.mark.fit
def test_resolution_not_yet_lowers_the_hazard(base):
    inputs, d, fit = base
    d2, fit2 = refit(inputs, [dict(month=17, kind="resolution", target="deal:alpha", value=0.0)])
    before, after = prob(inputs, d, fit, "deal:alpha"), prob(inputs, d2, fit2, "deal:alpha")
    assert_moved(before, after, -1, 0.02)


@pytest.mark.fit
def test_positive_events_on_appetite_raise_the_deal(base):
    inputs, d, fit = base
    rows = [dict(month=t, kind="event", target="appetite", value=3.0) for t in range(12, 18)]
    d2, fit2 = refit(inputs, rows)
    assert_moved(factor_at_origin(fit, "appetite"), factor_at_origin(fit2, "appetite"), 1, 1.0)
    assert_moved(prob(inputs, d, fit, "deal:alpha"), prob(inputs, d2, fit2, "deal:alpha"), 1, 0.03)


@pytest.mark.fit
def test_more_attacks_lower_the_chance_of_calm(base):
    inputs, d, fit = base
    rows = [dict(month=t, kind="count", target="attacks", value=150.0) for t in range(12, 18)]
    for r in rows:
        r["exposure_days"] = 28.0  # within the month whatever its length
    d2, fit2 = refit(inputs, rows)
    assert_moved(factor_at_origin(fit, "tension"), factor_at_origin(fit2, "tension"), 1, 0.3)
    assert_moved(prob(inputs, d, fit, "calm"), prob(inputs, d2, fit2, "calm"), -1, 0.05)


@pytest.mark.slow  # this refit samples slowly (10 min on a busy 2-core machine): see the notes
@pytest.mark.fit
def test_confident_crowd_forecast_raises_the_outcome(base):
    inputs, d, fit = base
    row = dict(month=17, kind="forecast", target="deal:alpha", value=0.9, horizon_months=12.0)
    d2, fit2 = refit(inputs, [row | {"forecaster": "crowd"}])
    assert_moved(prob(inputs, d, fit, "deal:alpha"), prob(inputs, d2, fit2, "deal:alpha"), 1, 0.05)


@pytest.mark.fit
def test_likelihood_ratio_above_one_raises_the_outcome(base):
    inputs, d, fit = base
    row = dict(month=17, kind="likelihood_ratio", target="deal:alpha", value=20.0)
    d2, fit2 = refit(inputs, [row | {"horizon_months": 12.0}])
    assert_moved(prob(inputs, d, fit, "deal:alpha"), prob(inputs, d2, fit2, "deal:alpha"), 1, 0.03)


@pytest.mark.fit
def test_high_indicator_values_raise_their_factor(base):
    inputs, _d, fit = base
    # stockpile measures tension with sign +; e^6.5 kg is 2.5 spreads above its center
    rows = [dict(month=t, kind="indicator", target="stockpile", value=665.0) for t in (15, 16, 17)]
    _d2, fit2 = refit(inputs, rows)
    assert_moved(factor_at_origin(fit, "tension"), factor_at_origin(fit2, "tension"), 1, 0.5)


@pytest.mark.fit
def test_high_ratings_raise_their_factor(base):
    inputs, _d, fit = base
    rows = [dict(month=t, kind="rating", target="attack_level", value=2.0) for t in range(12, 18)]
    _d2, fit2 = refit(inputs, rows)
    assert_moved(factor_at_origin(fit, "tension"), factor_at_origin(fit2, "tension"), 1, 0.3)


@pytest.mark.fit
def test_refits_share_one_compiled_model(base):
    from forecast.inference.sampling import PROCESS_CACHE
    from forecast.model.build import build_model

    inputs, d, _ = base
    key = build_model(inputs.scenario, d).structure_key
    assert key in PROCESS_CACHE
    assert d.n_months == MINI_MONTHS


@pytest.mark.fit
def test_two_sources_three_times_apart_recover_their_offset():
    """A source counting 3x the reference in the same months gets an offset near log 3, and the
    reference rows keep the intercept at their own level (issue 14 item 2)."""
    from forecast.data.scenario import Scenario
    from forecast.inference.sampling import sample
    from forecast.model.build import build_model

    inputs = mini_inputs()
    raw = inputs.scenario.model_dump()
    src = {"match": "Alma", "sd": 1.0, "rationale": "test", "source": "test"}
    raw["indicators"]["attacks"]["sources"] = {"alma": src}
    s = Scenario.model_validate(raw)
    rows = [
        dict(month=t, kind="count", target="attacks", value=v, exposure_days=28.0, source=who)
        for t in range(6, 18)
        for v, who in ((20.0, "ITIC"), (60.0, "Alma Center"))
    ]
    d = build_design(s, with_rows(inputs.evidence, rows), n_months=MINI_MONTHS)
    assert (d.count.src == 0).sum() == 12
    fit = sample(build_model(s, d), FAST)
    offset = fit.idata.posterior["count_source_offset"].sel(count_source="attacks:alma")
    m, se = mean_se(offset.values)
    assert abs(m - np.log(3)) < 0.2 and float(offset.std()) < 0.3, (m, se, float(offset.std()))


def test_projection_inputs_change_with_an_outcomes_state_not_with_other_evidence():
    """A reweighted run reuses its base's projection only when these are equal: a new event row
    leaves them as they were, a resolution row saying an outcome is still open changes them."""
    inputs = mini_inputs()
    base = projection_inputs(build_design(inputs.scenario, inputs.evidence))
    event = dict(month=10, kind="event", target="tension", value=1.0)
    with_event = with_rows(inputs.evidence, [event])
    assert projection_inputs(build_design(inputs.scenario, with_event)) == base
    still_open = dict(month=10, kind="resolution", target="deal:alpha", value=0.0)
    changed = projection_inputs(
        build_design(inputs.scenario, with_rows(inputs.evidence, [still_open]))
    )
    assert changed != base and changed["known_open_until"] != base["known_open_until"]


def test_stored_projection_takes_flat_draws_in_chain_major_order():
    """Draw ``i`` of the flat (chain, draw) order is chain ``i // draws``, draw ``i % draws``, as
    the reweighting's resampled indices count them."""
    chains, draws = 2, 3
    prob = np.arange(chains * draws * 2 * 1, dtype=float).reshape(chains, draws, 2, 1)
    path = np.arange(chains * draws * 1 * 4, dtype=float).reshape(chains, draws, 1, 4)
    preds = xr.Dataset(
        {
            "probability": (("chain", "draw", "target", "horizon"), prob),
            "factor_path": (("chain", "draw", "factor", "ahead"), path),
        },
        coords={"target": ["a", "b"], "horizon": [6], "factor": ["f"], "ahead": [1, 2, 3, 4]},
    )
    idx = np.array([5, 0, 0, 3])
    got = stored_projection(preds, "2026-07", idx)
    assert got.probability.dims == ("sample", "target", "horizon") and got.origin == "2026-07"
    np.testing.assert_array_equal(got.probability.values, prob.reshape(6, 2, 1)[idx])
    np.testing.assert_array_equal(got.factor_path.values, path.reshape(6, 1, 4)[idx])
    assert list(got.probability["target"].values) == ["a", "b"]
