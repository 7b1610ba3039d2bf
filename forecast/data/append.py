"""Appending a row to the evidence log: validated against the scenario first, nothing lost, ever.

``append_row`` holds the scenario lock (``data/<name>/.lock``, see ``forecast.data.inputs``) for the
whole read–validate–write, so concurrent adds are serialized: each sees the rows added before
it, gets its own row number, and a row added twice is refused as a duplicate the second time.

How the row reaches the disk:

* An existing file is appended to **in place**: one ``os.write`` of the encoded line (led by a
  newline if the file did not end with one) on an ``O_APPEND`` descriptor, then ``fsync``. The
  path's symlinks are followed (a shared target gets the row; the link stays a link) and the
  file's inode, mode, owner and hard links are untouched. Crash safety rests on that single
  write, with nothing extra recorded and no repair pass: Linux copies a write into the file page
  by page and a kill (even SIGKILL) can only stop it between pages, so a process killed at any
  moment leaves the log without the row or with all of it. (A row straddling a page boundary
  has a window of microseconds in which a kill could tear it; the torn row would be the last
  line, without its newline, and unless the cut falls inside its last column it fails
  validation, located, in ``forecast check`` and the next add.) A failed write or fsync (disk
  full, I/O error) truncates the file back to its old length before reporting.
* A new file is written whole (header and row) to a hidden temporary file in the same folder,
  fsynced, then hard-linked into place (``os.link``, which never replaces an existing file) and
  the folder fsynced: the file appears complete or not at all. It gets the default mode (umask).
  Temporary files left by killed processes are removed by the next append.
"""

from __future__ import annotations

import csv
import io
import os
import secrets
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from forecast.data.errors import InputError, Problem
from forecast.data.evidence import evidence_files
from forecast.data.files import fsync_dir
from forecast.data.inputs import LOCK_TIMEOUT, load_snapshot_evidence, scenario_lock
from forecast.data.rules import COLUMNS, REQUIRED
from forecast.data.scenario_file import load_scenario
from forecast.data.table import csv_records

TMP_GLOB = ".*.csv.append-*.tmp"


def append_row(
    scenario_file: Path,
    evidence_dir: Path,
    file_name: str,
    row: dict[str, str],
    *,
    timeout: float = LOCK_TIMEOUT,
) -> int:
    """Append ``row`` to ``evidence_dir/file_name`` (created with a full header if new).

    The whole log is validated with the row in place (in a temporary copy) before anything is
    written; a bad row raises ``InputError`` located at the row it would have been, and the log is
    left untouched. A missing ``evidence_dir`` is created (once the row is known to be valid).
    Waits up to ``timeout`` seconds for another process adding evidence to the same scenario, then
    raises ``InputError``. Returns the new row's spreadsheet row number.
    """
    evidence_dir = Path(evidence_dir)
    unknown = sorted(set(row) - set(COLUMNS))
    if unknown:
        raise InputError([Problem(file_name, "(new row)", u, "unknown column") for u in unknown])
    if (
        not file_name.endswith(".csv")
        or "/" in file_name
        or "\\" in file_name
        or "\0" in file_name
        or file_name.startswith(".")
    ):
        raise InputError([Problem(file_name, "(new row)", "file", "a plain *.csv file name")])
    target = evidence_dir / file_name
    missing = [c for c in REQUIRED if not row.get(c)]
    if missing:
        raise InputError([Problem(str(target), "(new row)", c, "required") for c in missing])
    scenario = load_scenario(scenario_file)
    if evidence_dir.exists() and not evidence_dir.is_dir():
        raise InputError(
            [
                Problem(
                    str(evidence_dir), "(dir)", "directory", "not a folder (a file is in the way)"
                )
            ]
        )
    if not evidence_dir.exists():
        # the row must be valid on its own before a folder is made for it
        _validated(scenario, evidence_dir, {}, file_name, b"", row)
    with scenario_lock(evidence_dir, timeout):
        _remove_leftovers(evidence_dir)
        others = _read_others(evidence_dir, file_name)
        if os.path.lexists(target):
            return _append_in_place(scenario, evidence_dir, others, file_name, row)
        new = _validated(scenario, evidence_dir, others, file_name, b"", row)
        _create(target, new.data)
        return new.row_number


@dataclass(frozen=True)
class _NewText:
    """The bytes to write for a validated row, and the row's number."""

    data: bytes
    row_number: int


def _problem(path: Path, message: str, field: str = "file") -> InputError:
    return InputError([Problem(str(path), "(file)", field, message)])


