"""Shared fixtures: where the repository's inputs and the small ``mini`` example live; the test
tiers (``fit`` marks tests that sample a model; ``-m "not fit"`` is the no-MCMC logic tier) and the
hypothesis profiles (``HYPOTHESIS_PROFILE=ci`` derandomizes, so CI is repeatable)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pytest
from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

REPO = Path(__file__).resolve().parents[1]
MINI_ROOT = REPO / "tests" / "fixtures" / "mini"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root (holds ``priors/`` and ``data/`` of the shipped scenario)."""
    return REPO


@pytest.fixture(scope="session")
def mini_root() -> Path:
    """Root of the ``mini`` example: ``priors/mini.toml`` and ``data/mini/evidence.csv``."""
    return MINI_ROOT


@pytest.fixture
def mini_copy(tmp_path: Path) -> Path:
    """A private copy of the ``mini`` example's ``priors/`` and ``data/`` under ``tmp_path``."""
    for sub in ("priors", "data"):
        shutil.copytree(MINI_ROOT / sub, tmp_path / sub)
    return tmp_path


def _toml_key(k: str) -> str:
    return k if k and all(c.isascii() and (c.isalnum() or c in "_-") for c in k) else _toml_str(k)


def _toml_str(s: str) -> str:
    out = json.dumps(s, ensure_ascii=False)  # JSON string escapes are valid TOML basic strings
    return out.replace("\x7f", "\\u007f")


def _toml_value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)  # inf, -inf and nan are spelled the same in TOML
    if isinstance(v, str):
        return _toml_str(v)
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"cannot write {type(v).__name__} as TOML")


def toml_dumps(data: dict) -> str:
    """Write a dict as TOML, one top-level key per line, nested tables inline."""
    return "".join(f"{_toml_key(k)} = {_toml_value(v)}\n" for k, v in data.items())


@pytest.fixture(scope="session")
def dump_toml():
    """A minimal TOML writer (``tomllib`` only reads): ``dump_toml(dict) -> str``."""
    return toml_dumps


@pytest.fixture
def hold_store_lock():
    """Hold a run store's lock from another process (as a concurrent update would)."""
    import subprocess
    import sys
    import textwrap

    procs = []

    def hold(runs: Path) -> None:
        runs.mkdir(parents=True, exist_ok=True)
        code = textwrap.dedent(f"""
            import time
            from filelock import FileLock
            with FileLock({str(runs / ".lock")!r}):
                print("held", flush=True)
                time.sleep(120)
        """)
        p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        procs.append(p)
        assert p.stdout.readline().strip() == "held"

    yield hold
    for p in procs:
        p.kill()
        p.wait()
        p.stdout.close()


ADDED_ROW = {
    "date": "2023-06-15",
    "kind": "likelihood_ratio",
    "target": "deal:alpha",
    "value": "40",
    "horizon_months": "6",
    "source": "Strong <b>signal</b> & co",
    "source_url": "https://example.org/strong?a=1&b=2 ; https://example.org/second",
}


@pytest.fixture(scope="module")
def scenario():
    """The mini scenario (``tests/fixtures/mini``)."""
    from forecast.data.scenario_file import load_scenario

    return load_scenario(MINI_ROOT / "priors" / "mini.toml")


@pytest.fixture(scope="module")
def links(scenario):
    """The mini scenario's question links."""
    from forecast.skill.links import links_path, load_links

    return load_links(links_path("mini", MINI_ROOT), scenario)


@pytest.fixture(scope="session")
def mini_runs(tmp_path_factory) -> Path:
    """A run store of the ``mini`` example with two short fits: the shipped evidence, then the same
    plus ``ADDED_ROW`` (a strong, sourced row whose text needs HTML escaping). Read-only: copy it
    before changing anything. Short chains: the runs are marked not converged."""
    from forecast.data.append import append_row
    from forecast.data.inputs import load_inputs, scenario_paths
    from forecast.inference.sampling import SamplerSettings
    from forecast.runs.store import RunStore
    from forecast.runs.update import run_update

    root = tmp_path_factory.mktemp("mini_runs")
    for sub in ("priors", "data"):
        shutil.copytree(MINI_ROOT / sub, root / sub)
    store = RunStore(root / "runs")
    settings = SamplerSettings(draws=300, tune=300, chains=2, seed=1)
    run_update(load_inputs("mini", root), store, settings)
    append_row(*scenario_paths("mini", root), "added.csv", ADDED_ROW)
    run_update(load_inputs("mini", root), store, settings)
    assert len(store.runs()) == 2
    return store.root


FITTING_FIXTURES = {"mini_runs"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow tests and tests that use a fitted fixture fit a model too: mark them ``fit``, so that
    ``-m "not fit"`` alone selects the logic tier."""
    for item in items:
        uses = set(getattr(item, "fixturenames", ()))
        if item.get_closest_marker("slow") or FITTING_FIXTURES & uses:
            item.add_marker(pytest.mark.fit)


class FitInLogicTier(AssertionError):
    """A test outside the ``fit`` tier tried to sample a model."""


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem):
    """Keep the logic tier honest: a test not marked ``fit`` or ``slow`` that samples a model, in
    its body or in any fixture it sets up, fails and says how to mark it."""
    if item.get_closest_marker("fit"):
        return (yield)
    import nutpie
    import pymc

    def refuse(*_args, **_kwargs):
        raise FitInLogicTier(f"{item.nodeid} samples a model: mark it @pytest.mark.fit (or slow)")

    mp = pytest.MonkeyPatch()
    mp.setattr(nutpie, "sample", refuse)
    mp.setattr(sys.modules["nutpie.sample"], "_BackgroundSampler", refuse)  # sampling.py's way in
    mp.setattr(nutpie, "compile_pymc_model", refuse)
    mp.setattr(pymc, "sample", refuse)
    try:
        return (yield)
    finally:
        mp.undo()


@contextmanager
def lock_held_elsewhere(folder: Path) -> Iterator[None]:
    """Hold ``folder``'s scenario lock in another process for the body (killed afterwards)."""
    code = textwrap.dedent(f"""
        import time
        from forecast.data.inputs import scenario_lock
        with scenario_lock({str(folder)!r}):
            print("held", flush=True)
            time.sleep(60)
    """)
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "held"
        yield
    finally:
        p.kill()
        p.wait()
        p.stdout.close()


# The two ways a file operation fails in the tests that inject OS errors: a refused permission
# (with errno and strerror) and a bare OSError; each with the text its located error shows.
os_errors = pytest.mark.parametrize(
    ("error", "message"),
    [(PermissionError(13, "Permission denied"), "Permission denied"), (OSError("odd"), "odd")],
)
