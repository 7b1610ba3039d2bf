"""One reader for every CSV table the tool reads: evidence logs, question and crowd files, an
import's earlier output, and the log ``evidence add`` appends to.

Rows are numbered as a spreadsheet shows them: the header is row 1, a blank row counts, and a
quoted value that spans several lines is one row. (Evidence row ids, ``<file>:<row>``, are
stored in runs, so the numbering is part of the run store's format.) Every problem is located at
its file, row and column and appended to a list, so a caller reports all of them at once.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from forecast.data.errors import Problem

MAX_ENCODING_PROBLEMS = 10  # per file; the rest are summarized in one problem


class Row(NamedTuple):
    """One non-blank data row: its spreadsheet row, its cells by column (stripped), and whether
    every cell is clean UTF-8 text (a cell that is not is reported already). A tuple, so
    ``for row, cells, clean in rows`` unpacks it."""

    row: int
    cells: dict[str, str]
    clean: bool


def bad_text(text: str) -> str | None:
    """Why a decoded cell is not clean UTF-8 text (undecodable bytes or NUL), else ``None``."""
    for c in text:
        if "\udc80" <= c <= "\udcff":
            return f"not UTF-8 (byte 0x{ord(c) - 0xDC00:02x}); save the file as UTF-8"
        if c == "\x00":
            return "contains a NUL byte (a binary or UTF-16 file?); save the file as UTF-8"
    return None


def _looks_utf16(raw: bytes) -> bool:
    return raw[:2] in (b"\xff\xfe", b"\xfe\xff") or raw[:200].count(b"\x00") > len(raw[:200]) // 4


def csv_text(raw: bytes) -> tuple[str, tuple[str, str] | None]:
    """A CSV file's text from its bytes (UTF-8, BOM dropped), or ``("", (field, message))`` saying
    why it has none (UTF-16 or binary bytes, no header). Undecodable bytes become lone
    surrogates, so they can be reported by row and column."""
    if _looks_utf16(raw):
        return "", ("encoding", "looks like UTF-16 (or binary): save the file as UTF-8")
    text = raw.removeprefix(b"\xef\xbb\xbf").decode("utf-8", errors="surrogateescape")
    if not text.strip():
        return "", ("file", "empty file: expected a header row")
    return text, None


def csv_records(text: str, name: str, problems: list[Problem]) -> list[tuple[int, list[str]]]:
    """The non-blank records of CSV ``text`` with their spreadsheet rows; a malformed record
    stops the reading with a problem at its row."""
    rows: list[tuple[int, list[str]]] = []
    row = 0
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        for row, fields in enumerate(reader, start=1):
            if any(f.strip() for f in fields):
                rows.append((row, fields))
    except csv.Error as exc:
        problems.append(Problem(name, row + 1, "(row)", f"malformed CSV: {exc}"))
    return rows


def file_text(path: Path, problems: list[Problem]) -> str | None:
    """The file's text, or None with a problem at the file (a folder, missing, unreadable, not
    UTF-8 text, empty)."""
    why: tuple[str, str] | None = None
    if path.is_dir():
        why = ("file", "is a directory, not a CSV file")
    else:
        try:
            text, why = csv_text(path.read_bytes())
        except FileNotFoundError:
            why = ("file", "not found")
        except OSError as exc:
            why = ("file", f"cannot be read: {exc.strerror or exc}")
    if why is not None:
        problems.append(Problem(str(path), "(file)", *why))
        return None
    return text


def read_table(
    path: Path, required: Sequence[str], problems: list[Problem], known: Sequence[str] = ()
) -> list[Row] | None:
    """The non-blank data rows of the CSV file at ``path`` under its header (its first non-blank
    row), or ``None`` if its rows cannot be read (no file or text, a header that is not text,
    names a column twice or lacks a ``required`` one). Rows of the wrong length are left out.
    Columns outside ``known`` are reported as unknown when ``known`` is given (and still read).
    Every problem goes to ``problems``."""
    name = str(path)
    text = file_text(path, problems)
    records = csv_records(text, name, problems) if text is not None else []
    if not records:
        return None
    head_row, head = records[0]
    header = [h.strip() for h in head]
    if not _header_ok(name, head_row, header, required, known, problems):
        return None
    out = []
    encoding: list[Problem] = []  # cells that are not clean text, reported up to a limit
    for row, fields in records[1:]:
        if len(fields) != len(header):
            more_less = "missing" if len(fields) < len(header) else "extra"
            why = f"has {len(fields)} fields but the header has {len(header)} "
            why += f"({more_less} commas, or a comma inside an unquoted value?)"
            problems.append(Problem(name, row, "(row)", why))
            continue
        cells = {h: f.strip() for h, f in zip(header, fields, strict=True)}
        bad = [
            Problem(name, row, h or "(blank)", why)
            for h, f in cells.items()
            if (why := bad_text(f))
        ]
        encoding += bad
        out.append(Row(row, cells, not bad))
    problems += encoding[:MAX_ENCODING_PROBLEMS]
    if len(encoding) > MAX_ENCODING_PROBLEMS:
        more = len(encoding) - MAX_ENCODING_PROBLEMS
        problems.append(
            Problem(name, "(file)", "encoding", f"{more} more cells are not clean UTF-8 text")
        )
    return out


def _header_ok(
    name: str,
    row: int,
    header: list[str],
    required: Sequence[str],
    known: Sequence[str],
    problems: list[Problem],
) -> bool:
    """Whether the header is text with every required column once; problems otherwise (and a
    problem per unknown column, which does not stop the rows)."""
    why = next(filter(None, map(bad_text, header)), None)
    if why:  # not a text header: column checks would only add noise
        problems.append(Problem(name, row, "(header)", why))
        return False
    ok = True
    for col in dict.fromkeys(header):
        if known and col not in known:
            problems.append(Problem(name, row, col or "(blank)", "unknown column"))
        if (n := header.count(col)) > 1:
            problems.append(Problem(name, row, col or "(blank)", f"column appears {n} times"))
            ok = False
    for col in required:
        if col not in header:
            problems.append(Problem(name, row, col, "missing required column"))
            ok = False
    return ok
