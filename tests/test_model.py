"""The model's structure and terms, without sampling: structure keys, the marginalized forecast
term, the softplus transform, and the simulator against the model's own prior."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pandas as pd
import pymc as pm
import pytensor
import pytest
from scipy import stats
from scipy.special import expit, logit
from sim import MINI_MONTHS, mini_inputs, with_rows

from forecast.data.errors import InputError
from forecast.data.evidence import Evidence
from forecast.data.inputs import load_inputs
from forecast.model.arrays import model_data, structure_key
from forecast.model.build import build_model
from forecast.model.design import build_design
from forecast.model.posterior import ar_paths
from forecast.model.priors import SOFTPLUS, innovation_dfs
from forecast.skill.plan import ForecastRow, Plan, RatioRow, structure_quantities
from forecast.skill.sbc import sbc_scenario
from forecast.skill.simulation import draw_truth, simulate


@pytest.fixture(scope="module")
def inputs():
    return mini_inputs()


def design(inputs, rows=(), n_months=MINI_MONTHS, scenario=None):
    s = scenario or inputs.scenario
    return build_design(s, with_rows(inputs.evidence, list(rows)), n_months=n_months)


def test_every_evidence_array_is_swappable_data(inputs):
    d = design(inputs)
    m = build_model(inputs.scenario, d)
    data = model_data(d)
    assert {v.name for v in m.data_vars} == set(data)
    for v in m.data_vars:
        np.testing.assert_array_equal(v.get_value(), data[v.name])
    observed = {v.name for v in m.observed_RVs}
    assert observed == {
        "indicator",
        "count",
        "rating_attack_level",
        "event",
        "resolution",
        "forecast",
    }
    assert "likelihood_ratio" in {p.name for p in m.potentials}
    assert m.structure_key == structure_key(inputs.scenario, d)


def test_counts_beyond_int32_keep_their_value(inputs):
    """PyMC casts integer data to int32; a count of 2**31 or more must not wrap to a negative
    number (a -inf log density that stopped a whole-scenario SBC at its 30th replication)."""
    d = design(inputs)
    big = 3_737_586_527
    d = dataclasses.replace(d, count=dataclasses.replace(d.count, y=np.r_[big, d.count.y[1:]]))
    m = build_model(inputs.scenario, d)
    assert m["count_y"].get_value()[0] == big
    logp = m.compile_fn(
        m.logp(vars=[m["count"]], sum=False), inputs=m.value_vars, on_unused_input="ignore"
    )
    first = np.asarray(logp(m.initial_point())[0])[0]
    assert np.isfinite(first) and first < -1e6  # a huge count far from the initial rate


def test_fixed_priors_are_sourced_data_in_the_structure_key(inputs, monkeypatch):
    """Every fixed prior comes from fixed_priors.toml with a rationale and a source, the model
    reads it, and changing one changes every model's structure key."""
    import forecast.model.arrays as arrays
    from forecast.model.priors import COUNT_INTERCEPT_SD, FIXED, load_fixed_priors

    assert load_fixed_priors() == FIXED
    for name in type(FIXED).model_fields:
        entry = getattr(FIXED, name)
        assert entry.rationale.strip() and entry.source.strip(), name
    assert FIXED.count_intercept_sd.value == COUNT_INTERCEPT_SD
    d = design(inputs)
    key = structure_key(inputs.scenario, d)
    wider = FIXED.model_copy(
        update={"count_intercept_sd": FIXED.count_intercept_sd.model_copy(update={"value": 2.0})}
    )
    monkeypatch.setattr(arrays, "FIXED", wider)
    assert structure_key(inputs.scenario, d) != key


def test_structure_key_ignores_rows_but_not_structure(inputs):
    s = inputs.scenario
    key = structure_key(s, design(inputs))
    more = design(
        inputs,
        [
            dict(month=3, kind="indicator", target="stockpile", value=80.0),
            dict(month=9, kind="event", target="appetite", value=-2.0),
            dict(
                month=12,
                kind="forecast",
                target="deal",
                value=0.4,
                horizon_months=6.0,
                forecaster="crowd",
            ),
        ],
    )
    assert structure_key(s, more) == key
    new_source = design(
        inputs,
        [
            dict(
                month=12,
                kind="forecast",
                target="deal",
                value=0.4,
                horizon_months=6.0,
                forecaster="market",
            )
        ],
    )
    assert structure_key(s, new_source) != key
    assert structure_key(s, design(inputs, n_months=MINI_MONTHS + 1)) != key


def test_single_rows_differentiate_in_every_backend():
    """One row of a kind used to break ``pm.sample``'s gradient (a false runtime-broadcast error
    in the Python implementation of pytensor's AdvancedIncSubtensor1 for gathered rows)."""
    s = sbc_scenario()
    plan = Plan(
        n_months=6,
        indicator_months={"level": (1,), "hits": (2,), "mood": (3,)},
        event_months={"g": (4,)},
        forecasts=(ForecastRow("deal", 2, 6, "crowd"),),
        ratios=(RatioRow("deal:a", 3, 6, 2.0),),
    )
    ev, _ = simulate(s, plan, np.random.default_rng(0))
    d = build_design(s, ev, n_months=6)
    assert (
        len(d.forecast.logit)
        == len(d.likelihood_ratio.log)
        == len(d.count.y)
        == len(d.indicator.y)
        == 1
    )
    m = build_model(s, d)
    dlogp = m.compile_dlogp(mode="FAST_COMPILE")
    assert np.all(np.isfinite(dlogp(m.initial_point())))


def test_softplus_transform_roundtrip_and_jacobian():
    x = np.array([1e-6, 0.01, 0.5, 1.0, 3.0, 40.0])
    y = SOFTPLUS.forward(x).eval()
    np.testing.assert_allclose(SOFTPLUS.backward(y).eval(), x, rtol=1e-9)
    h = 1e-6
    yy = np.array([-8.0, -1.0, 0.0, 2.0, 9.0])
    deriv = (SOFTPLUS.backward(yy + h).eval() - SOFTPLUS.backward(yy - h).eval()) / (2 * h)
    np.testing.assert_allclose(SOFTPLUS.log_jac_det(yy).eval(), np.log(deriv), atol=1e-8)


