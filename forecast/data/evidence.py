"""The evidence log (``data/<name>/*.csv``): dated, sourced observations checked against a scenario.

Every file shares one set of columns. Required: ``date, kind, target, value, source, source_url``;
optional: ``horizon_months`` (forecast, likelihood_ratio), ``exposure_days`` (count), ``forecaster``
(forecast), ``published`` (the day the row's fact became public, when later than its date: an
IAEA estimate as of June reported in September), ``note``. Rows are numbered as a spreadsheet
user counts them (the header is row 1).

``source_url`` holds one or more http(s) URLs separated by ``;`` (conventionally `` ; ``). A count
row covers the days ``date .. date + exposure_days - 1`` (default: to the end of ``date``'s month);
two count rows of the same indicator may not cover the same day, unless they belong to different
sources the scenario declares for it (``[indicators.<name>.sources.<source>]``).

Every problem in every file is collected and raised together as one ``InputError``; each names
its file, row and column.
"""

from __future__ import annotations

import stat
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from forecast.data.errors import InputError, Problem
from forecast.data.rules import COLUMNS, REQUIRED, _RowChecker
from forecast.data.scenario import Scenario
from forecast.data.table import read_table

FRAME_COLUMNS = (
    "file",
    "row",
    "date",
    "month",
    "day_known",
    "kind",
    "target",
    "outcome",
    "candidate",
    "value",
    "horizon_months",
    "exposure_days",
    "forecaster",
    "published",
    "source",
    "source_url",
    "note",
)


@dataclass(frozen=True)
class Evidence:
    """Validated evidence rows as a tidy frame, plus the files they came from.

    ``frame`` columns: file, row, date, month, day_known (the date gave a day, not only a month),
    kind, target, outcome, candidate, value, horizon_months, exposure_days, forecaster, published
    (the day it became public, NaT if not given), source, source_url, note.
    ``value`` is numeric for every kind (a rating's level index, an event's signed strength).
    """

    frame: pd.DataFrame
    files: tuple[Path, ...]

    def of_kind(self, kind: str) -> pd.DataFrame:
        return self.frame[self.frame["kind"] == kind]

    def until(self, cutoff: date) -> Evidence:
        """The rows public on ``cutoff`` (see :meth:`public_on`)."""
        keep = self.public_on() <= pd.Timestamp(cutoff)
        return Evidence(frame=self.frame[keep].reset_index(drop=True), files=self.files)

    def public_on(self) -> pd.Series:
        """The day each row's fact was public: its ``published`` day if given, else its date, or
        the end of its month when the date gives only a month (a monthly figure is known when the
        month is over); never before a count's whole period has ended (it carries those days)."""
        fr = self.frame
        start = pd.to_datetime(fr["date"])
        last_day = start + pd.offsets.MonthEnd(0)
        day_known = fr["day_known"].map(dated_to_the_day) if "day_known" in fr else False
        dated = start.where(day_known, last_day)
        published = pd.to_datetime(fr["published"]) if "published" in fr else pd.NaT
        known = dated.where(pd.isna(published), published)
        days = pd.to_numeric(fr["exposure_days"], errors="coerce")
        covered = (start + pd.to_timedelta(days - 1, unit="D")).where(days.notna(), last_day)
        return known.where(fr["kind"] != "count", np.maximum(known, covered))

    def row(self, i: int) -> dict:
        """Frame row ``i`` as a reader sees it (CLI, JSON, report): file name and row number,
        day, kind, target, value, source, source URL and note."""
        x = self.frame.loc[i]
        return {
            "file": Path(x["file"]).name,
            "row": int(x["row"]),
            "date": x["date"].date().isoformat(),
            "kind": x["kind"],
            "target": x["target"],
            "value": float(x["value"]),
            "source": x["source"],
            "source_url": x["source_url"] if isinstance(x["source_url"], str) else "",
            "note": x["note"] if isinstance(x["note"], str) else "",
        }

    @property
    def last_month(self) -> int:
        """Index of the latest month with evidence (the forecast origin)."""
        return int(self.frame["month"].max()) if len(self.frame) else 0


def dated_to_the_day(day_known: object) -> bool:
    """A frame's ``day_known`` cell as a bool: rows made elsewhere (simulated, or added by hand
    to a frame) may leave it empty, which means month precision."""
    return isinstance(day_known, bool | np.bool_) and bool(day_known)


def read_evidence_file(path: Path, scenario: Scenario, problems: list[Problem]) -> list[dict]:
    """Parse one evidence CSV, appending every problem found to ``problems``."""
    name = str(path)
    rows = read_table(path, REQUIRED, problems, known=COLUMNS)
    checker = _RowChecker(scenario)
    records = []
    for r in rows or []:
        if not r.clean:
            continue
        rec = dict.fromkeys(COLUMNS, "") | r.cells

        def add(field: str, msg: str, _i: int = r.row) -> None:
            problems.append(Problem(name, _i, field, msg))

        out = checker.check(rec, add)
        if out is None:
            continue
        out.update(file=name, row=r.row, **{k: rec[k] for k in _KEPT})
        out["raw"] = tuple(rec[c] for c in COLUMNS)
        records.append(out)
    return records


