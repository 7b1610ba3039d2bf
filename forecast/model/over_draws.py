"""Model graphs evaluated at every posterior draw in one call, instead of one call per draw.

PyMC's ``compute_log_likelihood`` and ``sample_posterior_predictive`` call a compiled function once
per draw and recompute every deterministic on the way (the default scenario: 6000 draws, 30 s and
9 s). Here the graph is vectorized over (chain, draw) with the stored draws as inputs, stored
deterministics (factor paths, logit hazards) read instead of recomputed, and run once as whole-array
numpy operations: no C or numba compile, so the same seconds with empty or warm caches.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pymc as pm
import pytensor.tensor as pt
import xarray as xr
from pymc.pytensorf import compile as compile_pymc
from pytensor.compile.mode import Mode
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.graph.replace import graph_replace, vectorize_graph
from pytensor.graph.traversal import graph_inputs, toposort
from pytensor.scalar.math import Softplus
from pytensor.tensor.elemwise import Elemwise
from pytensor.tensor.random.op import RandomVariable
from pytensor.tensor.type_other import NoneTypeT
from pytensor.tensor.variable import TensorConstant

# each node one numpy call on whole arrays, no graph rewrites: nothing to compile or cache
PYTHON = Mode(linker="py", optimizer=None)
MAX_NESTING = 8  # softplus of softplus of ...: rewritten one level per pass


def evaluate(
    outputs: Sequence[pt.TensorVariable],
    model: pm.Model,
    posterior: xr.Dataset,
    seed: int | None = None,
    variables: Sequence[pt.TensorVariable] | None = None,
) -> list[np.ndarray]:
    """``outputs`` (graphs of ``model``'s variables) at every draw of ``posterior``: arrays of
    shape (chain, draw, *the output's shape). Random variables among them draw with ``seed``.

    ``variables`` are the graph's variables read from the posterior by name (default: the free
    random variables and the deterministics; value variables for a log density).
    """
    candidates = (*model.free_RVs, *model.deterministics) if variables is None else variables
    stored = [v for v in candidates if v.name in posterior]
    batched = {
        v: pt.tensor(name=v.name, dtype=v.dtype, shape=(None, None, *v.type.shape)) for v in stored
    }
    graphs = _numpy_friendly(vectorize_graph([_sized(o) for o in outputs], replace=batched))
    needed = set(graph_inputs(graphs))
    inputs = [b for b in batched.values() if b in needed]
    fn = compile_pymc(inputs, graphs, random_seed=seed, mode=PYTHON)
    draws = posterior.transpose("chain", "draw", ...)
    return fn(*(draws[v.name].values.astype(v.dtype) for v in inputs))


def evaluate_or_reuse(
    observed: Sequence[pt.TensorVariable],
    outputs: Sequence[pt.TensorVariable],
    model: pm.Model,
    posterior: xr.Dataset,
    reuse: tuple[xr.DataTree, str, np.ndarray | None] | None = None,
    seed: int | None = None,
) -> tuple[list[np.ndarray], list[str]]:
    """``evaluate(outputs, ...)``, where ``outputs[i]`` is a graph of the observed ``observed[i]``
    (its log density, or itself), except that with ``reuse = (run, group, draws)`` an output whose
    data are the stored run's (``same_data``) is taken from that run's ``group``: at the flat
    draw indices ``draws`` into the run's draws, or draw for draw when None. Also returns the
    names of the observed variables taken."""
    run, group, draws = reuse if reuse is not None else (None, "", None)
    stored = run[group].to_dataset() if run is not None and group in run.children else None
    shape = (posterior.sizes["chain"], posterior.sizes["draw"])
    taken: dict[str, np.ndarray] = {}
    for var in observed if stored is not None else ():
        if var.name in stored and same_data(var, model, run):
            vals = stored[var.name].transpose("chain", "draw", ...).values
            if draws is not None:
                vals = vals.reshape(-1, *vals.shape[2:])[draws].reshape(*shape, *vals.shape[2:])
            taken[var.name] = vals
    todo = [(v, o) for v, o in zip(observed, outputs, strict=True) if v.name not in taken]
    fresh = evaluate([o for _, o in todo], model, posterior, seed=seed) if todo else []
    computed = dict(zip((v.name for v, _ in todo), fresh, strict=True))
    return [taken.get(v.name, computed.get(v.name)) for v in observed], list(taken)


def as_dataset(
    names: Sequence[str], values: Sequence[np.ndarray], model: pm.Model, posterior: xr.Dataset
) -> xr.Dataset:
    """Per-draw ``values`` named ``names`` as PyMC's ``compute_log_*`` lays them out: the model's
    dims where it gives them, else ``<name>_dim_<i>`` numbered 0, 1, ..., and the posterior's
    chain and draw."""
    out, coords = {}, {"chain": posterior["chain"], "draw": posterior["draw"]}
    for name, arr in zip(names, values, strict=True):
        dims = model.named_vars_to_dims.get(name)
        if dims is None:
            dims = [f"{name}_dim_{i}" for i in range(arr.ndim - 2)]
            coords |= {dim: np.arange(n) for dim, n in zip(dims, arr.shape[2:], strict=True)}
        else:
            coords |= {dim: list(model.coords[dim]) for dim in dims}
        out[name] = (("chain", "draw", *dims), arr)
    return xr.Dataset(out, coords=coords)


def same_data(var: pt.TensorVariable, model: pm.Model, stored: xr.DataTree) -> bool:
    """Whether the observed ``var``'s values and every data container its graph reads equal a
    run's stored ``observed_data`` and ``constant_data``: then, at that run's draws, its log
    density and its predictive are the run's own (a model of the same structure key differs
    from it only in those containers)."""
    if not {"observed_data", "constant_data"} <= set(stored.children):
        return False
    observed, constant = stored["observed_data"], stored["constant_data"]
    value = model.rvs_to_values[var]
    if var.name not in observed or not _equal(observed[var.name].values, value):
        return False
    containers = set(model.data_vars) - set(graph_inputs([value]))
    read = [i for i in graph_inputs([var]) if isinstance(i, SharedVariable) and i in containers]
    return all(c.name in constant and _equal(constant[c.name].values, c) for c in read)


def _equal(stored: np.ndarray, var: pt.TensorVariable) -> bool:
    """Whether a stored array equals the current value of a data container, a constant or an
    expression of them (observed values cast to integers)."""
    if isinstance(var, SharedVariable):
        now = var.get_value()
    else:
        now = var.data if isinstance(var, TensorConstant) else var.eval(mode=PYTHON)
    return np.shape(now) == stored.shape and np.array_equal(now, stored)


def _sized(var: pt.TensorVariable) -> pt.TensorVariable:
    """``var``, or the random variable ``var`` with its size (an expression of a data container's
    shape) fixed to its current value: PyTensor extends a size over new batch dims only when the
    size's graph comes out of vectorizing unchanged, and one read from a shape does not."""
    node = var.owner
    if node is None or not isinstance(node.op, RandomVariable):
        return var
    size = node.op.size_param(node)
    if isinstance(size.type, NoneTypeT):
        return var
    fixed = pt.constant(size.eval(mode=PYTHON), dtype=size.dtype)
    inputs = [fixed if i is size else i for i in node.inputs]
    out = node.clone_with_new_inputs(inputs).default_output()
    out.name = var.name
    return out


def _numpy_friendly(graphs: list[pt.TensorVariable]) -> list[pt.TensorVariable]:
    """``graphs`` with every softplus written as numpy ufuncs, max(x, 0) + log1p(exp(-|x|)): the
    Python linker runs an op without a numpy ufunc element by element (4 s per softplus over the
    default scenario's resolution cells)."""
    for _ in range(MAX_NESTING):
        swap = {
            n.outputs[0]: pt.maximum(n.inputs[0], 0) + pt.log1p(pt.exp(-pt.abs(n.inputs[0])))
            for n in toposort(graphs)
            if isinstance(n.op, Elemwise) and isinstance(n.op.scalar_op, Softplus)
        }
        if not swap:
            return graphs
        graphs = graph_replace(graphs, swap, strict=False)
    raise RuntimeError(f"softplus nested more than {MAX_NESTING} deep")
