"""Model graphs evaluated at every draw in one vectorized call give what PyMC's draw-by-draw
functions give: the log-likelihood and log prior to rounding, the predictive in distribution, and a
softplus written as numpy ufuncs to the last digits. No MCMC: the "posterior" is prior draws."""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt
import pytest
import xarray as xr
from pytensor.graph.traversal import toposort
from pytensor.scalar.math import Softplus
from sim import mini_inputs, with_rows

from forecast.inference.sensitivity import add_log_prior
from forecast.model import over_draws
from forecast.model.build import build_model
from forecast.model.design import build_design
from forecast.model.loglik import add_log_likelihood
from forecast.runs.run_file import add_predictive

CHAINS, DRAWS = 2, 40


@pytest.fixture(scope="module")
def mini():
    """The mini scenario's model and a stand-in posterior: its initial point jittered in the
    unconstrained space (the model has a flat prior, so no prior draws), 2 chains x 40 draws."""
    inputs = mini_inputs()
    design = build_design(inputs.scenario, inputs.evidence)
    model = build_model(inputs.scenario, design)
    named = [*model.free_RVs, *model.deterministics]
    outs = model.replace_rvs_by_values(named)
    values = model.compile_fn(outs, inputs=model.value_vars, on_unused_input="ignore")
    start, rng = model.initial_point(random_seed=3), np.random.default_rng(3)
    draws = [
        values({k: v + rng.normal(0, 0.3, np.shape(v)) for k, v in start.items()})
        for _ in range(CHAINS * DRAWS)
    ]
    post = {
        v.name: (
            ("chain", "draw", *[f"{v.name}_dim_{i}" for i in range(v.ndim)]),
            np.stack([d[i] for d in draws]).reshape(CHAINS, DRAWS, *np.shape(draws[0][i])),
        )
        for i, v in enumerate(named)
    }
    coords = {"chain": np.arange(CHAINS), "draw": np.arange(DRAWS)}
    return model, design, xr.Dataset(post, coords=coords)


def _tree(post: xr.Dataset) -> xr.DataTree:
    return xr.DataTree.from_dict({"posterior": post})


def test_log_likelihood_matches_pymcs_draw_by_draw_values(mini):
    model, design, post = mini
    ours, theirs = _tree(post), _tree(post)
    add_log_likelihood(ours, model, design)
    pm.compute_log_likelihood(theirs, model=model, extend_inferencedata=True, progressbar=False)
    observed = [v.name for v in model.observed_RVs]
    assert set(observed) <= set(ours["log_likelihood"].data_vars)
    for name in observed:
        a, b = ours["log_likelihood"][name], theirs["log_likelihood"][name]
        assert a.dims == b.dims, name
        np.testing.assert_allclose(a.values, b.values, rtol=1e-9, atol=1e-9, err_msg=name)


def test_log_prior_matches_pymcs_draw_by_draw_values(mini):
    model, _, post = mini
    ours, theirs = _tree(post), _tree(post)
    add_log_prior(ours, model)
    pm.compute_log_prior(theirs, model=model, extend_inferencedata=True, progressbar=False)
    a, b = ours["log_prior"].to_dataset(), theirs["log_prior"].to_dataset()
    assert set(a.data_vars) == set(b.data_vars)
    for name in b.data_vars:
        assert a[name].dims == b[name].dims, name
        np.testing.assert_allclose(
            a[name].values, b[name].values, rtol=1e-9, atol=1e-9, err_msg=name
        )
    xr.testing.assert_equal(a.coords.to_dataset(), b.coords.to_dataset())


