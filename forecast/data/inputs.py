"""Where a scenario's files live, loading them together, and hashing them for provenance.

Loading takes a *snapshot*: the bytes of the scenario file and of every evidence file are read
once, while holding the scenario lock (``data/<name>/.lock``, shared with ``forecast evidence
add``), and the scenario and evidence are parsed from those bytes. ``Inputs`` keeps the bytes, so
the hashes and the copy an update records are exactly what it fitted, even if a row is added to
the log while it runs.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from filelock import FileLock, Timeout

from forecast.data.errors import InputError, Problem
from forecast.data.evidence import Evidence, evidence_files, load_evidence
from forecast.data.files import sha256_bytes
from forecast.data.scenario import Scenario
from forecast.data.scenario_file import load_scenario

DEFAULT_SCENARIO = "israel_russia"
LOCK_NAME = ".lock"  # hidden: never matched by the evidence log's ``*.csv``
LOCK_TIMEOUT = 30.0  # seconds to wait for another process adding evidence


@dataclass(frozen=True)
class Inputs:
    """A validated scenario with its evidence, and the files they were read from.

    ``contents`` holds the bytes the scenario and evidence were parsed from, keyed by conventional
    project path (``priors/<file>.toml``, ``data/<name>/<file>.csv``; see ``file_hashes``). It is
    filled by ``load_inputs``; for ``Inputs`` built by hand (``None``, or a file missing from it)
    the files are read from disk when asked for.
    """

    scenario: Scenario
    evidence: Evidence
    scenario_file: Path
    evidence_dir: Path
    contents: Mapping[str, bytes] | None = field(default=None, repr=False, compare=False)

    @property
    def files(self) -> list[Path]:
        return [self.scenario_file, *self.evidence.files]

    def scenario_key(self) -> str:
        return f"priors/{self.scenario_file.name}"

    def evidence_key(self, path: Path) -> str:
        return f"data/{self.evidence_dir.name}/{path.name}"

    def scenario_bytes(self) -> bytes:
        """The scenario file's bytes as loaded."""
        return self._bytes(self.scenario_key(), self.scenario_file)

    def evidence_bytes(self) -> dict[str, bytes]:
        """Every evidence file's bytes as loaded, keyed by file name."""
        return {f.name: self._bytes(self.evidence_key(f), f) for f in self.evidence.files}

    def _bytes(self, key: str, path: Path) -> bytes:
        if self.contents is not None and key in self.contents:
            return self.contents[key]
        return path.read_bytes()

    def file_hashes(self) -> dict[str, str]:
        """SHA-256 of every input file as loaded, keyed by its conventional project path."""
        out = {self.scenario_key(): sha256_bytes(self.scenario_bytes())}
        for name, data in self.evidence_bytes().items():
            out[f"data/{self.evidence_dir.name}/{name}"] = sha256_bytes(data)
        return out

    def input_hash(self) -> str:
        """One hash over all input files' contents (names included)."""
        h = hashlib.sha256()
        for name, digest in sorted(self.file_hashes().items()):
            h.update(f"{name}\0{digest}\n".encode())
        return h.hexdigest()


def scenario_paths(name: str, root: Path | str = ".") -> tuple[Path, Path]:
    """``priors/<name>.toml`` and ``data/<name>/`` under ``root``."""
    root = Path(root)
    return root / "priors" / f"{name}.toml", root / "data" / name


@contextmanager
def scenario_lock(
    evidence_dir: Path | str, timeout: float = LOCK_TIMEOUT, *, create: bool = True
) -> Iterator[bool]:
    """Hold the scenario's lock, ``<evidence_dir>/.lock``, for the body; yields whether it is held.

    An OS file lock (``flock``), released by the kernel if the holder dies. Appending a row holds
    it for the whole read–validate–write (``create=True``: the folder and lock file are made if
    missing); loading holds it only while reading the files' bytes. Loading passes
    ``create=False``: it never creates files (a run's archived ``inputs/`` or a read-only checkout
    stays untouched) and reads unlocked when there is no lock file yet, or it cannot be opened
    (read-only). That is safe because an append changes one file in one step
    (``forecast.data.append``), so an unlocked reader still sees every file either before or after
    an append.

    Raises ``InputError`` (located at the lock file) if the lock is not free within ``timeout``
    seconds or, with ``create``, cannot be taken at all.
    """
    evidence_dir = Path(evidence_dir)
    path = evidence_dir / LOCK_NAME
    if not create and not path.is_file():
        yield False
        return
    if create:
        try:
            evidence_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(
                [Problem(str(evidence_dir), "(dir)", "directory", _why(exc, "cannot create"))]
            ) from None
    lock = FileLock(path)
    try:
        lock.acquire(timeout=timeout)
    except Timeout:
        raise InputError(
            [
                Problem(
                    str(path),
                    "(file)",
                    "lock",
                    f"another process has been adding evidence for over {timeout:g} s; "
                    "try again (the lock is freed when that process ends)",
                )
            ]
        ) from None
    except OSError as exc:
        if not create:
            yield False
            return
        raise InputError(
            [Problem(str(path), "(file)", "lock", _why(exc, "cannot take the lock"))]
        ) from None
    try:
        yield True
    finally:
        lock.release()


