"""The import: every source's rows validated with the whole log, compared with the files they
replace, and written atomically under the scenario lock; or nothing written and every problem
located at the mapping, an export or the log."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from forecast.data.errors import InputError, Problem
from forecast.data.evidence import evidence_files
from forecast.data.files import replace_atomically
from forecast.data.importing.mapping import ImportMapping, parse_mapping, read_mapping_toml
from forecast.data.importing.readers import READERS
from forecast.data.importing.rows import _csv_text, _natural, _Reader, _Row
from forecast.data.inputs import (
    DEFAULT_SCENARIO,
    LOCK_TIMEOUT,
    load_snapshot_evidence,
    scenario_lock,
    scenario_paths,
)
from forecast.data.rules import COLUMNS
from forecast.data.scenario import NAME_PATTERN, Scenario
from forecast.data.scenario_file import decode_utf8, load_scenario
from forecast.data.table import csv_records

IMPORT_PREFIX = "import_"  # data/<scenario>/import_<name>.csv


@dataclass(frozen=True)
class RowChange:
    """A row already imported whose content changed: its key, the column, old and new text."""

    key: str
    column: str
    old: str
    new: str


@dataclass(frozen=True)
class SourceImport:
    """What one source's import did (or, in a dry run, would do) to its evidence file.

    ``status``: ``created`` (a new file), ``unchanged`` (byte-identical), ``updated``. ``rows``
    is the file's row count after; ``added``, ``changed``, ``removed`` and ``unchanged_rows``
    compare it, row by row (keyed by date, kind, target and forecaster), with the file before.
    ``skipped`` counts export rows left out, by reason.
    """

    name: str
    kind: str
    source_file: Path
    evidence_file: Path
    status: Literal["created", "unchanged", "updated"]
    rows: int
    added: int
    changed: int
    removed: int
    unchanged_rows: int
    changes: tuple[RowChange, ...] = ()
    skipped: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ImportResult:
    """One ``import_evidence`` call: the mapping, the scenario, whether it wrote, per source."""

    mapping: Path
    scenario: str
    evidence_dir: Path
    dry_run: bool
    sources: tuple[SourceImport, ...]

    @property
    def written(self) -> tuple[Path, ...]:
        """The evidence files written (none in a dry run or when nothing changed)."""
        if self.dry_run:
            return ()
        return tuple(s.evidence_file for s in self.sources if s.status != "unchanged")


def _row_key(cells: dict[str, str]) -> tuple[str, ...]:
    return (cells["date"], cells["kind"], cells["target"], cells["forecaster"])


def _old_rows(path: Path, name: str, data: bytes) -> dict[tuple[str, ...], dict[str, str]]:
    """The rows of an existing import file by key; ``InputError`` if it was not made by this
    source's import (a hand-written file of that name is never overwritten)."""
    prefix = f"import {name}: "

    def refuse(where: int | str, why: str) -> InputError:
        return InputError(
            [
                Problem(
                    str(path),
                    where,
                    "note",
                    f"{why}: not written by import {name!r}, so it is not replaced"
                    " (rename it, or delete it to import again)",
                )
            ]
        )

    text, _ = decode_utf8(data)
    if text is None:
        raise refuse("(file)", "not UTF-8 text")
    malformed: list[Problem] = []
    table = csv_records(text, str(path), malformed)
    if malformed:
        raise refuse(malformed[0].where, "malformed CSV")
    if not table:
        return {}
    head_row, head = table[0]
    header = [h.strip() for h in head]
    if "note" not in header:
        raise refuse(head_row, "no note column")
    out = {}
    for i, cells in table[1:]:
        rec = dict.fromkeys(COLUMNS, "")
        rec.update({h: c.strip() for h, c in zip(header, cells, strict=False)})
        if not rec["note"].startswith(prefix):
            raise refuse(i, f"the note {rec['note']!r} does not start {prefix.strip()!r}")
        out[_row_key(rec)] = rec
    return out


def _compare(
    old: dict[tuple[str, ...], dict[str, str]], rows: list[_Row]
) -> tuple[int, int, int, int, tuple[RowChange, ...]]:
    """(added, changed, removed, unchanged, changes) of the new rows against the old file's."""
    added = changed = same = 0
    changes: list[RowChange] = []
    new_keys = set()
    for row in rows:
        k = _row_key(row.cells)
        new_keys.add(k)
        before = old.get(k)
        if before is None:
            added += 1
            continue
        diff = [
            RowChange(row.key, c, before[c], row.cells[c])
            for c in COLUMNS
            if before[c] != row.cells[c]
        ]
        if diff:
            changed += 1
            changes.extend(diff)
        else:
            same += 1
    removed = sum(1 for k in old if k not in new_keys)
    return added, changed, removed, same, tuple(changes)