def test_rows_on_any_candidate_leave_out_candidates_that_already_ended(inputs):
    """deal:beta happened in January 2023 (month 12): a crowd or likelihood-ratio row on "any
    candidate" from a later month asks about alpha alone; one from that month or before, or on
    beta itself, keeps its units."""
    s = inputs.scenario

    def row(kind: str, month: int, target: str) -> dict:
        extra = {"forecaster": "crowd"} if kind == "forecast" else {}
        return dict(month=month, kind=kind, target=target, value=0.3 if kind == "forecast" else 2.0,
                    horizon_months=6.0, **extra)  # fmt: skip

    rows = [row(k, m, t) for k in ("forecast", "likelihood_ratio") for m, t in
            ((10, "deal"), (12, "deal"), (14, "deal"), (14, "deal:beta"))]  # fmt: skip
    ev = with_rows(inputs.evidence, rows)
    added = set(ev.frame.index[ev.frame["file"] == "extra.csv"])
    d = build_design(s, ev, n_months=MINI_MONTHS)
    alpha, beta = (d.units.labels.index(f"deal:{c}") for c in ("alpha", "beta"))
    assert d.resolution.closed_at[beta] == 12 and d.resolution.closed_at[alpha] < 0
    for part in (d.forecast, d.likelihood_ratio):
        got = {
            (int(m), tuple(np.nonzero(k)[0]))
            for m, k, r in zip(part.month, part.mask, part.rows, strict=True)
            if r in added
        }
        assert got == {(10, (alpha, beta)), (12, (alpha, beta)), (14, (alpha,)), (14, (beta,))}


def test_forecast_term_is_the_marginal_over_source_biases(inputs):
    """Integrating the per-source biases out must give the joint Normal density of the rows."""
    s = inputs.scenario
    rows = [
        dict(
            month=10,
            kind="forecast",
            target="deal",
            value=0.35,
            horizon_months=6.0,
            forecaster="crowd",
        ),
        dict(
            month=14,
            kind="forecast",
            target="bases_kept",
            value=0.8,
            horizon_months=12.0,
            forecaster="market",
        ),
        dict(
            month=15,
            kind="forecast",
            target="deal:alpha",
            value=0.1,
            horizon_months=3.0,
            forecaster="market",
        ),
    ]
    d = design(inputs, rows)
    m = build_model(s, d)
    rng = np.random.default_rng(4)
    point = {k: v + rng.normal(0, 0.3, np.shape(v)) for k, v in m.initial_point().items()}
    logp = m.compile_fn(
        m.logp(vars=[m["forecast"]]), inputs=m.value_vars, on_unused_input="ignore"
    )(point)
    x, noise, bias_sd = m.compile_fn(
        m.replace_rvs_by_values([m["logit_hazard"], m["forecast_noise"], m["forecast_bias_sd"]]),
        inputs=m.value_vars,
        on_unused_input="ignore",
    )(point)
    # the model's probability of each row's target, hazards held at the row's month
    mean = []
    for r in range(len(d.forecast.logit)):
        a = d.forecast.horizon[r] * np.sum(
            d.forecast.mask[r] * np.logaddexp(0, x[:, d.forecast.month[r]])
        )
        p_event = -np.expm1(-a)
        mean.append(logit(1 - p_event) if d.forecast.persist[r] else logit(p_event))
    src = d.forecast.source
    b = s.forecast_noise.bias_sd.value
    cov = np.diag(noise[src] ** 2) + bias_sd**2 * (src[:, None] == src[None, :]) + b**2
    want = stats.multivariate_normal(np.array(mean), cov).logpdf(d.forecast.logit)
    np.testing.assert_allclose(logp, want, rtol=1e-8)


def test_simulated_evidence_has_every_kind_and_round_trips(inputs):
    s = inputs.scenario
    plan = Plan.every_month(
        s,
        MINI_MONTHS,
        forecasts=(ForecastRow("deal:alpha", 6, 12, "crowd"),),
        ratios=(RatioRow("deal", 8, 12, 2.0),),
    )
    ev, truth = simulate(s, plan, np.random.default_rng(1))
    kinds = ev.frame["kind"].value_counts()
    assert set(kinds.index) == {
        "indicator",
        "count",
        "rating",
        "event",
        "forecast",
        "likelihood_ratio",
        "resolution",
    }
    assert kinds["resolution"] == 3  # one per hazard unit
    d = build_design(s, ev, n_months=MINI_MONTHS)
    assert structure_key(s, d) == structure_key(s, design(inputs))
    # a normal indicator's standardized values sit around intercept + loading * f
    mu = truth["normal_intercept"][0] + truth["normal_loading_abs"][0] * truth["f"][0]
    resid = (d.indicator.y - mu[d.indicator.month]) / truth["normal_sd"][0]
    assert abs(resid.mean()) < 1.0 and 0.4 < resid.std() < 1.8
    assert np.all(d.count.y >= 0) and d.count.weight.max() == pytest.approx(1.0)
    assert set(d.rating["attack_level"].y) <= {0, 1, 2}
    # the model's density on the simulated data is finite
    m = build_model(s, d)
    assert np.isfinite(m.compile_logp()(m.initial_point()))


