"""Hashing and durable writes (``forecast.data.files``): right bytes, right hashes, fsynced, and an
atomic replace that leaves the old file or the new one, never a part and never a temporary file."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

import forecast.data.files as files
from forecast.data.files import (
    fsync_dir,
    fsync_file,
    replace_atomically,
    sha256_bytes,
    sha256_file,
    write_text_durably,
)


@pytest.fixture
def fsynced(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """Record every ``os.fsync`` (as (device, inode) of what was flushed); still really fsync."""
    calls: list[tuple[int, int]] = []
    real = os.fsync

    def record(fd: int) -> None:
        st = os.fstat(fd)
        calls.append((st.st_dev, st.st_ino))
        real(fd)

    monkeypatch.setattr(files.os, "fsync", record)
    return calls


def _id(path: Path) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_dev, st.st_ino


def test_sha256_of_bytes_and_of_a_file(tmp_path: Path) -> None:
    assert sha256_bytes(b"") == hashlib.sha256(b"").hexdigest()
    assert sha256_bytes(b"abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
    # larger than one 1 MiB block and not a multiple of it: every block is hashed, once, in order
    data = bytes(range(256)) * 4097 + b"tail"
    f = tmp_path / "big.bin"
    f.write_bytes(data)
    assert sha256_file(f) == hashlib.sha256(data).hexdigest()
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert sha256_file(empty) == hashlib.sha256(b"").hexdigest()


def test_sha256_file_reads_in_blocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A large file is hashed a block at a time (1 MiB), never read whole into memory."""
    data = os.urandom((1 << 20) * 2 + 5)
    f = tmp_path / "big.bin"
    f.write_bytes(data)
    sizes: list[int] = []
    real_open = open

    class Spy:
        def __init__(self, fh):
            self.fh = fh

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

        def read(self, n=-1):
            sizes.append(n)
            if len(sizes) > 100:  # a loop that never stops at EOF fails here, not by timing out
                raise RuntimeError("sha256_file reads past the end")
            return self.fh.read(n)

    monkeypatch.setattr(files, "open", lambda p, mode="r": Spy(real_open(p, mode)), raising=False)
    assert sha256_file(f) == hashlib.sha256(data).hexdigest()
    assert sizes == [1 << 20] * 4


def test_fsync_file_and_dir_flush_the_named_entry(tmp_path: Path, fsynced) -> None:
    f = tmp_path / "a.txt"
    f.write_text("x")
    fsync_file(f)
    fsync_dir(tmp_path)
    assert fsynced == [_id(f), _id(tmp_path)]
    with pytest.raises(FileNotFoundError):
        fsync_file(tmp_path / "missing")
    with pytest.raises(FileNotFoundError):
        fsync_dir(tmp_path / "missing")


def test_fsync_dir_closes_its_descriptor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    closed: list[int] = []
    real_close = os.close
    monkeypatch.setattr(files.os, "close", lambda fd: (closed.append(fd), real_close(fd))[1])
    fsync_dir(tmp_path)
    assert len(closed) == 1
    with pytest.raises(OSError):  # already closed
        os.fstat(closed[0])


def test_fsync_dir_closes_its_descriptor_when_fsync_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed: list[int] = []
    real_close = os.close

    def fail(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(files.os, "fsync", fail)
    monkeypatch.setattr(files.os, "close", lambda fd: (closed.append(fd), real_close(fd))[1])
    with pytest.raises(OSError, match="Input/output"):
        fsync_dir(tmp_path)
    assert len(closed) == 1


def test_write_text_durably_writes_utf8_and_fsyncs(tmp_path: Path, fsynced) -> None:
    f = tmp_path / "m.json"
    text = 'caf\u00e9 \u2014 "\u65e5\u672c"\nline 2\n'
    write_text_durably(f, text)
    assert f.read_bytes() == text.encode("utf-8")
    assert fsynced == [_id(f)]
    write_text_durably(f, "short")  # truncates what was there
    assert f.read_bytes() == b"short"


def test_replace_atomically_writes_utf8_with_the_mode_and_fsyncs(tmp_path: Path, fsynced) -> None:
    target = tmp_path / "report.html"
    target.write_text("old")
    old_id = _id(target)
    text = "<p>caf\u00e9 \u2014 \u65e5\u672c</p>\n"
    replace_atomically(target, text)
    assert target.read_bytes() == text.encode("utf-8")
    assert stat.S_IMODE(target.stat().st_mode) == 0o644  # not the temporary file's 0o600
    assert _id(target) != old_id  # a new file renamed over the old one, not rewritten in place
    # the new file's contents, then the folder (the rename), were flushed
    assert fsynced == [_id(target), _id(tmp_path)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]  # no temporary left
    replace_atomically(str(target), "again", mode=0o600)  # a str path works too
    assert target.read_text() == "again"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    new = tmp_path / "new.txt"
    replace_atomically(new, "fresh", mode=0o640)  # no file there yet
    assert new.read_text() == "fresh" and stat.S_IMODE(new.stat().st_mode) == 0o640


def test_replace_atomically_uses_a_hidden_temporary_beside_the_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str, str, str]] = []
    real_replace = os.replace

    def spy(src, dst):
        seen.append((str(src), str(dst), Path(src).read_text(encoding="utf-8")))
        real_replace(src, dst)

    monkeypatch.setattr(files.os, "replace", spy)
    target = tmp_path / "report.html"
    replace_atomically(target, "body")
    ((src, dst, content),) = seen
    assert dst == str(target) and content == "body"
    src = Path(src)
    assert src.parent == tmp_path  # same folder: the rename is atomic
    assert src.name.startswith(".report.") and src.name.endswith(".html")  # hidden, same suffix


@pytest.mark.parametrize("fail_at", ["replace", "chmod", "write"])
def test_replace_atomically_failure_keeps_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fail_at: str
) -> None:
    target = tmp_path / "out.csv"
    target.write_text("old contents\n")

    def fail(*_a, **_k):
        raise OSError(28, "No space left on device")

    if fail_at == "write":
        monkeypatch.setattr(files.os, "fsync", fail)
    else:
        monkeypatch.setattr(files.os, fail_at, fail)
    with pytest.raises(OSError, match="No space left"):
        replace_atomically(target, "new contents\n")
    monkeypatch.undo()
    assert target.read_text() == "old contents\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]


@pytest.fixture
def ascii_locale():
    """Run under the C locale's ASCII codeset (``open`` without an encoding would use it)."""
    import locale

    old = locale.setlocale(locale.LC_CTYPE)
    locale.setlocale(locale.LC_CTYPE, "C")
    assert locale.getpreferredencoding(False) != "UTF-8"
    yield
    locale.setlocale(locale.LC_CTYPE, old)


def test_text_is_written_as_utf8_whatever_the_locale(tmp_path: Path, ascii_locale) -> None:
    text = "caf\u00e9 \u65e5\u672c\n"
    write_text_durably(tmp_path / "a.json", text)
    replace_atomically(tmp_path / "b.html", text)
    assert (tmp_path / "a.json").read_bytes() == text.encode("utf-8")
    assert (tmp_path / "b.html").read_bytes() == text.encode("utf-8")