def import_evidence(
    mapping_file: str | Path,
    *,
    scenario: str | None = None,
    root: str | Path = ".",
    dry_run: bool = False,
    lock_timeout: float = LOCK_TIMEOUT,
) -> ImportResult:
    """Import every source of a mapping file into ``data/<scenario>/import_<name>.csv``.

    The scenario is ``scenario``, else the mapping's ``scenario`` key, else the default; its files
    are ``priors/<scenario>.toml`` and ``data/<scenario>/`` under ``root``. The new files are
    validated together with the rest of the log under the scenario lock, then each one that
    changed is replaced atomically; ``dry_run`` validates and compares but writes nothing (and
    creates no folder or lock file). Raises ``InputError`` with every problem, located at the
    mapping, an export, or the log; then nothing is written.
    """
    mapping_file = Path(mapping_file)
    raw = read_mapping_toml(mapping_file)
    named = raw.get("scenario")
    if named is not None and not (isinstance(named, str) and re.match(NAME_PATTERN, named)):
        raise InputError(
            [Problem(str(mapping_file), "(top)", "scenario", f"not a scenario name: {named!r}")]
        )
    name = scenario or named or DEFAULT_SCENARIO
    scenario_file, evidence_dir = scenario_paths(name, root)
    s = load_scenario(scenario_file)
    mapping = parse_mapping(raw, mapping_file, s)

    reads = _read_sources(mapping, s)
    targets = {sname: evidence_dir / f"{IMPORT_PREFIX}{sname}.csv" for sname in reads}
    texts = {sname: _csv_text(rows) for sname, (_, rows) in reads.items()}
    with scenario_lock(evidence_dir, lock_timeout, create=not dry_run):
        present = evidence_files(evidence_dir) if evidence_dir.is_dir() else []
        ours = set(targets.values())
        snapshot = {p: p.read_bytes() for p in present if p not in ours}
        old_bytes = {sname: t.read_bytes() if t.is_file() else None for sname, t in targets.items()}
        old = {
            sname: _old_rows(targets[sname], sname, data) if data is not None else {}
            for sname, data in old_bytes.items()
        }
        snapshot.update({targets[n]: texts[n].encode("utf-8") for n in reads})
        try:
            load_snapshot_evidence(evidence_dir, snapshot, s, exists=True)
        except InputError as exc:
            raise _at_exports(exc, targets, reads) from None
        results = []
        for sname, (reader, rows) in reads.items():
            before = old_bytes[sname]
            data = texts[sname].encode("utf-8")
            status = "created" if before is None else "unchanged" if before == data else "updated"
            added, changed, removed, same, changes = _compare(old[sname], rows)
            if status != "unchanged" and not dry_run:
                target = targets[sname]
                mode = target.stat().st_mode & 0o777 if before is not None else 0o644
                replace_atomically(target, texts[sname], mode)
            results.append(
                SourceImport(
                    name=sname,
                    kind=reader.src.kind,
                    source_file=reader.path,
                    evidence_file=targets[sname],
                    status=status,
                    rows=len(rows),
                    added=added,
                    changed=changed,
                    removed=removed,
                    unchanged_rows=same,
                    changes=changes,
                    skipped=dict(sorted(reader.out.skipped.items())),
                )
            )
    return ImportResult(mapping_file, name, evidence_dir, dry_run, tuple(results))


def _read_sources(mapping: ImportMapping, s: Scenario) -> dict[str, tuple[_Reader, list[_Row]]]:
    """Every source's rows, sorted by date and key; raises ``InputError`` with every problem of
    every source (a source that yields no row is one)."""
    reads: dict[str, tuple[_Reader, list[_Row]]] = {}
    problems: list[Problem] = []
    for sname, src in mapping.sources.items():
        reader = _Reader(sname, src, mapping, s)
        READERS[src.kind](reader)
        rows = sorted(reader.out.rows, key=lambda r: (r.cells["date"], _natural(r.key)))
        if not rows and not reader.out.problems:
            left = ", ".join(f"{n} {why}" for why, n in sorted(reader.out.skipped.items()))
            reader.at_mapping(
                "file", f"no rows to import from {reader.file} ({left or 'none left'})"
            )
        problems.extend(reader.out.problems)
        reads[sname] = (reader, rows)
    if problems:
        raise InputError(problems)
    return reads


def _at_exports(
    exc: InputError, targets: dict[str, Path], reads: dict[str, tuple[_Reader, list[_Row]]]
) -> InputError:
    """The log's problems with each row of a new import file located at the export rows it was
    made from (file, first row, the export's column), and mentions of it in other problems'
    messages (an overlapping count) rewritten the same way."""
    by_path = {str(targets[n]): (reads[n][0], reads[n][1]) for n in reads}
    mention = re.compile(
        "(" + "|".join(re.escape(p) for p in sorted(by_path, key=len, reverse=True)) + r"):(\d+)"
    )

    def export_of(path: str, row: int) -> tuple[_Reader, _Row] | None:
        reader, rows = by_path[path]
        return (reader, rows[row - 2]) if 2 <= row < len(rows) + 2 else None

    def rewrite(message: str) -> str:
        def sub(m: re.Match) -> str:
            found = export_of(m.group(1), int(m.group(2)))
            if found is None:
                return m.group(0)
            reader, row = found
            return f"{reader.file}:{row.lines[0]} (import {reader.name} {row.key})"

        return mention.sub(sub, message)

    problems = []
    for p in exc.problems:
        found = (
            export_of(p.file, p.where) if p.file in by_path and isinstance(p.where, int) else None
        )
        if found is None:
            problems.append(Problem(p.file, p.where, p.field, rewrite(p.message)))
            continue
        reader, row = found
        more = f"; with rows {', '.join(map(str, row.lines[1:]))}" if len(row.lines) > 1 else ""
        column = row.fields.get(p.field, p.field)
        problems.append(
            Problem(
                reader.file,
                row.lines[0],
                column,
                f"{rewrite(p.message)} (import {reader.name}: the {p.field} of the"
                f" {row.cells['kind']} row {row.key}{more})",
            )
        )
    return InputError(problems)