def test_simulator_draws_the_models_prior(inputs):
    """Prior draws of the simulator (numpy) and of the PyMC model agree in distribution."""
    s = inputs.scenario
    d = design(inputs)
    m = build_model(s, d)
    # intercepts and cutpoints have their priors as Potentials (forecast.model.terms._intercept),
    # which forward sampling ignores: test_density_at_the_truth_matches_numpy covers them
    names = [
        "f",
        "tau",
        "loading",
        "alpha",
        "candidate_offset",
        "normal_sd",
        "count_loading_abs",
        "count_inv_dispersion",
        "cutpoint_gaps_attack_level",
        "forecast_bias_sd",
    ]
    n = 1500
    model_draws = dict(
        zip(names, pm.draw([m[v] for v in names], draws=n, random_seed=2), strict=True)
    )
    plan = Plan(n_months=MINI_MONTHS, forecasts=(ForecastRow("deal", 1, 1, "crowd"),))
    rng = np.random.default_rng(3)
    sims = [draw_truth(s, plan, rng) for _ in range(n)]
    checked = 0
    for v in names:
        a = model_draws[v].reshape(n, -1)
        b = np.stack([np.ravel(t[v]) for t in sims])
        for j in range(a.shape[1]):
            if np.all(a[:, j] == 0) and np.all(b[:, j] == 0):
                continue  # a structural zero (no loading)
            p = stats.ks_2samp(a[:, j], b[:, j]).pvalue
            assert p > 1e-4, (v, j, p)
            checked += 1
        # the joint too, not only each marginal: differences between components
        cols = [j for j in range(a.shape[1]) if np.any(a[:, j] != 0)]
        for j, k in itertools.pairwise(cols):
            p = stats.ks_2samp(a[:, j] - a[:, k], b[:, j] - b[:, k]).pvalue
            assert p > 1e-4, (v, j, k, p)
    assert checked > 40


def test_likelihood_ratio_tilts_the_simulated_prior(inputs):
    s = inputs.scenario
    rng = np.random.default_rng(8)
    plain = Plan(n_months=MINI_MONTHS)
    tilted = Plan(n_months=MINI_MONTHS, ratios=(RatioRow("deal:alpha", 10, 12, 30.0),))
    h0 = [expit(draw_truth(s, plain, rng)["logit_hazard"][0, 10]) for _ in range(800)]
    h1 = [expit(draw_truth(s, tilted, rng)["logit_hazard"][0, 10]) for _ in range(800)]
    assert np.median(h1) > 1.5 * np.median(h0)


def test_a_cut_before_news_starts_can_share_the_later_structure(inputs):
    """An outcome whose first news comes after the cut gets its drift (and no rows) when asked
    for, so the two cuts of one log are one structure (the leave-future-out check fits the
    earlier cut and scores the later one)."""
    s = inputs.scenario
    plan = Plan.every_month(s, MINI_MONTHS)
    plan = dataclasses.replace(plan, event_months=plan.event_months | {"deal": (10,)})
    ev, _ = simulate(s, plan, np.random.default_rng(5))
    fr = ev.frame
    news = (fr["kind"] == "event") & (fr["target"] == "deal")
    before = Evidence(frame=fr[~news].reset_index(drop=True), files=ev.files)  # news not yet
    d_all = build_design(s, ev, n_months=MINI_MONTHS)
    d_cut = build_design(s, before, n_months=MINI_MONTHS)
    assert d_all.event.news_outcomes == ["deal"] and d_cut.event.news_outcomes == []
    d_cut = build_design(s, before, n_months=MINI_MONTHS, news_outcomes=["deal"])
    assert d_cut.event.news_outcomes == ["deal"] and (d_cut.event.outcome < 0).all()
    assert structure_key(s, d_cut) == structure_key(s, d_all)


