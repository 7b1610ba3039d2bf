"""File hashing and durable writes, shared by the inputs, the run store, appends and reports.

Durable means on disk, not only in the page cache, before the caller goes on: file contents are
fsynced, and so is the folder after a rename or link, so that a crash never leaves a name pointing
at a half-written file.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's contents, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fsync_file(path: Path) -> None:
    """Flush a file already written (and closed) to disk."""
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def fsync_dir(path: Path) -> None:
    """Flush a folder's entries (a rename, link or new file in it) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_text_durably(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` and fsync it before returning (not atomic: for files in a
    folder that is itself renamed into place)."""
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())


def replace_atomically(target: Path, text: str, mode: int = 0o644) -> None:
    """Write ``text`` (UTF-8) to ``target`` atomically: a hidden temporary file in the same folder,
    fsynced, given ``mode`` (a temporary file is private), renamed over ``target``, folder fsynced.
    Readers see the old file or the new one, never a part; a failure leaves no temporary file."""
    target = Path(target)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}.", suffix=target.suffix)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
        fsync_dir(target.parent)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
