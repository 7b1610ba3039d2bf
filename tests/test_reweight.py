"""Warm updates by Pareto-smoothed importance reweighting, and refits after a failed gate.

The gate arithmetic and resampling are checked directly; the reweighted posterior is checked
against a fresh NUTS fit of the same evidence; and the update run is checked to reweight only when
it is sound (same structure, a converged NUTS base) and to sample otherwise.
"""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
from sim import FAST, MINI_MONTHS, chain_draw, mean_se, mini_inputs, projection, with_rows

import forecast.inference.sampling as inference
from forecast.data.append import append_row
from forecast.data.inputs import load_inputs, scenario_paths
from forecast.inference.gate import DEFAULT_GATE, Gate
from forecast.inference.reweighting import _diagnostics, find_base, reweight, systematic_resample
from forecast.inference.sampling import (
    Diagnostics,
    Fit,
    SamplerSettings,
    escalate,
    nutpie_settings,
    sample,
)
from forecast.model.build import build_model
from forecast.model.design import build_design
from forecast.model.loglik import add_log_likelihood
from forecast.report.run_words import fit_method
from forecast.runs.store import RunStore
from forecast.runs.update import run_update

BASE = {
    "max_rhat": 1.003,
    "min_ess_bulk": 1500.0,
    "min_ess_tail": 1800.0,
    "divergences": 0,
    "draws": 1000,
    "chains": 4,
    "problems": [],
}


def test_systematic_resample_keeps_each_draw_close_to_its_share():
    rng = np.random.default_rng(3)
    w = rng.gamma(0.3, size=500)
    w /= w.sum()
    idx = systematic_resample(w, np.random.default_rng(5))
    counts = np.bincount(idx, minlength=len(w))
    assert len(idx) == len(w) and np.all(np.diff(idx) >= 0)
    expected = len(w) * w
    assert np.all(counts >= np.floor(expected) - 1) and np.all(counts <= np.ceil(expected) + 1)
    assert np.array_equal(idx, systematic_resample(w, np.random.default_rng(5)))  # seeded


def test_gate_scales_ess_by_importance_efficiency_and_refuses_bad_weights():
    ok = _diagnostics(BASE, k_hat=0.2, efficiency=0.5)
    assert ok.converged and ok.method == "psis"
    assert ok.min_ess_bulk == pytest.approx(750.0) and ok.min_ess_tail == pytest.approx(900.0)

    heavy = _diagnostics(BASE, k_hat=0.9, efficiency=0.5)
    assert not heavy.converged and any("Pareto" in p for p in heavy.problems)

    thin = _diagnostics(BASE, k_hat=0.2, efficiency=0.2)  # 1500 * 0.2 = 300 < 400
    assert not thin.converged and any("ESS after reweighting" in p for p in thin.problems)

    bad_base = _diagnostics({**BASE, "problems": ["2 divergent transitions"]}, 0.1, 0.9)
    assert not bad_base.converged


def test_the_gate_is_a_parameter_and_its_limits_are_quoted():
    strict = Gate(k_hat_max=0.1, ess_min=1000)
    d = _diagnostics(BASE, k_hat=0.2, efficiency=0.5, gate=strict)  # passes DEFAULT_GATE
    assert d.problems == [
        "Pareto k̂ 0.20 > 0.1: the evidence changed too much to reweight",
        "ESS after reweighting 750 < 1000 (importance efficiency 0.50)",
    ]
    assert _diagnostics(BASE, k_hat=0.2, efficiency=0.5).converged
    psis_run = SimpleNamespace(manifest={"diagnostics": {"method": "psis"}})
    assert "k̂ is at most 0.1;" in fit_method(psis_run, gate=strict)
    assert f"k̂ is at most {DEFAULT_GATE.k_hat_max};" in fit_method(psis_run)


def test_escalate_halves_the_distance_to_acceptance_one_and_adds_draws():
    s = escalate(SamplerSettings(target_accept=0.9, draws=1000, retries=2))
    assert (s.target_accept, s.draws, s.retries) == (0.95, 1500, 1)
    assert escalate(s).target_accept == 0.975


def _fake_fit(settings: SamplerSettings, converged: bool) -> Fit:
    diag = Diagnostics(1.0, 500.0, 500.0, 0 if converged else 2, 10, 2, converged)
    if not converged:
        diag = replace(diag, problems=["2 divergent transitions"])
    return Fit(idata=None, diagnostics=diag, settings=settings, timings={"sample_s": 1.0})