def test_density_at_the_truth_matches_numpy(inputs):
    """Every likelihood term, and the priors written as Potentials, evaluated by the model at the
    true parameters equal an independent scipy computation on the simulated data."""
    s = inputs.scenario
    plan = Plan.every_month(s, MINI_MONTHS, ratios=(RatioRow("deal", 8, 12, 3.0),))
    news = {"deal": (3, 7, 11), "bases_kept": (5,)}  # outcome-coded news
    plan = dataclasses.replace(plan, event_months=plan.event_months | news)
    ev, tr = simulate(s, plan, np.random.default_rng(4))
    d = build_design(s, ev, n_months=MINI_MONTHS)
    assert (d.event.outcome >= 0).sum() == 4
    # news is signed "+ = more likely"; bases_kept is a persistence outcome, its hazard the ending
    said = ev.frame.loc[
        (ev.frame["kind"] == "event") & (ev.frame["target"] == "bases_kept"), "value"
    ]
    bases = d.units.outcomes.index("bases_kept")
    np.testing.assert_array_equal(d.event.value[d.event.outcome == bases], -said.to_numpy())
    m = build_model(s, d)
    F, cut = tr["f"], tr["cutpoints_attack_level"]
    b_n, b_c, b_r = (
        tr["normal_loading_abs"][0],
        tr["count_loading_abs"][0],
        tr["rating_loading_abs_attack_level"],
    )
    truth = dict(tr)
    truth |= {
        "normal_intercept_level": tr["normal_intercept"] + b_n * F[0].mean(),
        "count_intercept_level": tr["count_intercept"] + b_c * F[0].mean(),
        "cutpoint_first_attack_level_level": cut[0] - b_r * F[0].mean(),
        "cutpoint_gaps_attack_level": np.diff(cut),
    }
    point = point_at(m, truth)
    got = m.point_logps(point, round_vals=12)
    # the hazard reads last month's factors (month 0 its own); computed here, not by the simulator
    u = d.units
    offset = np.where(u.candidate_idx >= 0, tr["candidate_offset"][u.candidate_idx], 0.0)
    prev = np.r_[0, np.arange(F.shape[1] - 1)]
    # news outcomes carry their own drift: deal's units (alpha, beta) and bases_kept, in that order
    od = s.outcome_drift
    drift = np.zeros_like(tr["news_z"])
    drift[:, 0] = od.volatility.value * tr["news_z"][:, 0]
    for t in range(1, drift.shape[1]):
        drift[:, t] = (
            od.reversion.value * drift[:, t - 1] + od.volatility.value * tr["news_z"][:, t]
        )
    assert d.event.news_outcomes == ["deal", "bases_kept"]
    x = (
        tr["alpha"][u.outcome_idx, None]
        + offset[:, None]
        + (tr["loading"] @ F[:, prev])[u.outcome_idx]
        + drift[[0, 0, 1]][:, prev]
    )
    hazard = pytensor.function(
        m.value_vars, m.replace_rvs_by_values([m["logit_hazard"]]), on_unused_input="ignore"
    )
    assert hazard(*[point[v.name] for v in m.value_vars])[0] == pytest.approx(x, rel=1e-9)
    # outcome news reads the standardized innovation of the outcome's own drift, never the factors
    news = np.maximum(d.event.outcome, 0)
    event_mu = np.where(
        d.event.outcome >= 0,
        tr["news_z"][news, d.event.month],
        tr["z"][d.event.factor, d.event.month],
    )
    mu_c = np.exp(tr["count_intercept"][0] + b_c * F[0])
    mu_c = (d.count.weight * mu_c).sum(axis=1) + 1e-6
    alpha = 1 / tr["count_inv_dispersion"][0]
    blk = d.rating["attack_level"]
    eta = b_r * F[0, blk.month]
    cdf = np.column_stack(
        [np.zeros(len(eta)), expit(cut[None, :] - eta[:, None]), np.ones(len(eta))]
    )
    rows = np.arange(len(eta))
    xs = x[d.resolution.unit, d.resolution.month]
    a_lr = d.likelihood_ratio.horizon * np.sum(
        d.likelihood_ratio.mask * np.logaddexp(0, x[:, d.likelihood_ratio.month].T), axis=1
    )
    p_lr = -np.expm1(-a_lr)
    want = {
        "indicator": stats.norm(
            tr["normal_intercept"][0] + b_n * F[0, d.indicator.month], tr["normal_sd"][0]
        )
        .logpdf(d.indicator.y)
        .sum(),
        "count": stats.nbinom(alpha, alpha / (alpha + mu_c)).logpmf(d.count.y).sum(),
        "rating_attack_level": np.log(cdf[rows, blk.y + 1] - cdf[rows, blk.y]).sum(),
        "event": stats.norm(event_mu, 1.0).logpdf(d.event.value).sum(),
        "resolution": np.sum(
            np.where(d.resolution.y == 1, -np.logaddexp(0, -xs), -np.logaddexp(0, xs))
        ),
        "likelihood_ratio": np.log(p_lr * 3.0 + 1 - p_lr).sum(),
        "normal_intercept_prior": stats.norm(0, 1).logpdf(tr["normal_intercept"]).sum(),
        "count_intercept_prior": stats.norm(np.log(20), 1.5).logpdf(tr["count_intercept"]).sum(),
        "cutpoint_first_attack_level_prior": stats.norm(-2, 2).logpdf(cut[0]),
    }
    for k, v in want.items():
        assert got[k] == pytest.approx(v, rel=1e-7, abs=1e-8), k


def test_a_day_dated_open_row_observes_only_part_of_its_month(inputs):
    """deal:alpha not yet happened on 10 June (a 30-day month): its June cell counts 10/30 of a
    month survived, weight * log(1 - h); a month-dated row counts its whole month."""
    s = inputs.scenario
    june = MINI_MONTHS - 1
    assert inputs.evidence.frame["date"].max().month == 6
    row = {"month": june, "kind": "resolution", "target": "deal:alpha", "value": 0.0}
    dated = design(inputs, [row | {"date": pd.Timestamp(2023, 6, 10), "day_known": True}])
    whole = design(inputs, [row | {"date": pd.Timestamp(2023, 6, 1), "day_known": False}])
    u = dated.units.labels.index("deal:alpha")
    assert dated.resolution.known_open_until[u] == june
    assert dated.resolution.known_open_fraction[u] == pytest.approx(10 / 30)
    assert whole.resolution.known_open_fraction[u] == 1.0
    cells = dated.resolution.unit == u
    assert dated.resolution.weight[cells & (dated.resolution.month == june)] == pytest.approx(
        [10 / 30]
    )
    assert np.all(dated.resolution.weight[cells & (dated.resolution.month < june)] == 1.0)
    assert np.all(whole.resolution.weight == 1.0)
    m = build_model(s, dated)
    point = m.initial_point()
    hazard = pytensor.function(
        m.value_vars, m.replace_rvs_by_values([m["logit_hazard"]]), on_unused_input="ignore"
    )
    x = hazard(*[point[v.name] for v in m.value_vars])[0][
        dated.resolution.unit, dated.resolution.month
    ]
    want = np.where(
        dated.resolution.y == 1, -np.logaddexp(0, -x), -dated.resolution.weight * np.logaddexp(0, x)
    ).sum()
    assert m.point_logps(point, round_vals=12)["resolution"] == pytest.approx(want, rel=1e-9)


def test_a_plan_like_the_shipped_log_gives_the_default_models_structure(repo_root):
    """SBC on the default structure (scripts/run_sbc.py --scenario): logs simulated from
    ``Plan.like`` have the shipped log's rows by kind, target and month, so their model is the
    default scenario's model, compiled once for every replication."""
    inputs = load_inputs("israel_russia", repo_root)
    s, real = inputs.scenario, inputs.evidence
    plan = Plan.like(s, real)
    ev, _ = simulate(s, plan, np.random.default_rng(0))
    fr, sim = real.frame, ev.frame
    for kind in ("event", "indicator", "count", "rating"):
        want = fr.loc[fr["kind"] == kind].groupby(["target", "month"]).size()
        got = sim.loc[sim["kind"] == kind].groupby(["target", "month"]).size()
        assert got.to_dict() == want.to_dict(), kind
    d = build_design(s, ev, n_months=plan.n_months)
    assert structure_key(s, d) == structure_key(s, build_design(s, real))
    # Alma's October 2024 count is the one row of a declared source, real and simulated
    assert plan.source_months == {"hezbollah_attacks": {"alma": (33,)}}
    real_d = build_design(s, real)
    assert real_d.count.sources == d.count.sources == ["hezbollah_attacks:alma"]
    alma = fr.loc[real_d.count.rows[real_d.count.src == 0]]
    assert list(alma["date"].dt.strftime("%Y-%m")) == ["2024-10"]
    assert alma["source"].str.startswith("Alma Center").all()
    assert list(d.count.src).count(0) == 1 and list(real_d.count.src).count(0) == 1
    quantities = structure_quantities(s)
    assert {q.split("[")[0] for q in quantities} == {
        "alpha",
        "loading",
        "f_first",
        "f_last",
        "tau",
        "reversion",
        "innovation_correlation",
        "count_source_offset",
    }
    assert quantities["innovation_correlation[hezbollah_militancy,iran_hostility]"] == (
        "innovation_correlation",
        (1, 0),
    )
    alma = quantities["count_source_offset[hezbollah_attacks:alma]"]
    assert alma == ("count_source_offset", (0,))
    assert sum(q.startswith("reversion[") for q in quantities) == len(s.factors)


