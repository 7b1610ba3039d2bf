"""The evidence log (``data/<name>/*.csv``): dated, sourced observations validated against a scenario.

Every file shares one set of columns. Required: ``date, kind, target, value, source, source_url``;
optional: ``horizon_months`` (forecast, likelihood_ratio), ``exposure_days`` (count), ``forecaster``
(forecast), ``note``. Rows are numbered as a spreadsheet user counts them (the header is row 1).
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

from forecast.errors import InputError, Problem
from forecast.scenario import Scenario

REQUIRED = ("date", "kind", "target", "value", "source", "source_url")
OPTIONAL = ("horizon_months", "exposure_days", "forecaster", "note")
COLUMNS = REQUIRED + OPTIONAL
KINDS = ("indicator", "count", "rating", "event", "forecast", "resolution", "likelihood_ratio")
DATE_RE = re.compile(r"^\d{4}-\d{2}(-\d{2})?$")
URL_RE = re.compile(r"^https?://\S+$")
MAX_EVENT_STRENGTH = 3


@dataclass(frozen=True)
class Evidence:
    """Validated evidence rows as a tidy frame, plus the files they came from.

    ``frame`` columns: file, row, date, month, kind, target, outcome, candidate, value,
    horizon_months, exposure_days, forecaster, source, source_url, note.
    ``value`` is numeric for every kind (a rating's level index, an event's signed strength).
    """

    frame: pd.DataFrame
    files: tuple[Path, ...]

    def of_kind(self, kind: str) -> pd.DataFrame:
        return self.frame[self.frame["kind"] == kind]

    @property
    def last_month(self) -> int:
        """Index of the latest month with evidence (the forecast origin)."""
        return int(self.frame["month"].max()) if len(self.frame) else 0


def _parse_date(text: str) -> date | None:
    if not DATE_RE.match(text):
        return None
    parts = [int(p) for p in text.split("-")]
    try:
        return date(parts[0], parts[1], parts[2] if len(parts) == 3 else 1)
    except ValueError:
        return None


def _number(text: str) -> float | None:
    try:
        v = float(text)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def _month_end(d: date) -> date:
    nxt = date(d.year + (d.month == 12), d.month % 12 + 1, 1)
    return nxt - timedelta(days=1)


class _RowChecker:
    """Validates one row's fields against the scenario and returns its tidy record."""

    def __init__(self, scenario: Scenario):
        self.s = scenario

    def check(self, rec: dict[str, str], add) -> dict | None:  # noqa: C901 - a flat rule list
        s = self.s
        out: dict = {}
        ok = True
        d = _parse_date(rec["date"])
        if d is None:
            add("date", f"not a real date (YYYY-MM-DD or YYYY-MM): {rec['date']!r}")
            ok = False
        elif not s.start_date <= d <= s.end_date:
            add("date", f"{d.isoformat()} is outside the scenario span {s.start}..{s.end}")
            ok = False
        else:
            out["date"] = pd.Timestamp(d)
            out["month"] = s.month_index(d)
        kind = rec["kind"]
        if kind not in KINDS:
            add("kind", f"unknown kind {kind!r} (one of {', '.join(KINDS)})")
            return None
        for key in ("source", "source_url"):
            if not rec[key]:
                add(key, "required: every row names its source")
                ok = False
        if rec["source_url"] and not all(
            URL_RE.match(u.strip()) for u in rec["source_url"].split(" ; ")
        ):
            add("source_url", f"not an http(s) URL: {rec['source_url']!r}")
            ok = False
        target = rec["target"]
        outcome, _, candidate = target.partition(":")
        out.update(outcome=None, candidate=None)
        value_text = rec["value"]
        if kind in ("indicator", "count", "rating"):
            ind = s.indicators.get(target)
            want = {"indicator": "normal", "count": "count", "rating": "rating"}[kind]
            if ind is None:
                add("target", f"unknown indicator {target!r}")
                return None
            if ind.likelihood != want:
                add("target", f"indicator {target!r} is a {ind.likelihood} indicator, not {kind}")
                return None
            if kind == "rating":
                assert ind.levels is not None
                if value_text not in ind.levels:
                    add("value", f"{value_text!r} is not a level of {target} ({', '.join(ind.levels)})")
                    return None
                out["value"] = float(ind.levels.index(value_text))
            else:
                v = _number(value_text)
                if v is None:
                    add("value", f"not a number: {value_text!r}")
                    return None
                if kind == "count" and (v < 0 or v != int(v)):
                    add("value", f"a count must be a whole number >= 0, got {value_text!r}")
                    return None
                if kind == "indicator" and ind.transform == "log" and v <= 0:
                    add("value", f"must be > 0 for a log-transformed indicator, got {value_text!r}")
                    return None
                out["value"] = v
        elif kind == "event":
            if target not in s.factors:
                add("target", f"unknown factor {target!r}")
                return None
            v = _number(value_text)
            if v is None or v != int(v) or v == 0 or abs(v) > MAX_EVENT_STRENGTH:
                add("value", f"an event is a signed strength -3..-1 or 1..3, got {value_text!r}")
                return None
            out["value"] = v
        else:
            o = s.outcomes.get(outcome)
            if o is None:
                add("target", f"unknown outcome {outcome!r}")
                return None
            if candidate and candidate not in o.candidates:
                add("target", f"outcome {outcome!r} has no candidate {candidate!r}")
                return None
            if o.kind == "state" and kind in ("resolution", "forecast", "likelihood_ratio"):
                add(
                    "target",
                    f"{outcome!r} is a state outcome; give evidence on its measure {o.measure!r}",
                )
                return None
            out.update(outcome=outcome, candidate=candidate or None)
            v = _number(value_text)
            if kind == "resolution":
                if value_text not in ("0", "1"):
                    add("value", f"a resolution is 1 (true as of date) or 0, got {value_text!r}")
                    return None
                if o.candidates and not candidate and value_text == "1" and o.kind == "event":
                    add("target", "say which candidate happened (outcome:candidate)")
                    return None
            elif kind == "forecast" and (v is None or not 0 < v < 1):
                add("value", f"a probability strictly between 0 and 1, got {value_text!r}")
                return None
            elif kind == "likelihood_ratio" and (v is None or v <= 0):
                add("value", f"a likelihood ratio must be a number > 0, got {value_text!r}")
                return None
            out["value"] = float(value_text)
        out["horizon_months"] = None
        if kind in ("forecast", "likelihood_ratio"):
            h = rec["horizon_months"]
            if not h.isdigit() or int(h) <= 0:
                add("horizon_months", f"required for {kind}: whole months > 0, got {h!r}")
                ok = False
            else:
                out["horizon_months"] = int(h)
        elif rec["horizon_months"]:
            add("horizon_months", f"not used by kind {kind!r}")
            ok = False
        out["exposure_days"] = None
        if kind == "count":
            e = rec["exposure_days"]
            if e:
                ev = _number(e)
                if ev is None or ev <= 0:
                    add("exposure_days", f"a number of days > 0, got {e!r}")
                    ok = False
                else:
                    out["exposure_days"] = ev
            elif d is not None:
                out["exposure_days"] = float((_month_end(d) - d).days + 1)
            if ok and d is not None and d + timedelta(days=out["exposure_days"] - 1) > s.end_date:
                add("exposure_days", "the counted period runs past the scenario's end")
                ok = False
        elif rec["exposure_days"]:
            add("exposure_days", f"not used by kind {kind!r}")
            ok = False
        if kind == "forecast" and not rec["forecaster"]:
            add("forecaster", "required for forecast rows (who made the forecast)")
            ok = False
        out["forecaster"] = rec["forecaster"] or None
        return out if ok else None