def test_nutpie_settings_carry_the_sampler_settings():
    s = SamplerSettings(draws=321, tune=123, chains=3, seed=9, target_accept=0.93)
    d = nutpie_settings(s).as_dict()
    opts = d["settings"]["adapt_options"]
    assert d["adaptation"] == "low_rank"
    assert (d["settings"]["num_draws"], d["settings"]["num_tune"]) == (321, 123)
    assert (d["settings"]["num_chains"], d["settings"]["seed"]) == (3, 9)
    assert opts["step_size_settings"]["target_accept"] == 0.93
    assert opts["mass_matrix_update_freq"] > 123 + 321  # renewed only at window switches
    every = nutpie_settings(replace(s, mass_matrix_update_every=40)).as_dict()
    assert every["settings"]["adapt_options"]["mass_matrix_update_freq"] == 40
    diag = nutpie_settings(replace(s, low_rank_mass_matrix=False)).as_dict()
    assert diag["adaptation"] == "diag"


def test_a_failed_gate_refits_with_escalated_settings_and_keeps_the_failure(monkeypatch):
    calls = []

    def once(model, settings, on_phase, **_kw):
        calls.append(settings)
        return _fake_fit(settings, converged=len(calls) > 1)

    monkeypatch.setattr(inference, "_sample_once", once)
    fit = sample(None, SamplerSettings(retries=2))
    assert [s.target_accept for s in calls] == [0.95, 0.975]  # stopped once the gate passed
    assert fit.diagnostics.converged and fit.timings["sample_s"] == 2.0
    assert [a["target_accept"] for a in fit.failed_attempts] == [0.95]
    assert fit.failed_attempts[0]["problems"] == ["2 divergent transitions"]

    calls.clear()
    monkeypatch.setattr(inference, "_sample_once", lambda m, s, p, **kw: _fake_fit(s, False))
    fit = sample(None, SamplerSettings(retries=1))
    assert not fit.diagnostics.converged and len(fit.failed_attempts) == 1

    fit = sample(None, SamplerSettings(retries=0))
    assert not fit.diagnostics.converged and fit.failed_attempts == []


@pytest.mark.fit
def test_reweighted_posterior_agrees_with_a_fresh_fit():
    """A likelihood-ratio row on deal:alpha: the base fit reweighted by it gives the forecast a
    fresh NUTS fit gives, within Monte Carlo error, and differs clearly from the base forecast."""
    inputs = mini_inputs()
    row = dict(month=16, kind="likelihood_ratio", target="deal:alpha", value=5.0)
    row["horizon_months"] = 12

    def fitted(rows):
        d = build_design(inputs.scenario, with_rows(inputs.evidence, rows), n_months=MINI_MONTHS)
        m = build_model(inputs.scenario, d)
        return d, m

    d0, m0 = fitted([])
    base = sample(m0, FAST)
    add_log_likelihood(base.idata, m0, d0)
    d1, m1 = fitted([row])
    rw = reweight(base.idata, {**BASE, "chains": 2, "draws": 400}, m1, d1, FAST)
    fresh = sample(m1, FAST)
    assert 0.3 < rw.diagnostics.importance_efficiency <= 1.0 and rw.diagnostics.pareto_k < 0.7

    def prob(d, fit):
        p = projection(inputs, d, fit).probability.sel(target="deal:alpha", horizon=12).values
        return mean_se(chain_draw(p, fit))

    (m_b, se_b), (m_f, se_f) = prob(d0, base), prob(d1, fresh)
    m_r, _ = prob(d1, rw)
    se_r = se_b / np.sqrt(rw.diagnostics.importance_efficiency)  # resampling hides duplicates
    assert abs(m_r - m_f) < 4 * np.hypot(se_r, se_f), (m_r, se_r, m_f, se_f)
    assert m_r - m_b > 5 * np.hypot(se_b, se_r), (m_b, m_r)


def _row(date: str, **kw) -> dict:
    row = {"date": date, "source": "test", "source_url": "https://example.org/t"}
    return row | kw


@pytest.fixture
def passing_gate(monkeypatch):
    """Mini fits are too short to pass the gate; pretend they do, so runs can serve as a base."""
    real = inference.diagnose

    def diagnose(*args):
        d = real(*args)
        return replace(d, converged=True, problems=[], min_ess_bulk=2000.0, min_ess_tail=2000.0)

    monkeypatch.setattr(inference, "diagnose", diagnose)


