"""The run file ``posterior.nc`` as an ArviZ user opens it: evidence dims keyed by the file and
row they come from, months as dates, observed / constant data and a posterior predictive that
``az.loo_pit`` and ``az.plot_ppc_dist`` run on, no transformed duplicates, and how the draws were
made. Naming is checked on a hand-built tree (no sampling); the stored file on the mini runs."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import arviz as az
import matplotlib
import numpy as np
import pytest
import xarray as xr
from sim import mini_inputs

from forecast.data.months import month_dates
from forecast.inference.sampling import Diagnostics, Fit, SamplerSettings
from forecast.model.build import build_model
from forecast.model.design import build_design
from forecast.model.loglik import element_rows
from forecast.runs.run_file import add_predictive, draws_attrs, evidence_dim, label_evidence
from forecast.runs.store import RunStore

matplotlib.use("Agg")

ROW_DIMS = {"chain", "draw"}


def test_month_dates_reads_labels_and_dates_alike():
    labels = month_dates(["2022-01", "2023-12"])
    assert labels.equals(month_dates(labels.values))
    assert [d.isoformat() for d in labels.date] == ["2022-01-01", "2023-12-01"]


def test_label_evidence_names_every_term_by_its_rows_without_touching_values():
    inputs = mini_inputs()
    d = build_design(inputs.scenario, inputs.evidence)
    rng = np.random.default_rng(31)
    ll = {
        term: (("chain", "draw", f"{term}_dim_0"), rng.normal(size=(2, 3, len(rows))))
        for term, rows in element_rows(d).items()
    }
    tree = xr.DataTree.from_dict(
        {
            "posterior": xr.Dataset(
                {"z": (("chain", "draw", "month"), rng.normal(size=(2, 3, d.n_months)))},
                coords={"month": d.months},
            ).assign(z_log__=(("chain", "draw"), np.zeros((2, 3)))),
            "log_likelihood": xr.Dataset(ll),
        }
    )
    out = label_evidence(tree, d, inputs.evidence.frame)
    assert "z_log__" not in out["posterior"].data_vars
    assert np.issubdtype(out["posterior"]["month"].dtype, np.datetime64)
    frame = inputs.evidence.frame
    for term, rows in element_rows(d).items():
        v = out["log_likelihood"][term]
        dim = evidence_dim(term)
        assert v.dims == ("chain", "draw", dim)
        np.testing.assert_array_equal(v.values, ll[term][1])
        ids = [str(i).split(" ")[0] for i in out["log_likelihood"][dim].values]
        want = [
            f"{Path(f).name}:{r}"
            for f, r in zip(frame.loc[rows, "file"], frame.loc[rows, "row"], strict=True)
        ]
        assert ids == want


def test_draws_attrs_mark_a_reweighted_run():
    d = Diagnostics(1.0, 500.0, 500.0, 0, 100, 2, True)
    fit = Fit(idata=xr.DataTree(), diagnostics=d, settings=SamplerSettings(), timings={})
    assert draws_attrs(fit) == {"sampling_method": "nuts"}
    psis = replace(d, method="psis", pareto_k=0.3, importance_efficiency=0.6)
    rw = replace(fit, diagnostics=psis, reused={"base_run": "20260101T000000Z-abcdef12"})
    assert draws_attrs(rw) == {
        "sampling_method": "psis",
        "reweighted_from": "20260101T000000Z-abcdef12",
        "draws_resampled": 1,
        "pareto_k": 0.3,
        "importance_efficiency": 0.6,
    }


# --- the stored file of a fitted run ------------------------------------------------------------


@pytest.fixture(scope="module")
def run(mini_runs):
    return RunStore(mini_runs).runs()[-1]


@pytest.fixture(scope="module")
def tree(run):
    """The run file as an ArviZ user opens it (closed again: a lazily opened file left open while
    another reader opens it can crash netCDF4)."""
    with xr.open_datatree(run.path / "posterior.nc") as t:
        yield t.load()


def test_stored_run_has_the_groups_arviz_checks_read(tree):
    assert {
        "posterior",
        "sample_stats",
        "log_likelihood",
        "log_prior",
        "posterior_predictive",
        "observed_data",
        "constant_data",
        "predictions",
    } <= set(tree.children)
    for name, group in tree.children.items():
        assert not [v for v in group.data_vars if str(v).endswith("__")], name
    assert set(tree["posterior_predictive"].data_vars) == set(tree["observed_data"].data_vars)
    assert tree.attrs["sampling_method"] == tree["posterior"].attrs["sampling_method"] == "nuts"
    assert "reweighted_from" not in tree.attrs


def test_stored_months_are_dates(tree):
    for group in ("posterior", "log_prior", "constant_data"):
        assert np.issubdtype(tree[group]["month"].dtype, np.datetime64), group
    assert str(tree["posterior"]["month"].values[0])[:10] == "2022-01-01"


def test_every_evidence_element_names_a_real_file_and_row(run, tree):
    data = run.path / "inputs" / "data" / run.scenario
    seen = set()
    for term in tree["log_likelihood"].data_vars:
        term = str(term)
        (dim,) = set(tree["log_likelihood"][term].dims) - ROW_DIMS
        assert dim == evidence_dim(term)
        if term in tree["observed_data"]:
            assert tree["observed_data"][term].dims == (dim,)
            assert tree["posterior_predictive"][term].dims == ("chain", "draw", dim)
        for label in tree["log_likelihood"][dim].values:
            row_id = str(label).split(" ")[0]  # a resolution's cell: "<row id> <unit> <month>"
            name, row = row_id.rsplit(":", 1)
            with (data / name).open(newline="") as fh:
                record = list(csv.DictReader(fh))[int(row) - 2]  # spreadsheet row, header = 1
            if term.startswith("rating_"):
                assert (record["kind"], record["target"]) == ("rating", term[len("rating_") :])
            else:
                assert record["kind"] == term, (term, row_id)
            seen.add(row_id)
    assert "added.csv:2" in seen  # the likelihood-ratio row the second run added


def test_loo_pit_and_ppc_run_on_a_stored_run(tree):
    pit = az.loo_pit(tree)
    for v in pit.data_vars.values():
        assert ((v >= 0) & (v <= 1)).all()
    with pytest.warns(UserWarning, match="look"):  # binary / discrete terms: ArviZ suggests others
        az.plot_ppc_dist(tree, backend="matplotlib")
    az.plot_loo_pit(tree, backend="matplotlib")


def test_stored_posterior_predictive_is_drawn_from_the_stored_draws(run, tree):
    """The same seed gives the same predictive again, and drawing it leaves the posterior as it
    was (so forecasts do not depend on it)."""
    inputs = run.inputs()
    model = build_model(inputs.scenario, build_design(inputs.scenario, inputs.evidence))
    again = xr.DataTree.from_dict({"posterior": tree["posterior"].to_dataset()})
    before = again["posterior"].to_dataset().copy(deep=True)
    add_predictive(again, model, seed=run.manifest["seed"])
    xr.testing.assert_identical(again["posterior"].to_dataset(), before)
    for v in tree["posterior_predictive"].data_vars:
        np.testing.assert_array_equal(
            again["posterior_predictive"][v].values, tree["posterior_predictive"][v].values
        )


@pytest.mark.filterwarnings("ignore:The effect of Potentials:UserWarning")
@pytest.mark.filterwarnings("ignore::pymc.exceptions.ImplicitFreezeWarning")  # keeps the draws
def test_vectorized_predictive_matches_pymcs_draw_by_draw_sampler(run, tree):
    """The stored predictive (one vectorized evaluation over all draws) has, element by element,
    the mean and spread of ``pm.sample_posterior_predictive``'s (one call per draw): a draw paired
    with the wrong parameters or none would change them."""
    import pymc as pm

    inputs = run.inputs()
    model = build_model(inputs.scenario, build_design(inputs.scenario, inputs.evidence))
    post = xr.DataTree.from_dict({"posterior": tree["posterior"].to_dataset()})
    with model:
        looped = pm.sample_posterior_predictive(
            post, random_seed=7, progressbar=False, compile_kwargs={"mode": "FAST_COMPILE"}
        )
    for v in tree["observed_data"].data_vars:
        ours = tree["posterior_predictive"][v].values.astype(float)
        theirs = looped["posterior_predictive"][v].values.astype(float)
        assert ours.shape == theirs.shape, v
        ours, theirs = ours.reshape(-1, ours[0, 0].size), theirs.reshape(-1, theirs[0, 0].size)
        se = np.sqrt((ours.var(axis=0) + theirs.var(axis=0)) / len(ours)) + 1e-9
        z = (ours.mean(axis=0) - theirs.mean(axis=0)) / se
        assert np.abs(z).max() < 5, (v, float(np.abs(z).max()))
        # log1p: a negative binomial's raw variance over a few hundred draws is too noisy to
        # compare (two seeds of the same sampler differ 1.7-fold)
        ratio = (
            np.log1p(np.abs(ours)).var(axis=0).sum() / np.log1p(np.abs(theirs)).var(axis=0).sum()
        )
        assert 0.8 < ratio < 1.25, (v, ratio)


def test_compact_keeps_each_simulated_value_exactly_in_a_smaller_type():
    from forecast.runs.run_file import compact

    binary = xr.DataArray(np.array([[0.0, 1.0], [1.0, 0.0]]))
    counts = xr.DataArray(np.array([0.0, 300.0, 7.0]))
    levels = xr.DataArray(np.array([0, 2, 1], dtype=np.int64))
    measured = xr.DataArray(np.array([0.5, -1.25]))
    assert compact(binary).dtype == np.int8 and (compact(binary) == binary).all()
    assert compact(counts).dtype == np.int32 and (compact(counts) == counts).all()
    assert compact(levels).dtype == np.int8
    assert compact(measured).dtype == np.float32
    assert np.allclose(compact(measured), measured)