_KEPT = ("kind", "target", "source", "source_url", "note")  # cells a record keeps as written


def _duplicates(records: list[dict], problems: list[Problem]) -> list[dict]:
    """Drop exact duplicate rows (all columns equal), reporting each with its first occurrence."""
    seen: dict[tuple, tuple[str, int]] = {}
    kept = []
    for r in records:
        first = seen.get(r["raw"])
        if first is not None:
            problems.append(
                Problem(
                    r["file"],
                    r["row"],
                    "(row)",
                    f"duplicate row: the same as {first[0]}:{first[1]}",
                )
            )
            continue
        seen[r["raw"]] = (r["file"], r["row"])
        kept.append(r)
    return kept


def _overlapping_counts(records: list[dict], problems: list[Problem], scenario: Scenario) -> None:
    """Report count rows whose period shares a day with an earlier row of the same series: the
    same target and source (sources the scenario declares for an indicator may count the same days,
    which is what measures their offsets; the rows of no declared source are one series)."""
    by_series: dict[tuple[str, str | None], list[dict]] = defaultdict(list)
    for r in records:
        if r["kind"] == "count" and r["exposure_days"] is not None:
            source = scenario.indicators[r["target"]].source_of(r["source"])
            by_series[r["target"], source].append(r)
    for (_, source), rows in by_series.items():
        of = f", source {source!r}" if source is not None else ""
        rows.sort(key=lambda r: (r["date"], r["file"], r["row"]))
        latest: dict | None = None  # the earlier row whose period ends last
        for r in rows:
            start = r["date"].date()
            end = start + timedelta(days=int(r["exposure_days"]) - 1)
            if latest is not None:
                l_start = latest["date"].date()
                l_end = l_start + timedelta(days=int(latest["exposure_days"]) - 1)
                if start <= l_end:
                    problems.append(
                        Problem(
                            r["file"],
                            r["row"],
                            "date",
                            f"counted period {start}..{end} overlaps the period "
                            f"{l_start}..{l_end} of {latest['file']}:{latest['row']} "
                            f"(same target {r['target']!r}{of}; a day may be counted only once)",
                        )
                    )
                if end <= l_end:
                    continue
            latest = r


def evidence_files(directory: Path) -> list[Path]:
    """The log's files: every ``*.csv`` file in ``directory``, sorted.

    Nothing that looks like part of the log is skipped silently, since its rows would be left out
    of every fit: a name ending in ``.CSV`` (any case but lower), a broken symbolic link, or a
    directory (or pipe, device) named ``*.csv`` raises ``InputError`` locating each such entry.
    """
    try:
        entries = sorted(directory.iterdir())
    except OSError as exc:
        raise InputError(
            [Problem(str(directory), "(dir)", "directory", exc.strerror or str(exc))]
        ) from None
    files, problems = [], []
    for p in entries:
        if not p.name.lower().endswith(".csv"):
            continue

        def bad(msg: str, _p: Path = p) -> None:
            problems.append(Problem(str(_p), "(file)", "file", msg))

        if not p.name.endswith(".csv"):
            bad(f"evidence files must end in lower-case .csv (rename it {p.stem}.csv)")
            continue
        try:
            st = p.stat()  # follows symbolic links
        except FileNotFoundError:
            bad("broken symbolic link (its target does not exist)")
            continue
        except OSError as exc:
            bad(exc.strerror or str(exc))
            continue
        if stat.S_ISDIR(st.st_mode):
            bad("a directory, not a CSV file (evidence files are *.csv files)")
        elif not stat.S_ISREG(st.st_mode):
            bad("not a regular file (a pipe or device?), not a CSV file")
        else:
            files.append(p)
    if problems:
        raise InputError(problems)
    return files


def load_evidence(directory: str | Path, scenario: Scenario) -> Evidence:
    """Read and check every ``*.csv`` in ``directory``; raise ``InputError`` with all problems
    (an entry named like an evidence file that is not one is a problem too: ``evidence_files``)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError(
            [Problem(str(directory), "(dir)", "directory", "evidence folder not found")]
        )
    files = evidence_files(directory)
    if not files:
        raise InputError([Problem(str(directory), "(dir)", "files", "no *.csv evidence files")])
    problems: list[Problem] = []
    records: list[dict] = []
    for f in files:
        records.extend(read_evidence_file(f, scenario, problems))
    kept = _duplicates(records, problems)
    _overlapping_counts(kept, problems, scenario)
    if problems:
        raise InputError(problems)
    frame = pd.DataFrame.from_records(kept, columns=[*FRAME_COLUMNS, "raw"]).drop(columns="raw")
    frame = frame.sort_values(["date", "file", "row"], kind="stable").reset_index(drop=True)
    return Evidence(frame=frame, files=tuple(files))
