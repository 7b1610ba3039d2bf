"""Same inputs and seed, same draws, whatever the state of the compile caches.

Two new processes fit the ``mini`` scenario with one private PyTensor/numba cache: the first finds
it empty and compiles everything, the second loads what the first cached. Their posterior draws
must be equal byte for byte (with numba's ``fastmath`` on they were not: see
``forecast.model.numba_ops``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

FIT = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    import numpy as np

    from forecast.data.inputs import load_inputs
    from forecast.inference.sampling import SamplerSettings, sample
    from forecast.model.build import build_model
    from forecast.model.design import build_design

    inputs = load_inputs("mini", Path(sys.argv[1]))
    model = build_model(inputs.scenario, build_design(inputs.scenario, inputs.evidence))
    settings = SamplerSettings(seed=3, chains=2, draws=100, tune=200, cores=1, retries=0)
    post = sample(model, settings).idata["posterior"]
    np.savez(sys.argv[2], **{k: post[k].values for k in post.data_vars})
    """
)


def _fit(repo: Path, mini: Path, out: Path, cache: Path) -> dict[str, np.ndarray]:
    env = os.environ | {
        "PYTHONPATH": os.pathsep.join([str(repo), os.environ.get("PYTHONPATH", "")]),
        "PYTENSOR_FLAGS": f"base_compiledir={cache / 'pytensor'}",
        "NUMBA_CACHE_DIR": str(cache / "numba"),
    }
    cmd = [sys.executable, "-c", FIT, str(mini), str(out)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with np.load(out) as f:
        return {k: f[k] for k in f.files}


@pytest.mark.slow
def test_empty_and_warm_compile_caches_give_the_same_draws(tmp_path, repo_root, mini_root):
    cache = tmp_path / "cache"
    empty = _fit(repo_root, mini_root, tmp_path / "empty.npz", cache)
    assert any((cache / "pytensor").rglob("*")), "the first fit should have filled the cache"
    warm = _fit(repo_root, mini_root, tmp_path / "warm.npz", cache)
    assert empty.keys() == warm.keys() and "z" in empty
    differ = [k for k in empty if empty[k].tobytes() != warm[k].tobytes()]
    assert not differ, differ