# --- learned dynamics and coder coverage (issue 14 item 3) ---------------------------------------


def learned_dynamics(s):
    """The mini scenario with both factors' reversions learned, their innovations correlated and a
    coder effect shared by the events of a cell."""
    from forecast.data.scenario import Scenario

    raw = s.model_dump()
    src = {"rationale": "test", "source": "test"}
    for f in raw["factors"].values():
        f["reversion"] = {"value": 0.9, "sd": 0.05, **src}
    raw["correlation"] = {"factors": list(s.factors), "eta": 2.0, **src}
    raw["event_signal"]["month_noise"] = {"value": 0.5, **src}
    return Scenario.model_validate(raw)


def test_events_of_a_cell_are_jointly_normal_with_a_shared_coder_effect(inputs):
    """The sequential conditionals of the event term multiply to the joint Normal of the rows,
    whose covariance carries the coder effect within each (target, month) cell only."""
    s = learned_dynamics(inputs.scenario)
    extra = [dict(month=5, kind="event", target="tension", value=v) for v in (2.0, 1.0, -1.0)] + [
        dict(month=5, kind="event", target="appetite", value=1.0)
    ]
    d = design(inputs, extra, scenario=s)
    m = build_model(s, d)
    rng = np.random.default_rng(5)
    point = {k: v + rng.normal(0, 0.5, np.shape(v)) for k, v in m.initial_point().items()}
    logp = m.compile_fn(m.logp(vars=[m["event"]]), inputs=m.value_vars, on_unused_input="ignore")(
        point
    )
    f_e = pytensor.function(
        m.value_vars,
        m.replace_rvs_by_values([m["z"], m["innovation_correlation"]]),
        on_unused_input="ignore",
    )
    z, corr = f_e(*[point[v.name] for v in m.value_vars])
    e = np.linalg.cholesky(corr) @ z
    news = np.maximum(d.event.outcome, 0)
    mu = np.where(d.event.outcome >= 0, 0.0, e[d.event.factor, d.event.month])
    assert np.all(d.event.outcome < 0) or "news_z" in m.named_vars
    if np.any(d.event.outcome >= 0):
        nz = m.compile_fn(m["news_z"], inputs=m.value_vars, on_unused_input="ignore")(point)
        mu = np.where(d.event.outcome >= 0, nz[news, d.event.month], mu)
    cell = np.where(d.event.outcome < 0, d.event.factor, 10 + d.event.outcome) * 100 + d.event.month
    same = cell[:, None] == cell[None, :]
    assert same.sum() > len(cell) + 4  # the added rows share cells
    cov = np.eye(len(cell)) + 0.25 * same
    want = stats.multivariate_normal(mu, cov).logpdf(d.event.value)
    np.testing.assert_allclose(logp, want, rtol=1e-9)


def test_a_cells_precision_is_bounded_by_the_coder_effect(inputs):
    """Many events of one month say little more than a few: as a function of the month's
    innovation, the log density of n events of value 1 has curvature 1 / (tau^2 + sigma^2 / n)
    (tau 0.5, sigma 1), not n / sigma^2."""
    s = learned_dynamics(inputs.scenario)
    row = dict(month=3, kind="event", target="tension", value=1.0)
    d1 = design(inputs, [row], scenario=s)
    m = build_model(s, d1)
    term = m.compile_fn(m.logp(vars=[m["event"]]), inputs=m.value_vars, on_unused_input="ignore")
    point = m.initial_point()
    point["innovation_cpc_raw_logodds__"] = np.zeros_like(point["innovation_cpc_raw_logodds__"])
    grid = np.linspace(-2, 2, 9)
    for n in (1, 4, 40):
        d = design(inputs, [row] * n, scenario=s)
        with m:
            pm.set_data({k: v for k, v in model_data(d).items() if k.startswith("event")})
        vals = []
        for g in grid:
            z = np.array(point["z"], float)
            z[0, 3] = g
            vals.append(float(term({**point, "z": z})))
        curvature = -2 * np.polyfit(grid, vals, 2)[0]
        assert curvature == pytest.approx(1 / (0.25 + 1 / n), rel=1e-6), n


def test_simulator_draws_the_learned_dynamics_prior(inputs):
    """Learned reversions, their volatilities and the correlation of innovations: the simulator's
    prior draws and the model's agree in distribution, and the stationary sd stays fixed."""
    s = learned_dynamics(inputs.scenario)
    m = build_model(s, design(inputs, scenario=s))
    names = ["reversion", "volatility", "innovation_correlation", "f"]
    n = 1000
    model_draws = dict(
        zip(names, pm.draw([m[v] for v in names], draws=n, random_seed=4), strict=True)
    )
    plan = Plan(n_months=MINI_MONTHS)
    rng = np.random.default_rng(6)
    sims = [draw_truth(s, plan, rng) for _ in range(n)]
    for v in names:
        a = model_draws[v].reshape(n, -1)
        b = np.stack([np.ravel(t[v]) for t in sims])
        for j in range(a.shape[1]):
            if np.ptp(a[:, j]) < 1e-9 and np.ptp(b[:, j]) < 1e-9:
                continue  # the correlation's unit diagonal
            assert stats.ks_2samp(a[:, j], b[:, j]).pvalue > 1e-4, (v, j)
    r, vol = model_draws["reversion"], model_draws["volatility"]
    sd = 0.3 / np.sqrt(1 - 0.9**2)
    np.testing.assert_allclose(vol / np.sqrt(1 - r**2), sd, rtol=1e-9)
    assert np.std(r) > 0.03  # learned, not fixed
    corr = model_draws["innovation_correlation"][:, 0, 1]
    assert abs(corr.mean()) < 0.05 and 0.3 < corr.std() < 0.6  # LKJ(2): sd 1/sqrt(5) = 0.447