def _read_others(evidence_dir: Path, file_name: str) -> dict[Path, bytes]:
    """The bytes of every other log file in the folder (read under the lock).

    The log's files are those ``load_evidence`` reads: ``evidence_files`` refuses, located, any
    ``*.csv`` entry that is not a regular file (a directory, pipe or broken link).
    """
    problems: list[Problem] = []
    out: dict[Path, bytes] = {}
    for path in evidence_files(evidence_dir):
        if path.name != file_name:
            try:
                out[path] = path.read_bytes()
            except OSError as exc:
                problems.extend(_problem(path, exc.strerror or str(exc)).problems)
    if problems:
        raise InputError(problems)
    return out


def _validated(
    scenario,
    evidence_dir: Path,
    others: dict[Path, bytes],
    file_name: str,
    old: bytes,
    row: dict[str, str],
) -> _NewText:
    """Encode ``row`` for ``file_name`` (after its ``old`` bytes) and validate the whole log with
    it in place; raises ``InputError`` located at the real files."""
    target = evidence_dir / file_name
    try:
        text = old.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _problem(target, f"not UTF-8 (byte {exc.start})", "encoding") from None
    records = csv_records(text, str(target), [])
    head_row, head = records[0] if records else (1, list(COLUMNS))
    names = [h.strip() for h in head]
    extra = [c for c in row if row[c] and c not in names]
    if extra:
        raise InputError(
            [Problem(str(target), head_row, c, "this file has no such column") for c in extra]
        )
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    if not text:
        w.writerow(names)
    elif not text.endswith(("\n", "\r")):
        buf.write("\n")
    w.writerow([row.get(c, "") for c in names])
    added = buf.getvalue()
    row_number = csv_records(text + added, str(target), [])[-1][0]
    data = added.encode("utf-8")
    load_snapshot_evidence(evidence_dir, {**others, target: old + data}, scenario)
    return _NewText(data, row_number)


def _append_in_place(
    scenario, evidence_dir: Path, others: dict[Path, bytes], file_name: str, row: dict[str, str]
) -> int:
    """Validate and append to the existing ``file_name`` with one write; see the module notes."""
    target = evidence_dir / file_name
    try:
        fd = os.open(target, os.O_RDWR | os.O_APPEND | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise _problem(target, f"cannot open it for appending: {exc.strerror or exc}") from None
    try:
        before = os.fstat(fd)
        old = _read_all(fd, before.st_size)
        new = _validated(scenario, evidence_dir, others, file_name, old, row)
        if not _unchanged(target, fd, before, len(old)):
            raise _problem(target, "changed by another program while adding; nothing was added")
        try:
            written = os.write(fd, new.data)
            if written != len(new.data):
                raise OSError(f"short write ({written} of {len(new.data)} bytes)")
            os.fsync(fd)
        except OSError as exc:
            _truncate_back(fd, len(old))
            raise _problem(
                target, f"cannot write: {exc.strerror or exc}; the log is unchanged"
            ) from None
        return new.row_number
    finally:
        os.close(fd)


def _unchanged(target: Path, fd: int, before: os.stat_result, size: int) -> bool:
    """Whether ``fd`` still holds the ``size`` bytes read and is still the file at ``target``
    (a program not using the lock, e.g. an editor saving, may have rewritten or replaced it)."""
    now = os.fstat(fd)
    try:
        on_disk = os.stat(target)
    except OSError:
        return False
    return (now.st_size, now.st_mtime_ns) == (size, before.st_mtime_ns) and (
        on_disk.st_dev,
        on_disk.st_ino,
    ) == (now.st_dev, now.st_ino)


def _read_all(fd: int, size: int) -> bytes:
    chunks, offset = [], 0
    while True:
        chunk = os.pread(fd, max(size - offset, 1 << 16), offset)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        offset += len(chunk)


def _truncate_back(fd: int, size: int) -> None:
    with suppress(OSError):
        os.ftruncate(fd, size)
        os.fsync(fd)


def _create(target: Path, data: bytes) -> None:
    """Write a new log file whole: hidden temporary file, fsync, hard link into place, fsync."""
    tmp = target.parent / f".{target.name}.append-{secrets.token_hex(8)}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.link(tmp, target)
        fsync_dir(target.parent)
    except FileExistsError:
        raise _problem(
            target, "created by another program while adding; nothing was added"
        ) from None
    except OSError as exc:
        raise _problem(target, f"cannot create it: {exc.strerror or exc}") from None
    finally:
        with suppress(OSError):
            os.unlink(tmp)


def _remove_leftovers(evidence_dir: Path) -> None:
    """Remove temporary files of appends that were killed (only lock holders make them)."""
    for p in evidence_dir.glob(TMP_GLOB):
        with suppress(OSError):
            p.unlink()