@pytest.mark.fit
def test_update_reweights_only_when_sound(mini_copy, passing_gate):
    store = RunStore(mini_copy / "runs")
    settings = SamplerSettings(draws=300, tune=300, chains=2, seed=1)
    paths = scenario_paths("mini", mini_copy)

    def update(**kw):
        res = run_update(load_inputs("mini", mini_copy), store, settings, **kw)
        return res.run.manifest

    base = update()
    assert base["diagnostics"]["method"] == "nuts" and "reweight_s" not in base["timings"]

    lr = dict(kind="likelihood_ratio", target="deal:alpha", value="2")
    append_row(*paths, "added.csv", _row("2023-05-20", horizon_months="12", **lr))
    warm = update()
    assert warm["diagnostics"]["method"] == "psis", warm["reused"]
    assert base["id"] in warm["reused"]["posterior"] and "sample_s" not in warm["timings"]
    assert warm["converged"] and warm["diagnostics"]["pareto_k"] <= 0.7
    assert warm["reused"]["base_run"] == base["id"] and "base_run" not in base["reused"]
    warm_file = store.load(warm["id"]).posterior()  # the run file says so too
    for node in (warm_file, warm_file["posterior"]):
        assert node.attrs["sampling_method"] == "psis" and node.attrs["draws_resampled"] == 1
        assert node.attrs["reweighted_from"] == base["id"]
    base_file = store.load(base["id"]).posterior()
    assert base_file.attrs["sampling_method"] == "nuts" and "reweighted_from" not in base_file.attrs
    assert "added.csv:2" in warm_file["log_likelihood"]["likelihood_ratio_row"].values
    # nothing the projection reads changed: each draw keeps the base run's projection of it
    assert warm["projection_key"] == base["projection_key"]
    assert base["id"] in warm["reused"]["projection"] and "projection" not in base["reused"]

    def rows(tree, group, name):
        v = tree[group][name].stack(sample=("chain", "draw")).transpose("sample", ...)
        return v.values.reshape(v.shape[0], -1)

    same_f: dict[bytes, list[int]] = {}  # a rejected NUTS step repeats a draw: several indices
    for i, r in enumerate(rows(base_file, "posterior", "f")):
        same_f.setdefault(r.tobytes(), []).append(i)
    drawn = [same_f[r.tobytes()] for r in rows(warm_file, "posterior", "f")]
    assert len({tuple(c) for c in drawn}) < len(drawn)  # resampled: some draws repeat
    for name in ("probability", "factor_path"):
        ours, theirs = rows(warm_file, "predictions", name), rows(base_file, "predictions", name)
        for i, candidates in enumerate(drawn):
            assert any(np.array_equal(ours[i], theirs[j]) for j in candidates), (name, i)
    # only the likelihood-ratio term has a new row: the observed terms' log-likelihood and
    # predictive are the base run's, draw for draw
    assert "count" in warm["reused"]["log_likelihood"], warm["reused"]
    assert "resolution" in warm["reused"]["posterior_predictive"], warm["reused"]
    for group, name in (("log_likelihood", "count"), ("posterior_predictive", "resolution")):
        ours, theirs = rows(warm_file, group, name), rows(base_file, group, name)
        for i, candidates in enumerate(drawn):
            assert any(np.array_equal(ours[i], theirs[j]) for j in candidates), (name, i)
    said = fit_method(store.load(warm["id"]), store.runs())  # what the report says
    assert said.startswith(f"This run reweights run {base['id']}'s draws to include 1 new evidence")
    assert fit_method(store.load(base["id"])).startswith("This run was sampled (NUTS)")

    append_row(*paths, "added.csv", _row("2023-06-10", horizon_months="12", **lr))
    again = update()  # reweights the NUTS base again, never a reweighted run
    assert again["diagnostics"]["method"] == "psis" and base["id"] in again["reused"]["posterior"]

    cold = update(cold=True)
    assert cold["diagnostics"]["method"] == "nuts" and "posterior" not in cold["reused"]

    # another structure (e.g. a row in a new month grows the model) or other sampler settings:
    # nothing to reweight, so the update samples
    assert find_base(store, base["structure_key"], settings).id == cold["id"]  # the latest
    assert find_base(store, "another structure", settings) is None
    assert find_base(store, base["structure_key"], replace(settings, seed=2)) is None