def test_lkj_from_partial_correlations_matches_the_onion_method():
    """The model's LKJ(eta) Cholesky factor (canonical partial correlations) and the simulator's
    onion method are two constructions of one law: for a 4 x 4 block with eta 2, every correlation
    is marginally 2 Beta(eta - 1 + n/2) - 1 and the determinants agree in distribution."""
    from forecast.model.build import _lkj_cholesky
    from forecast.skill.simulation import _lkj

    n, eta, draws = 4, 2.0, 2000
    pairs = [f"{i}~{j}" for i, j in zip(*np.tril_indices(n, -1), strict=True)]
    with pm.Model(coords={"correlated_pair": pairs}):
        chol = _lkj_cholesky(n, eta)
        corr = pm.Deterministic("corr", chol @ chol.T)
    model = pm.draw(corr, draws=draws, random_seed=3)
    rng = np.random.default_rng(8)
    onion = np.stack([_lkj(rng, n, eta) for _ in range(draws)])
    np.testing.assert_allclose(np.diagonal(model, axis1=1, axis2=2), 1.0, rtol=1e-12)
    b = eta - 1 + n / 2
    for i, j in zip(*np.tril_indices(n, -1), strict=True):
        assert stats.kstest((model[:, i, j] + 1) / 2, stats.beta(b, b).cdf).pvalue > 1e-4, (i, j)
        assert stats.kstest((onion[:, i, j] + 1) / 2, stats.beta(b, b).cdf).pvalue > 1e-4, (i, j)
    assert stats.ks_2samp(np.linalg.det(model), np.linalg.det(onion)).pvalue > 1e-4


# --- source offsets (issue 14 item 2) ------------------------------------------------------------


def with_sources(s):
    """The mini scenario with a source ``alma`` of its count indicator (sd 1) and ``iaea`` of its
    normal one (sd 0.5)."""
    from forecast.data.scenario import Scenario

    raw = s.model_dump()
    src = {"rationale": "test", "source": "test"}
    raw["indicators"]["attacks"]["sources"] = {"alma": {"match": "Alma", "sd": 1.0, **src}}
    raw["indicators"]["stockpile"]["sources"] = {"iaea": {"match": "IAEA", "sd": 0.5, **src}}
    return Scenario.model_validate(raw)


ALMA_ROW = dict(month=4, kind="count", target="attacks", value=60, exposure_days=31.0)


def test_sources_are_indexed_per_row_and_change_the_structure(inputs):
    """Each row points at its source's offset (-1: the reference), the offsets have a named dim,
    and declaring sources changes the structure key, which the rows' sources do not."""
    s0, s = inputs.scenario, with_sources(inputs.scenario)
    rows = [ALMA_ROW | {"source": "Alma Center"}, ALMA_ROW | {"month": 7, "source": "ITIC"}]
    d0, d = design(inputs, rows), design(inputs, rows, scenario=s)
    assert d.count.sources == ["attacks:alma"] and d.indicator.sources == ["stockpile:iaea"]
    frame = with_rows(inputs.evidence, rows).frame
    sources = frame.loc[d.count.rows, "source"].to_numpy()
    np.testing.assert_array_equal(d.count.src, np.where(sources == "Alma Center", 0, -1))
    assert (d.count.src == 0).sum() == 1 and len(d.indicator.src) == len(d.indicator.y) > 0
    assert np.all(d.indicator.src == -1)
    assert not d0.count.sources and "count_src" not in model_data(d0)
    m = build_model(s, d)
    assert m.coords["count_source"] == ("attacks:alma",)
    assert m.coords["normal_source"] == ("stockpile:iaea",)
    assert {v.name for v in m.data_vars} == set(model_data(d)) >= {"count_src", "normal_src"}
    assert structure_key(s, d) != structure_key(s0, d0)
    # which rows come from which source is data, not structure
    swapped = design(inputs, [r | {"source": "ITIC"} for r in rows], scenario=s)
    assert structure_key(s, swapped) == structure_key(s, d)


def test_a_frame_row_of_two_sources_is_located(inputs):
    """Frames made by hand skip the log's validation; the design still refuses an ambiguous row."""
    s = with_sources(inputs.scenario)
    s = s.model_copy(
        update={
            "indicators": s.indicators
            | {
                "attacks": s.indicators["attacks"].model_copy(
                    update={
                        "sources": s.indicators["attacks"].sources
                        | {
                            "itic": s.indicators["attacks"]
                            .sources["alma"]
                            .model_copy(update={"match": "ITIC"})
                        }
                    }
                )
            }
        }
    )
    with pytest.raises(InputError) as info:
        design(inputs, [ALMA_ROW | {"source": "ITIC and Alma"}], scenario=s)
    (p,) = info.value.problems
    assert (p.file, p.where, p.field) == ("extra.csv", 2, "source")
    assert "alma ('Alma'), itic ('ITIC')" in p.message


