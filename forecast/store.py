"""The run store: one folder per update run, written atomically, guarded by a lock.

A run is ``<root>/<UTC time>-<short input hash>/`` holding ``posterior.nc``, ``forecast.csv``,
``manifest.json`` and ``inputs/`` (a copy of the scenario and evidence files it was fitted to, so a
run can be audited, explained and re-projected on its own). Runs are written into a hidden
temporary folder and renamed into place only when complete, so a reader never sees half a run;
leftovers of interrupted runs are removed by the next writer. The lock is an OS file lock,
released by the kernel if its holder dies.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from filelock import FileLock, Timeout

FORMAT_VERSION = 1
RUN_RE = re.compile(r"^\d{8}T\d{6}(\d{6})?Z-[0-9a-f]{8}$")
TMP_PREFIX = ".tmp-"
LOCK_NAME = ".lock"
OUTPUT_FILES = ("posterior.nc", "forecast.csv")


class StoreError(Exception):
    """A run folder is missing, altered, or written by an incompatible version."""


class StoreBusy(StoreError):
    """Another update holds the store's lock."""


@dataclass(frozen=True)
class Run:
    """A complete run folder and its manifest."""

    path: Path
    manifest: dict

    @property
    def id(self) -> str:
        return self.path.name

    def forecast(self) -> pd.DataFrame:
        return pd.read_csv(self.path / "forecast.csv", keep_default_na=False, na_values=[""])

    def posterior(self):
        import arviz as az

        return az.from_netcdf(self.path / "posterior.nc")

    def inputs(self):
        """The scenario and evidence this run was fitted to, re-validated from its own copy."""
        from forecast.inputs import load_inputs

        return load_inputs(self.manifest["scenario"], self.path / "inputs")


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


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
        if not self.root.is_dir():
            return []
        return sorted(
            p
            for p in self.root.iterdir()
            if p.is_dir() and RUN_RE.match(p.name) and (p / "manifest.json").is_file()
        )

    def runs(self, verify: bool = False) -> list[Run]:
        return [self.load(p.name, verify=verify) for p in self.run_dirs()]

    def latest(self, verify: bool = True) -> Run | None:
        dirs = self.run_dirs()
        return self.load(dirs[-1].name, verify=verify) if dirs else None

    def load(self, run_id: str, verify: bool = True) -> Run:
        """Load a run's manifest; with ``verify``, refuse altered files or another format."""
        path = self.root / run_id
        mpath = path / "manifest.json"
        try:
            manifest = json.loads(mpath.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise StoreError(f"{mpath}: cannot read the run manifest ({exc})") from None
        if verify:
            fmt = manifest.get("format_version")
            if fmt != FORMAT_VERSION:
                raise StoreError(
                    f"{path}: written in run format {fmt!r}, this version reads {FORMAT_VERSION};"
                    " refit with `forecast update --force`"
                )
            for name, digest in manifest.get("outputs", {}).items():
                f = path / name
                if not f.is_file():
                    raise StoreError(f"{f}: missing from the run")
                if sha256(f) != digest:
                    raise StoreError(f"{f}: altered since the run was written (hash mismatch)")
        return Run(path=path, manifest=manifest)

    def find(self, fit_key: str) -> Run | None:
        """The latest complete run made from exactly these inputs and settings, if any."""
        for p in reversed(self.run_dirs()):
            run = self.load(p.name, verify=False)
            if run.manifest.get("fit_key") == fit_key:
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
            _fsync(p)
        manifest = {**manifest, "id": run_id, "format_version": FORMAT_VERSION}
        manifest["outputs"] = {p.relative_to(tmp).as_posix(): sha256(p) for p in files}
        _write_durably(tmp / "manifest.json", json.dumps(manifest, indent=2, sort_keys=True))
        final = self.root / run_id
        os.rename(tmp, final)
        _fsync_dir(self.root)
        return Run(path=final, manifest=manifest)


def _write_durably(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())


def _fsync(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
