"""Appending a row to the evidence log: validated against the scenario first, written atomically."""

from __future__ import annotations

import csv
import io
import os
import tempfile
from pathlib import Path

from forecast.errors import InputError, Problem
from forecast.evidence import COLUMNS, REQUIRED, load_evidence
from forecast.scenario import load_scenario


def append_row(scenario_file: Path, evidence_dir: Path, file_name: str, row: dict[str, str]) -> int:
    """Append ``row`` to ``evidence_dir/file_name`` (created with a full header if new).

    The whole log is validated with the row in place (in a temporary copy) before anything is
    written; a bad row raises ``InputError`` located at the row it would have been, and the log is
    left untouched. Returns the new row's spreadsheet row number.
    """
    unknown = sorted(set(row) - set(COLUMNS))
    if unknown:
        raise InputError([Problem(file_name, "(new row)", u, "unknown column") for u in unknown])
    if not file_name.endswith(".csv") or "/" in file_name or file_name.startswith("."):
        raise InputError([Problem(file_name, "(new row)", "file", "a plain *.csv file name")])
    target = evidence_dir / file_name
    scenario = load_scenario(scenario_file)
    if target.exists():
        try:
            text = target.read_bytes().decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InputError(
                [Problem(str(target), "(file)", "encoding", f"not UTF-8 (byte {exc.start})")]
            ) from None
        header = next(csv.reader(io.StringIO(text)), list(COLUMNS))
    else:
        text, header = "", list(COLUMNS)
    missing = [c for c in REQUIRED if not row.get(c)]
    if missing:
        raise InputError([Problem(str(target), "(new row)", c, "required") for c in missing])
    extra = [c for c in row if row[c] and c not in header]
    if extra:
        raise InputError(
            [Problem(str(target), 1, c, "this file has no such column") for c in extra]
        )
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    if not text:
        w.writerow(header)
    elif not text.endswith("\n"):
        buf.write("\n")
    w.writerow([row.get(c, "") for c in header])
    new_text = text + buf.getvalue()
    row_number = sum(1 for _ in csv.reader(io.StringIO(new_text)))
    with tempfile.TemporaryDirectory() as tmp:
        for f in evidence_dir.glob("*.csv"):
            if f.name != file_name:
                (Path(tmp) / f.name).write_bytes(f.read_bytes())
        (Path(tmp) / file_name).write_text(new_text, encoding="utf-8")
        try:
            load_evidence(tmp, scenario)
        except InputError as exc:
            # re-locate problems from the temporary copy onto the real files and folder
            raise InputError(
                [
                    Problem(_relocate(p.file, tmp, evidence_dir), p.where, p.field, p.message)
                    for p in exc.problems
                ]
            ) from None
    _atomic_write(target, new_text)
    return row_number


def _relocate(file: str, tmp: str, evidence_dir: Path) -> str:
    path = Path(file)
    return str(evidence_dir if path == Path(tmp) else evidence_dir / path.name)


def _atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file in the same folder and an atomic rename."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