def test_predictive_draws_are_seeded_and_follow_each_draws_parameters(mini):
    """Same seed, same draws; another seed, other draws; and the observed counts' predictive
    mean follows each draw's own expected count (a draw paired with another's parameters would
    not)."""
    model, _, post = mini
    a, b, c = _tree(post), _tree(post), _tree(post)
    for tree, seed in ((a, 1), (b, 1), (c, 2)):
        add_predictive(tree, model, seed=seed)
    for v in a["posterior_predictive"].data_vars:
        np.testing.assert_array_equal(a["posterior_predictive"][v], b["posterior_predictive"][v])
    assert any(
        not np.array_equal(a["posterior_predictive"][v], c["posterior_predictive"][v])
        for v in a["posterior_predictive"].data_vars
    )
    ind = a["posterior_predictive"]["indicator"].values.reshape(CHAINS * DRAWS, -1)
    rv = model["indicator"]
    (mean,) = over_draws.evaluate([rv.owner.op.dist_params(rv.owner)[0]], model, post)
    mean = mean.reshape(CHAINS * DRAWS, -1)
    # across draws the simulated value tracks the draw's own mean
    r = np.corrcoef(ind.ravel(), mean.ravel())[0, 1]
    assert r > 0.5


def test_softplus_is_rewritten_to_the_same_values_at_extremes():
    x = pt.vector("x")
    values = np.array([-800.0, -40.0, -5.0, -1e-8, 0.0, 3.0, 20.0, 40.0, 800.0])
    (rewritten,) = over_draws._numpy_friendly([pt.softplus(pt.softplus(x))])
    ops = [getattr(n.op, "scalar_op", n.op) for n in toposort([rewritten])]
    assert not [op for op in ops if isinstance(op, Softplus)]
    got = rewritten.eval({x: values})
    want = np.logaddexp(0.0, np.logaddexp(0.0, values))
    np.testing.assert_allclose(got, want, rtol=1e-14, atol=0)


def test_terms_whose_rows_did_not_change_are_taken_from_the_stored_run(mini):
    """A warm update evaluates only the terms whose rows changed: with one new event row, the
    other terms' log-likelihood is the stored run's draw for draw and their predictive its draws
    at the resampled indices; the event term, or a term whose stored data differ, is evaluated."""
    model, design, post = mini
    stored = _tree(post)
    add_log_likelihood(stored, model, design)
    add_predictive(stored, model, seed=1)
    inputs = mini_inputs()
    ev = with_rows(inputs.evidence, [dict(month=2, kind="event", target="tension", value=1.0)])
    d2 = build_design(inputs.scenario, ev, n_months=design.n_months)
    m2 = build_model(inputs.scenario, d2)
    assert m2.structure_key == model.structure_key
    fresh = _tree(post)
    add_log_likelihood(fresh, m2, d2)
    # mark the stored values: what is reused is returned as stored, what is evaluated is not
    marked = stored.copy()
    marked["log_likelihood"] = xr.DataTree(stored["log_likelihood"].to_dataset() + 1.0)
    reused = _tree(post)
    kept = add_log_likelihood(reused, m2, d2, base=marked)
    assert set(kept) == {v.name for v in m2.observed_RVs} - {"event"}, kept
    for name, v in fresh["log_likelihood"].data_vars.items():
        shift = 1.0 if name in kept else 0.0
        np.testing.assert_array_equal(reused["log_likelihood"][name].values, v.values + shift)

    edited = marked.copy()  # a stored count that is not the model's: the term is evaluated
    edited["observed_data"] = xr.DataTree(
        stored["observed_data"].to_dataset().assign(count=lambda ds: ds["count"] + 1)
    )
    edited["constant_data"] = xr.DataTree(  # an indicator row moved to another month
        stored["constant_data"].to_dataset().assign(normal_month=lambda ds: ds["normal_month"] + 1)
    )
    kept = add_log_likelihood(_tree(post), m2, d2, base=edited)
    assert "count" not in kept and "indicator" not in kept and "resolution" in kept

    idx = np.random.default_rng(0).integers(0, CHAINS * DRAWS, CHAINS * DRAWS)
    drawn = _tree(post)  # stand-in for the resampled posterior: only the indices are read
    kept = add_predictive(drawn, m2, seed=1, base=(stored, idx))
    assert "event" not in kept and "count" in kept
    for name in kept:
        base_pp = stored["posterior_predictive"][name].values
        flat = base_pp.reshape(CHAINS * DRAWS, *base_pp.shape[2:])[idx]
        ours = drawn["posterior_predictive"][name].values
        assert np.array_equal(ours, flat.reshape(base_pp.shape)), name
    assert drawn["posterior_predictive"]["event"].shape[-1] == len(d2.event.rows)
