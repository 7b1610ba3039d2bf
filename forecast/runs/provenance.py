"""What went into a run or a backtest, recorded beside what came out: when, which scenario, the
hash of every input file, the seed, the settings and the versions of the packages that computed
it. One builder for run manifests (``forecast.runs.update``) and backtest manifests
(``forecast.report.backtest_report``)."""

from __future__ import annotations

import platform
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from forecast.data.files import sha256_file
from forecast.data.inputs import Inputs

PACKAGES = ("forecast", "pymc", "pytensor", "arviz", "nutpie", "numpy", "pandas", "xarray")


def package_versions() -> dict[str, str]:
    """Python's version and each of ``PACKAGES``' (``not installed`` where missing)."""
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def provenance(
    inputs: Inputs,
    *,
    seed: int,
    settings: Any,
    settings_key: str = "settings",
    extra_files: Sequence[Path] = (),
) -> dict:
    """The provenance part of a manifest. ``settings`` (a dataclass) is stored under
    ``settings_key``; ``extra_files`` (question, crowd, link files) are hashed with the
    scenario's own files."""
    return {
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "scenario": inputs.scenario.name,
        "input_hash": inputs.input_hash(),
        "files": {**inputs.file_hashes(), **{str(p): sha256_file(p) for p in extra_files}},
        "seed": seed,
        settings_key: asdict(settings),
        "versions": package_versions(),
    }