def test_without_sources_the_model_is_the_same(inputs):
    """Declared sources add their raw offsets and nothing else: with every offset at 0 the model
    with sources has the logp of the model without, term by term (the raw offsets' own prior
    aside), and the model without has no source variable or container."""
    s0, s = inputs.scenario, with_sources(inputs.scenario)
    rows = [
        ALMA_ROW | {"source": "Alma"},
        dict(month=8, kind="indicator", target="stockpile", value=70.0, source="IAEA"),
    ]
    m0, m = build_model(s0, design(inputs, rows)), build_model(s, design(inputs, rows, scenario=s))
    added = {"count_source_raw", "normal_source_raw"}
    assert {v.name for v in m.free_RVs} == {v.name for v in m0.free_RVs} | added
    names0 = {v.name for v in [*m0.free_RVs, *m0.data_vars, *m0.deterministics]}
    assert not {n for n in names0 if "_source_" in n or n.endswith("_src")}
    assert not {"count_source", "normal_source"} & set(m0.coords)
    rng = np.random.default_rng(9)
    point0 = {k: v + rng.normal(0, 0.3, np.shape(v)) for k, v in m0.initial_point().items()}
    point = point0 | {f"{v}": np.zeros(1) for v in added}
    got0, got = m0.point_logps(point0, round_vals=12), m.point_logps(point, round_vals=12)
    assert set(got) == set(got0) | added
    for k, v in got0.items():
        assert got[k] == pytest.approx(v, rel=1e-10, abs=1e-10), k
    # at an offset of 1, only the terms with rows of that source move
    moved = m.point_logps(point | {"count_source_raw": np.ones(1)}, round_vals=12)
    assert moved["count"] != pytest.approx(got["count"])
    assert moved["indicator"] == got["indicator"]


def test_density_with_source_offsets_matches_numpy(inputs):
    """A declared source's rows read the reference's rate times exp(offset) (counts) or its level
    plus the offset (normal indicators); reference rows read offset 0: the model's log density
    at simulated truth equals scipy's NegativeBinomial and Normal."""
    s = with_sources(inputs.scenario)
    plan = dataclasses.replace(
        Plan.every_month(s, MINI_MONTHS),
        source_months={"attacks": {"alma": (2, 5, 9)}, "stockpile": {"iaea": (4, 11)}},
    )
    ev, tr = simulate(s, plan, np.random.default_rng(11))
    d = build_design(s, ev, n_months=MINI_MONTHS)
    assert (d.count.src == 0).sum() == 3 and (d.count.src == -1).sum() == MINI_MONTHS
    assert (d.indicator.src == 0).sum() == 2 and (d.indicator.src == -1).sum() == MINI_MONTHS
    m = build_model(s, d)
    F = tr["f"]
    b_n, b_c = tr["normal_loading_abs"][0], tr["count_loading_abs"][0]
    cut, b_r = tr["cutpoints_attack_level"], tr["rating_loading_abs_attack_level"]
    truth = dict(tr) | {
        "normal_intercept_level": tr["normal_intercept"] + b_n * F[0].mean(),
        "count_intercept_level": tr["count_intercept"] + b_c * F[0].mean(),
        "cutpoint_first_attack_level_level": cut[0] - b_r * F[0].mean(),
        "cutpoint_gaps_attack_level": np.diff(cut),
    }
    got = m.point_logps(point_at(m, truth), round_vals=12)
    off_c = np.where(d.count.src >= 0, tr["count_source_offset"][0], 0.0)
    off_n = np.where(d.indicator.src >= 0, tr["normal_source_offset"][0], 0.0)
    rate = np.exp(tr["count_intercept"][0] + b_c * F[0])
    mu_c = (d.count.weight * rate).sum(axis=1) * np.exp(off_c) + 1e-6
    alpha = 1 / tr["count_inv_dispersion"][0]
    want_count = stats.nbinom(alpha, alpha / (alpha + mu_c)).logpmf(d.count.y).sum()
    mu_n = tr["normal_intercept"][0] + off_n + b_n * F[0, d.indicator.month]
    want_normal = stats.norm(mu_n, tr["normal_sd"][0]).logpdf(d.indicator.y).sum()
    assert got["count"] == pytest.approx(want_count, rel=1e-7)
    assert got["indicator"] == pytest.approx(want_normal, rel=1e-7)
    assert got["count_source_raw"] == pytest.approx(
        stats.norm(0, 1).logpdf(tr["count_source_raw"]).sum(), rel=1e-9
    )
    offsets = pytensor.function(
        m.value_vars,
        m.replace_rvs_by_values([m["count_source_offset"], m["normal_source_offset"]]),
        on_unused_input="ignore",
    )(*[point_at(m, truth)[v.name] for v in m.value_vars])
    np.testing.assert_allclose(offsets[0], tr["count_source_offset"], rtol=1e-12)
    np.testing.assert_allclose(offsets[1], 0.5 * tr["normal_source_raw"], rtol=1e-12)


def point_at(m, truth):
    """The model's value variables (transformed) at the named values of ``truth``."""
    point = {}
    for rv in m.free_RVs:
        value = m.rvs_to_values[rv]
        x = np.asarray(truth[rv.name], float).reshape(m.initial_point()[value.name].shape)
        tf = m.rvs_to_transforms[rv]
        point[value.name] = tf.forward(x).eval() if tf is not None else x
    return point


def test_simulator_draws_the_source_offsets_prior(inputs):
    """The simulator's prior draws of the source offsets and the model's agree in distribution."""
    s = with_sources(inputs.scenario)
    m = build_model(s, design(inputs, scenario=s))
    names = ["count_source_offset", "normal_source_offset"]
    n = 1500
    model_draws = dict(
        zip(names, pm.draw([m[v] for v in names], draws=n, random_seed=5), strict=True)
    )
    rng = np.random.default_rng(7)
    sims = [draw_truth(s, Plan(n_months=MINI_MONTHS), rng) for _ in range(n)]
    for v, sd in zip(names, (1.0, 0.5), strict=True):
        a = model_draws[v].reshape(n)
        b = np.array([t[v][0] for t in sims])
        assert stats.ks_2samp(a, b).pvalue > 1e-4, v
        assert np.std(a) == pytest.approx(sd, rel=0.1) and np.std(b) == pytest.approx(sd, rel=0.1)


