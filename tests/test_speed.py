"""The fast path: compiled models reused across fits (in process) and processes (on disk), with
results that agree with a fresh compilation. Speed itself is measured by
``benchmarks/bench_update.py``, never asserted here.
"""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
import pytest
import scipy.special
from sim import FAST, MINI_MONTHS, chain_draw, mean_se, mini_inputs, projection, with_rows

from forecast.data.inputs import load_inputs
from forecast.inference.sampling import CompileCache, sample
from forecast.model.build import build_model
from forecast.model.design import build_design
from forecast.model.numba_ops import digamma

# six months of strong positive events on `appetite`: moves deal:alpha well beyond MC error
ROWS = [dict(month=t, kind="event", target="appetite", value=3.0) for t in range(12, 18)]


def test_digamma_matches_scipy():
    rng = np.random.default_rng(31)
    x = np.concatenate([rng.uniform(-6, 0, 200), np.exp(rng.uniform(-15, 12, 400)), [1.0, 0.5]])
    x = x[x != np.floor(x)]
    got = np.array([digamma(v) for v in x])
    np.testing.assert_allclose(got, scipy.special.psi(x), rtol=1e-11, atol=1e-11)
    assert np.isnan(digamma(-2.0)) and np.isnan(digamma(0.0))


def test_digamma_gives_pytensor_a_numba_cache_key():
    """Without a key, any graph holding digamma (negative-binomial gradients) is never cached."""
    from pytensor.link.numba.dispatch.basic import numba_funcify_and_cache_key

    x = pt.dvector("x")
    node = pt.psi(x).owner
    _, key = numba_funcify_and_cache_key(node.op, node=node)
    assert key is not None


@pytest.mark.slow  # a numba compilation of the mini model's gradient alone: about two minutes
def test_numba_gradient_matches_the_c_backend():
    """The mini model's logp gradient (with digamma from its count term) under numba and C."""
    inputs = mini_inputs()
    model = build_model(inputs.scenario, build_design(inputs.scenario, inputs.evidence))
    assert any("count" in v.name for v in model.observed_RVs)
    point = model.initial_point()
    rng = np.random.default_rng(31)
    point = {k: v + rng.normal(0, 0.3, np.shape(v)) for k, v in point.items()}
    grad_c = model.compile_dlogp(mode="FAST_RUN")(point)
    grad_numba = model.compile_dlogp(mode="NUMBA")(point)
    np.testing.assert_allclose(grad_numba, grad_c, rtol=1e-8, atol=1e-8)


class FakeCompiled:
    """Stands in for a compiled nutpie model: records the data swapped into it."""

    def __init__(self) -> None:
        self.data: dict | None = None

    def with_data(self, **data):
        out = FakeCompiled()
        out.data = data
        return out


def test_cache_reuses_same_structure_and_rebuilds_when_the_scenario_changes(mini_copy, monkeypatch):
    compiled = []

    def fake_compile(model):
        compiled.append(model.structure_key)
        return FakeCompiled()

    monkeypatch.setattr("forecast.inference.sampling.compile_nutpie", fake_compile)
    cache = CompileCache()
    inputs = load_inputs("mini", mini_copy)

    def model_of(inp, rows=()):
        d = build_design(inp.scenario, with_rows(inp.evidence, list(rows)), n_months=MINI_MONTHS)
        return build_model(inp.scenario, d)

    m1, m2 = model_of(inputs), model_of(inputs, ROWS)
    k1, k2 = m1.structure_key, m2.structure_key
    assert k1 == k2  # new evidence rows: same structure
    cache.get(k1, m1)
    reused = cache.get(k2, m2)
    assert compiled == [k1]
    assert (
        len(reused.data["event_value"])
        == len(m2["event_value"].get_value())
        > len(m1["event_value"].get_value())
    )

    toml = mini_copy / "priors" / "mini.toml"
    text = toml.read_text(encoding="utf-8")
    assert "horizons = [6, 12, 24]" in text
    toml.write_text(text.replace("horizons = [6, 12, 24]", "horizons = [6, 12]"), encoding="utf-8")
    m3 = model_of(load_inputs("mini", mini_copy))
    k3 = m3.structure_key
    assert k3 != k1
    cache.get(k3, m3)
    assert compiled == [k1, k3] and len(cache) == 2


@pytest.mark.slow  # a second numba compilation of the mini model: minutes on a shared machine
def test_cached_fit_agrees_with_a_fresh_compile():
    """A refit through the process cache (compiled model, new data swapped in) gives the same
    forecasts, within Monte Carlo error, as a model compiled afresh for that data."""
    inputs = mini_inputs()

    def model_of(rows):
        d = build_design(inputs.scenario, with_rows(inputs.evidence, rows), n_months=MINI_MONTHS)
        return d, build_model(inputs.scenario, d)

    d0, m0 = model_of([])
    base = sample(m0, FAST)  # compiles, or reuses the session's compiled mini model
    d1, m1 = model_of(ROWS)
    cached = sample(m1, FAST)
    assert cached.reused["compiled_model"].startswith("in-process cache")
    fresh = sample(model_of(ROWS)[1], FAST, cache=CompileCache())
    assert "compiled_model" not in fresh.reused

    def prob(d, fit):
        p = projection(inputs, d, fit).probability.sel(target="deal:alpha", horizon=12).values
        return mean_se(chain_draw(p, fit))

    (m_b, se_b), (m_c, se_c), (m_f, se_f) = prob(d0, base), prob(d1, cached), prob(d1, fresh)
    assert abs(m_c - m_f) < 4 * np.hypot(se_c, se_f), (m_c, se_c, m_f, se_f)
    assert m_c - m_b > 5 * np.hypot(se_b, se_c), (m_b, m_c)  # the new data did reach the fit
