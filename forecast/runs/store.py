"""The run store: one folder per update run, written atomically, guarded by a lock.

A run is ``<root>/<UTC time>-<short input hash>/`` holding ``posterior.nc``, ``forecast.csv``,
``manifest.json`` and ``inputs/`` (a copy of the scenario and evidence files it was fitted to, so a
run can be audited, explained and re-projected on its own). Runs are written into a hidden
temporary folder and renamed into place only when complete, so a reader never sees half a run;
leftovers of interrupted runs are removed by the next writer. The lock is an OS file lock,
released by the kernel if its holder dies.

Reading is forgiving of damage and strict about identity. A run whose ``manifest.json`` cannot be
read (truncated, not a JSON object, a required key missing or of the wrong type) is skipped when
runs are listed, with a ``CorruptRunWarning`` (a ``UserWarning``; the CLI prints these on stderr),
so one damaged folder never blocks the runs beside it. Asking for such a run by id, or for a run
whose files were altered since it was written, raises ``StoreError``. Runs are listed per scenario
(``runs(scenario=...)``, ``latest(scenario=...)``, ``select(...)``) so readers never mix scenarios.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from types import EllipsisType
from typing import TYPE_CHECKING

import pandas as pd
from filelock import FileLock, Timeout

from forecast.data.files import fsync_dir, fsync_file, sha256_file, write_text_durably

if TYPE_CHECKING:
    import xarray as xr

FORMAT_VERSION = 1
RUN_RE = re.compile(r"^\d{8}T\d{6}(\d{6})?Z-[0-9a-f]{8}$")  # use fullmatch (no "\n" after)
TMP_PREFIX = ".tmp-"
LOCK_NAME = ".lock"
OUTPUT_FILES = ("posterior.nc", "forecast.csv")
# Manifest keys every reader relies on, with their JSON types; ``forecast.runs.update`` writes
# them all (since format 1). A manifest without one of them is unreadable and its run is skipped.
REQUIRED_KEYS: dict[str, type] = {
    "scenario": str,
    "created_at": str,
    "converged": bool,
    "diagnostics": dict,
    "seed": int,
    "horizons": list,
}
# Numbers in the manifest's ``diagnostics`` that readers format and the reweighting reuses.
DIAGNOSTIC_KEYS = ("max_rhat", "min_ess_bulk", "min_ess_tail", "divergences")


class StoreError(Exception):
    """A run folder is missing, altered, or written by an incompatible version."""


class StoreBusy(StoreError):
    """Another update holds the store's lock."""


class UnknownRun(StoreError):
    """No run with the requested id (or not one of the requested scenario)."""


class CorruptRunWarning(UserWarning):
    """A run folder was skipped because its manifest cannot be read."""


@dataclass(frozen=True)
class Run:
    """A complete run folder and its manifest."""

    path: Path
    manifest: dict

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def scenario(self) -> str:
        return self.manifest["scenario"]

    @property
    def evidence_end(self) -> str | None:
        """The last evidence date (ISO): ``evidence_end``, or for runs made before origins were
        explicit their ``origin_date``, which was that date."""
        return self.manifest.get("evidence_end", self.manifest.get("origin_date"))

    @property
    def origin(self) -> date | None:
        """The day the run forecasts from, or None for a run forecasting from the end of its
        evidence month (runs made before origins were explicit have no ``evidence_end``)."""
        day = self.manifest.get("origin_date")
        if "evidence_end" not in self.manifest or not isinstance(day, str):
            return None
        return date.fromisoformat(day)

    def forecast(self) -> pd.DataFrame:
        return pd.read_csv(self.path / "forecast.csv", keep_default_na=False, na_values=[""])

    def posterior(self) -> xr.DataTree:
        """The run's draws and predictions (an ArviZ 1 ``DataTree``), loaded into memory."""
        import xarray as xr

        return xr.load_datatree(self.path / "posterior.nc")

    def inputs(self):
        """The scenario and evidence this run was fitted to, re-validated from its own copy."""
        from forecast.data.inputs import load_inputs

        return load_inputs(self.manifest["scenario"], self.path / "inputs")