def with_heavy_tails(s, df=4.0, factors=None):
    raw = s.model_dump()
    raw["innovations"] = {"df": df, "factors": factors, "rationale": "test", "source": "test"}
    return type(s).model_validate(raw)


def test_heavy_tailed_innovations_density_matches_scipy(inputs):
    """With ``[innovations]`` the factors' standardized innovations after month 0 are unit-variance
    Student-t; month 0 (the initial level's) stays Gaussian."""
    s = with_heavy_tails(inputs.scenario, df=4.0)
    m = build_model(s, design(inputs, scenario=s))
    z = np.random.default_rng(3).standard_t(4.0, size=m.initial_point()["z"].shape)
    got = m.compile_logp(vars=[m["z"]], sum=True)({**m.initial_point(), "z": z})
    scale = np.sqrt(2.0 / 4.0)
    want = stats.norm.logpdf(z[:, 0]).sum() + stats.t.logpdf(z[:, 1:], 4.0, scale=scale).sum()
    assert got == pytest.approx(want, rel=1e-8)


def test_simulator_and_model_draw_the_same_heavy_tailed_factor_moves(inputs):
    """With ``[innovations]`` the factors' monthly moves are heavy-tailed in the model's prior and
    in the simulator's alike; month 0 (the initial level) and the Gaussian scenario stay
    Gaussian."""
    s = with_heavy_tails(inputs.scenario)
    n = 400
    model_f = pm.draw(build_model(s, design(inputs, scenario=s))["f"], draws=n, random_seed=5)
    rng = np.random.default_rng(7)
    sim_f = np.stack([draw_truth(s, Plan(n_months=MINI_MONTHS), rng)["f"] for _ in range(n)])
    gauss_f = np.stack(
        [draw_truth(inputs.scenario, Plan(n_months=MINI_MONTHS), rng)["f"] for _ in range(n)]
    )
    moves = {k: np.diff(f, axis=2).ravel() for k, f in (("model", model_f), ("sim", sim_f))}
    for k, f in (("model", model_f), ("sim", sim_f)):
        assert stats.kurtosis(moves[k]) > 1.0, k
        assert abs(stats.kurtosis(f[:, :, 0].ravel())) < 0.5, k
    assert stats.ks_2samp(moves["model"], moves["sim"]).pvalue > 1e-4
    assert abs(stats.kurtosis(np.diff(gauss_f, axis=2).ravel())) < 0.5


@pytest.mark.parametrize("heavy", [[0], [1]])
def test_heavy_tails_of_named_factors_only(inputs, heavy):
    """``[innovations] factors`` makes only those factors' innovations after month 0 Student-t,
    in the model's density (against scipy's) and in the simulator's and the projection's draws;
    the other factors' stay Gaussian."""
    s = inputs.scenario
    names = list(s.factors)
    s = with_heavy_tails(s, df=4.0, factors=[names[k] for k in heavy])
    m = build_model(s, design(inputs, scenario=s))
    z = np.random.default_rng(3).standard_t(4.0, size=m.initial_point()["z"].shape)
    got = m.compile_logp(vars=[m["z"]], sum=True)({**m.initial_point(), "z": z})
    t = np.zeros(z.shape, bool)
    t[heavy, 1:] = True
    want = stats.norm.logpdf(z[~t]).sum() + stats.t.logpdf(z[t], 4.0, scale=np.sqrt(0.5)).sum()
    assert got == pytest.approx(want, rel=1e-8)
    rng = np.random.default_rng(11)
    sims = np.stack([draw_truth(s, Plan(n_months=MINI_MONTHS), rng)["f"] for _ in range(300)])
    paths = ar_paths(np.zeros((300, 2)), 1.0, 1.0, 1, 40, rng, dfs=innovation_dfs(s))
    steps = np.diff(paths, axis=2)  # random walks: the steps are the innovations
    for k in range(len(names)):
        for moves in (np.diff(sims[:, k], axis=1), steps[..., k]):
            kurt = stats.kurtosis(moves.ravel())
            assert (kurt > 1.0) if k in heavy else (abs(kurt) < 0.5), (k, kurt)


def test_heavy_tails_need_a_finite_variance(inputs):
    with pytest.raises(ValueError, match="df"):
        with_heavy_tails(inputs.scenario, df=2.0)


def test_indicator_levels_can_be_centred_on_the_observed_months_only(inputs):
    """A design spanning months past its evidence (a backtest's whole-period span) can centre the
    indicator levels on the factor's mean over the months with evidence (``centre_through``): the
    later months carry weight 0, so no level moves with their unobserved innovations. The
    intercept is still ``level - sign * b * that mean``; by default every month counts."""
    extra = 6
    observed = int(inputs.evidence.frame["month"].max()) + 1
    assert design(inputs, n_months=MINI_MONTHS + extra).centre.all()
    d = build_design(
        inputs.scenario, inputs.evidence, n_months=MINI_MONTHS + extra, centre_through=observed
    )
    assert observed < d.n_months
    assert d.centre[:observed].all() and not d.centre[observed:].any()
    m = build_model(inputs.scenario, d)
    rng = np.random.default_rng(0)
    point = {k: rng.normal(size=v.shape) for k, v in m.initial_point().items()}
    fn = pytensor.function(
        m.value_vars,
        m.replace_rvs_by_values(
            [m["f"], m["normal_intercept"], m["normal_intercept_level"], m["normal_loading_abs"]]
        ),
        on_unused_input="ignore",
    )
    f, a, level, b = fn(*[point[v.name] for v in m.value_vars])
    k = list(inputs.scenario.factors).index(inputs.scenario.indicators[d.indicator.names[0]].factor)
    sign = 1.0 if inputs.scenario.indicators[d.indicator.names[0]].sign == "+" else -1.0
    assert a[0] == pytest.approx(level[0] - sign * b[0] * f[k, :observed].mean(), rel=1e-12)
    assert a[0] != pytest.approx(level[0] - sign * b[0] * f[k].mean(), rel=1e-6)