def read_evidence_file(path: Path, scenario: Scenario, problems: list[Problem]) -> list[dict]:
    """Parse one evidence CSV, appending every problem found to ``problems``."""
    name = str(path)

    def file_problem(field: str, msg: str) -> list[dict]:
        problems.append(Problem(name, "(file)", field, msg))
        return []

    try:
        raw = path.read_bytes()
    except OSError as exc:
        return file_problem("file", exc.strerror or str(exc))
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return file_problem("encoding", f"not UTF-8 (byte {exc.start})")
    if "\x00" in text:
        return file_problem("encoding", "contains NUL bytes (binary file?)")
    if not text.strip():
        return file_problem("file", "empty file: expected a header row")
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error as exc:
        return file_problem("csv", f"malformed CSV: {exc}")
    header = [h.strip() for h in rows[0]]
    bad_header = False
    for col in header:
        if col not in COLUMNS:
            problems.append(Problem(name, 1, col or "(blank)", "unknown column"))
            bad_header = True
    for col in REQUIRED:
        if col not in header:
            problems.append(Problem(name, 1, col, "missing required column"))
            bad_header = True
    if len(set(header)) != len(header):
        problems.append(Problem(name, 1, "header", "a column name appears twice"))
        bad_header = True
    if bad_header:
        return []
    checker = _RowChecker(scenario)
    records = []
    for i, fields in enumerate(rows[1:], start=2):
        if not fields or all(not f.strip() for f in fields):
            continue  # blank line
        if len(fields) != len(header):
            problems.append(
                Problem(name, i, "(row)", f"has {len(fields)} fields, header has {len(header)}")
            )
            continue
        rec = dict.fromkeys(COLUMNS, "")
        rec.update({h: f.strip() for h, f in zip(header, fields, strict=True)})

        def add(field: str, msg: str, _i: int = i) -> None:
            problems.append(Problem(name, _i, field, msg))

        out = checker.check(rec, add)
        if out is None:
            continue
        out.update(
            file=name,
            row=i,
            kind=rec["kind"],
            target=rec["target"],
            source=rec["source"],
            source_url=rec["source_url"],
            note=rec["note"],
            raw=tuple(rec[c] for c in COLUMNS),
        )
        records.append(out)
    return records


def evidence_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.glob("*.csv") if p.is_file())


def load_evidence(directory: str | Path, scenario: Scenario) -> Evidence:
    """Read and validate every ``*.csv`` in ``directory``; raise ``InputError`` listing all problems."""
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError([Problem(str(directory), "(dir)", "directory", "evidence folder not found")])
    files = evidence_files(directory)
    if not files:
        raise InputError([Problem(str(directory), "(dir)", "files", "no *.csv evidence files")])
    problems: list[Problem] = []
    records: list[dict] = []
    for f in files:
        records.extend(read_evidence_file(f, scenario, problems))
    seen: dict[tuple, tuple[str, int]] = {}
    kept = []
    for r in records:
        first = seen.get(r["raw"])
        if first is not None:
            problems.append(
                Problem(r["file"], r["row"], "(row)", f"exact duplicate of {first[0]}:{first[1]}")
            )
            continue
        seen[r["raw"]] = (r["file"], r["row"])
        kept.append(r)
    if problems:
        raise InputError(problems)
    columns = ["file", "row", "date", "month", "kind", "target", "outcome", "candidate", "value",
               "horizon_months", "exposure_days", "forecaster", "source", "source_url", "note"]
    frame = pd.DataFrame.from_records(kept, columns=[*columns, "raw"]).drop(columns="raw")
    frame = frame.sort_values(["date", "file", "row"], kind="stable").reset_index(drop=True)
    return Evidence(frame=frame, files=tuple(files))