def _why(exc: OSError, what: str) -> str:
    return f"{what}: {exc.strerror or exc}"


def load_inputs(
    name: str = DEFAULT_SCENARIO,
    root: Path | str = ".",
    scenario_file: Path | None = None,
    evidence_dir: Path | None = None,
    *,
    lock_timeout: float = LOCK_TIMEOUT,
) -> Inputs:
    """Load and validate a scenario and its evidence log; raises ``InputError`` on bad input.

    The files' bytes are read once, under the scenario lock (a short hold: just the reads), and
    the scenario and evidence are parsed from that snapshot, which ``Inputs.contents`` keeps.
    Problems name the real files.
    """
    default_toml, default_dir = scenario_paths(name, root)
    scenario_file = Path(scenario_file or default_toml)
    evidence_dir = Path(evidence_dir or default_dir)
    listing: InputError | None = None
    with scenario_lock(evidence_dir, lock_timeout, create=False):
        scenario_data = _read(scenario_file)
        is_dir = evidence_dir.is_dir()
        try:
            files = evidence_files(evidence_dir) if is_dir else []
        except InputError as exc:  # entries that are not readable log files
            listing, files = exc, []
        snapshot = {f: _read(f) for f in files}
    if isinstance(scenario_data, OSError):
        raise InputError([_unreadable(scenario_file, scenario_data)])
    scenario = parse_snapshot(
        {scenario_file: scenario_data}, lambda tmp: load_scenario(tmp / scenario_file.name)
    )
    if listing is not None:
        raise listing
    problems = [_unreadable(f, d) for f, d in snapshot.items() if isinstance(d, OSError)]
    readable = {f: d for f, d in snapshot.items() if isinstance(d, bytes)}
    try:
        evidence = load_snapshot_evidence(evidence_dir, readable, scenario, exists=is_dir)
    except InputError as exc:
        if not (problems and not readable):  # not just "no *.csv files" after unreadable ones
            problems.extend(exc.problems)
    if problems:
        raise InputError(problems)
    contents = {f"priors/{scenario_file.name}": scenario_data}
    contents.update({f"data/{evidence_dir.name}/{f.name}": d for f, d in readable.items()})
    return Inputs(scenario, evidence, scenario_file, evidence_dir, contents)


def _read(path: Path) -> bytes | OSError:
    try:
        return path.read_bytes()
    except OSError as exc:
        return exc


def _unreadable(path: Path, exc: OSError) -> Problem:
    """The problem ``load_scenario`` / ``load_evidence`` report for a file they cannot read."""
    return Problem(str(path), "(file)", "file", exc.strerror or str(exc))


def load_snapshot_evidence(
    evidence_dir: Path,
    files: Mapping[Path, bytes],
    scenario: Scenario,
    *,
    exists: bool = True,
) -> Evidence:
    """``load_evidence(evidence_dir, scenario)`` as if the folder held exactly ``files``.

    ``files`` maps each real path (``evidence_dir/<name>.csv``) to its bytes; ``exists=False``
    parses a folder that is not there. The bytes are parsed from a private temporary copy; the
    problems, the frame's ``file`` column and ``Evidence.files`` name the real paths.
    """

    def parse(tmp: Path) -> Evidence:
        folder = tmp if exists else tmp / "missing"
        ev = load_evidence(folder, scenario)
        real = {str(tmp / f.name): str(f) for f in files}
        return Evidence(
            frame=ev.frame.assign(file=ev.frame["file"].map(real)),
            files=tuple(Path(real[str(f)]) for f in ev.files),
        )

    folder = {"": evidence_dir} if exists else {"missing": evidence_dir}
    return parse_snapshot(files, parse, folders=folder)


def parse_snapshot[T](
    files: Mapping[Path, bytes],
    parse: Callable[[Path], T],
    *,
    folders: Mapping[str, Path] | None = None,
) -> T:
    """Write ``files`` (real path → bytes) into a private temporary folder as ``tmp/<name>`` and
    return ``parse(tmp)``.

    An ``InputError`` is re-raised with the temporary paths (as a problem's file or inside its
    message) replaced by the real ones; ``folders`` maps sub-paths of the temporary folder (``""``
    for itself) to the real folders they stand for.
    """
    with tempfile.TemporaryDirectory(prefix="forecast-inputs-") as name:
        tmp = Path(name)
        for path, data in files.items():
            (tmp / path.name).write_bytes(data)
        try:
            return parse(tmp)
        except InputError as exc:
            mapping = {str(tmp / p.name): str(p) for p in files}
            for sub, real in (folders or {}).items():
                mapping[str(tmp / sub)] = str(real)
            raise relocate(exc, mapping) from None


def relocate(exc: InputError, mapping: Mapping[str, str]) -> InputError:
    """``exc`` with every temporary path in ``mapping`` replaced by its real path."""
    order = sorted(mapping, key=len, reverse=True)  # a folder's path prefixes its files' paths

    def fix(text: str) -> str:
        if text in mapping:
            return mapping[text]
        for tmp in order:
            text = text.replace(tmp, mapping[tmp])
        return text

    return InputError(
        [Problem(fix(p.file), p.where, p.field, fix(p.message)) for p in exc.problems]
    )
