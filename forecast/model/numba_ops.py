"""Numba compilation that caches and reproduces: a cacheable digamma, and IEEE floating point.

PyTensor (≥ 2.36) caches numba-compiled functions across processes, but only a function graph
whose every Op has a cache key; its digamma (``Psi``, in the negative-binomial gradient) calls
scipy's Cython ``psi`` through a function pointer and has none, so the default scenario's whole
logp-and-gradient function was recompiled by numba in every process (~60 s). This pure-numba
digamma (the algorithm of PyTensor's own C implementation: reflection, recurrence to x ≥ 10,
asymptotic series; agrees with scipy to ~1e-15) has a key. Importing the module registers it.

It also turns PyTensor's numba ``fastmath`` off. With it on, LLVM may contract (FMA) and
reassociate floating-point operations, and does so differently when an Op's code is compiled
together with the function that calls it (empty cache) than when it is loaded from the cache: the
gradients of the same model at the same point differed in the last bits between the two cache
states (8 of 20 points on the mini scenario), and NUTS trajectories then diverge, so the same
inputs and seed gave different draws. With IEEE semantics both states give the same bits (20 of 20
logp, gradient and deterministic values; ``tests/test_reproducible.py`` compares whole fits).
``fastmath`` is part of PyTensor's numba cache keys, so code cached with it is never loaded.
Every model is built through ``forecast.model.build``, which imports this module first.
"""

from __future__ import annotations

import math

import numpy as np
from pytensor import config
from pytensor.link.numba.dispatch import basic as numba_basic
from pytensor.link.numba.dispatch.basic import register_funcify_and_cache_key
from pytensor.link.numba.dispatch.scalar import numba_funcify_ScalarOp, scalar_op_cache_key
from pytensor.scalar.math import Psi

CACHE_VERSION = 2  # bump when digamma below changes (2: compiled without fastmath)

config.numba__fastmath = False  # before the functions below are compiled: see the docstring


@numba_basic.numba_njit(final_function=True)  # callable from Python too (tests)
def digamma(x: float) -> float:
    """Digamma of a float: NaN at poles (0, -1, -2, ...), like scipy.special.psi away from 0."""
    if x <= 0.0 and x == math.floor(x):
        return math.nan
    result = 0.0
    if x < 0.0:
        result = -math.pi / math.tan(math.pi * x)
        x = 1.0 - x
    while x < 10.0:
        result -= 1.0 / x
        x += 1.0
    f = 1.0 / (x * x)
    # asymptotic series: -sum_k B_2k / (2k x^2k), k = 1..6
    series = 0.0
    for c in (691 / 32760, -1 / 132, 1 / 240, -1 / 252, 1 / 120, -1 / 12):
        series = f * (c + series)
    return result + math.log(x) - 0.5 / x + series


@register_funcify_and_cache_key(Psi)
def numba_funcify_Psi(op, node, **kwargs):
    """Float inputs get the cacheable digamma; anything else keeps PyTensor's default."""
    if node.outputs[0].type.dtype != "float64" or node.inputs[0].type.dtype != "float64":
        return numba_funcify_ScalarOp(op, node, **kwargs)

    @numba_basic.numba_njit
    def psi(x):
        return np.float64(digamma(x))

    # The module's import path is part of the key: cached code refers to ``digamma`` by it, so an
    # entry written before a move (``forecast.numba_ops``) must not be loaded after it.
    return psi, scalar_op_cache_key(op, cache_version=f"{__name__}-{CACHE_VERSION}")