def new_run_id(input_hash: str, now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return f"{now.strftime('%Y%m%dT%H%M%S%fZ')}-{input_hash[:8]}"


class RunStore:
    """All runs under one folder."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    # --- reading -----------------------------------------------------------------------------
    def run_dirs(self) -> list[Path]:
        """Complete run folders, oldest first (temporary folders are never listed)."""
        try:
            if not self.root.is_dir():
                return []
            return sorted(
                p
                for p in self.root.iterdir()
                if p.is_dir() and RUN_RE.fullmatch(p.name) and (p / "manifest.json").is_file()
            )
        except OSError as exc:
            raise StoreError(
                f"{self.root}: cannot list the run store ({exc.strerror or exc})"
            ) from None

    def _readable(self) -> list[Run]:
        """Every run whose manifest can be read, oldest first; the others are skipped with a
        ``CorruptRunWarning`` naming the folder and the reason."""
        found = []
        for p in self.run_dirs():
            try:
                found.append(Run(path=p, manifest=_read_manifest(p)))
            except StoreError as exc:
                warnings.warn(f"skipped a run: {exc}", CorruptRunWarning, stacklevel=3)
        return found

    def runs(self, verify: bool = False, scenario: str | None = None) -> list[Run]:
        """Readable runs (of ``scenario``, if given), oldest first; with ``verify``, raise
        ``StoreError`` if any of them was altered or written in another format."""
        found = [r for r in self._readable() if scenario is None or r.scenario == scenario]
        if verify:
            for r in found:
                _verify(r)
        return found

    def latest(self, verify: bool = True, scenario: str | None = None) -> Run | None:
        """The newest readable run (of ``scenario``, if given), or ``None``."""
        found = self.runs(scenario=scenario)
        if not found:
            return None
        if verify:
            _verify(found[-1])
        return found[-1]

    def scenarios(self) -> list[str]:
        """Scenarios with at least one readable run, sorted."""
        return sorted({r.scenario for r in self._readable()})

    def select(
        self,
        scenario: str,
        run_id: str | None = None,
        *,
        last: int | None = None,
        verify: bool = True,
    ) -> list[Run]:
        """The runs of ``scenario`` up to and including ``run_id`` (default: its newest), oldest
        first: the chosen run is last. Only the ``last`` of them, if given. Empty if the scenario
        has no runs.

        Raises ``UnknownRun`` if ``run_id`` is not a readable run of ``scenario`` and, with
        ``verify``, ``StoreError`` if any selected run was altered.
        """
        found = self.runs(scenario=scenario)
        if run_id is not None:
            ids = [r.id for r in found]
            if run_id not in ids:
                other = self.load(run_id, verify=False)  # raises UnknownRun if there is none
                raise UnknownRun(
                    f"run {run_id} in {self.root} is of scenario {other.scenario!r},"
                    f" not {scenario!r}"
                )
            found = found[: ids.index(run_id) + 1]
        if last is not None:
            found = found[-last:] if last > 0 else []
        if verify:
            for r in found:
                _verify(r)
        return found

    def load(self, run_id: str, verify: bool = True) -> Run:
        """Load a run's manifest; with ``verify``, refuse altered files or another format.

        Raises ``UnknownRun`` if there is no complete run ``run_id`` and ``StoreError`` if its
        manifest cannot be read.
        """
        path = self.root / run_id
        if not RUN_RE.fullmatch(run_id) or not (path / "manifest.json").is_file():
            known = [p.name for p in self.run_dirs()]
            hint = f" (newest: {known[-1]})" if known else " (the store has no runs)"
            raise UnknownRun(f"no run {run_id!r} in {self.root}{hint}")
        run = Run(path=path, manifest=_read_manifest(path))
        if verify:
            _verify(run)
        return run

    def find(self, fit_key: str, origin_date: str | EllipsisType | None = ...) -> Run | None:
        """The latest complete run made from exactly these inputs and settings, if any; only one
        forecasting from ``origin_date`` (its manifest's, ISO or None) if that is given."""
        for run in reversed(self._readable()):
            m = run.manifest
            if m.get("fit_key") == fit_key and origin_date in (..., m.get("origin_date")):
                return run
        return None

    # --- writing -----------------------------------------------------------------------------
    @contextmanager
    def locked(self, timeout: float = 0.0) -> Iterator[None]:
        """Hold the store's write lock; raise ``StoreBusy`` if another writer has it."""
        self.root.mkdir(parents=True, exist_ok=True)
        lock = FileLock(self.root / LOCK_NAME)
        try:
            lock.acquire(timeout=timeout)
        except Timeout:
            raise StoreBusy(
                f"{self.root}: another update is running (lock {self.root / LOCK_NAME})"
            ) from None
        try:
            self._clean_leftovers()
            yield
        finally:
            lock.release()

    def _clean_leftovers(self) -> None:
        for p in self.root.iterdir():
            if p.name.startswith(TMP_PREFIX):
                shutil.rmtree(p, ignore_errors=True)

    def write(self, run_id: str, manifest: dict, write_outputs: Callable[[Path], None]) -> Run:
        """Write a run atomically: outputs and manifest into a temporary folder, then rename.

        Call while holding ``locked()``. ``write_outputs(folder)`` writes at least
        ``OUTPUT_FILES``; every file it writes is hashed into the manifest.
        """
        tmp = self.root / f"{TMP_PREFIX}{run_id}"
        tmp.mkdir(parents=True)
        write_outputs(tmp)
        missing = [name for name in OUTPUT_FILES if not (tmp / name).is_file()]
        if missing:
            raise StoreError(f"{tmp}: run incomplete, missing {', '.join(missing)}")
        files = sorted(p for p in tmp.rglob("*") if p.is_file())
        for p in files:
            fsync_file(p)
        manifest = {**manifest, "id": run_id, "format_version": FORMAT_VERSION}
        manifest["outputs"] = {p.relative_to(tmp).as_posix(): sha256_file(p) for p in files}
        write_text_durably(tmp / "manifest.json", json.dumps(manifest, indent=2, sort_keys=True))
        final = self.root / run_id
        os.rename(tmp, final)
        fsync_dir(self.root)
        return Run(path=final, manifest=manifest)


def _read_manifest(path: Path) -> dict:
    """A run folder's manifest, checked to be a JSON object with every ``REQUIRED_KEYS`` key;
    ``StoreError`` saying why it is unreadable otherwise."""
    mpath = path / "manifest.json"
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise StoreError(f"{mpath}: cannot read the run manifest ({why})") from None
    if not isinstance(manifest, dict):
        kind = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
            type(manifest), "a number"
        )
        raise StoreError(f"{mpath}: the run manifest is {kind}, not a JSON object")
    for key, kind in REQUIRED_KEYS.items():
        if key not in manifest:
            raise StoreError(f"{mpath}: the run manifest has no {key!r}")
        v = manifest[key]
        # bool is an int in Python, but a boolean seed would be a damaged manifest
        if not isinstance(v, kind) or (isinstance(v, bool) and kind is not bool):
            raise StoreError(f"{mpath}: the run manifest's {key!r} is not a {kind.__name__}")
    for key in DIAGNOSTIC_KEYS:
        v = manifest["diagnostics"].get(key)
        if not isinstance(v, int | float) or isinstance(v, bool):
            raise StoreError(f"{mpath}: the run manifest's diagnostics have no number {key!r}")
    return manifest


def _verify(run: Run) -> None:
    """Refuse a run written in another format or whose files changed since it was written."""
    path, manifest = run.path, run.manifest
    fmt = manifest.get("format_version")
    if fmt != FORMAT_VERSION:
        raise StoreError(
            f"{path}: written in run format {fmt!r}, this version reads {FORMAT_VERSION};"
            " refit with `forecast update --force`"
        )
    outputs = manifest.get("outputs")
    if not isinstance(outputs, dict):
        raise StoreError(f"{path}: the run manifest lists no output files")
    for name, digest in outputs.items():
        f = path / name
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise StoreError(f"{path}: the run manifest lists a file outside the run: {name!r}")
        if not f.is_file():
            raise StoreError(f"{f}: missing from the run")
        if sha256_file(f) != digest:
            raise StoreError(f"{f}: altered since the run was written (hash mismatch)")
