"""Measured exports → sourced evidence files: what ``forecast evidence import`` does.

An analyst keeps a reviewable *mapping file* (TOML, e.g. ``imports/<scenario>.toml``) saying which
rows of which export feed which indicator or outcome of a scenario. Each ``[sources.<name>]``
table is one import; its ``kind`` says how the export is read:

* ``acled``: country-month event or fatality counts (optionally by event type, summed) → one
  ``count`` row a month on a count indicator, covering the whole month;
* ``ucdp``: conflict-years (filtered by any columns, e.g. ``conflict_id`` or the side codes) →
  one row a year (dated in ``month``, December by default) on a normal or rating indicator;
* ``series``: any dated numeric column (filtered) → rows on a normal, count or rating indicator;
* ``crowd``: a crowd or market probability history (platform, id, date, prob_yes) → ``forecast``
  rows on an ``outcome[:candidate]``, each with the whole months left to the question's close.

Every row carries the mapping's ``source`` and ``source_url`` and a ``note`` ``import <name>:
<export file name> <natural key>`` (``Lebanon 2023-10``), so a reader can trace it to the export.
An indicator's sign and factor are the scenario's; a crowd question asked the other way round
from its outcome says ``invert = true``.

Each source's rows go to their own file ``data/<scenario>/import_<name>.csv``, which is a
deterministic function of the mapping and the export (rows sorted by date and key, numbers written
as in the export or exactly): importing the same export again leaves the file byte-identical,
importing a longer export adds exactly the new rows. The new files are validated with the whole
log by the log's own validation (``load_snapshot_evidence``), under the scenario lock, before
any is written, each atomically (``replace_atomically``); a row that fails is reported at the
export's file, row and column. Mapping problems are reported at the mapping file, the source's
table and the key. Nothing is written if anything is wrong.
"""

from __future__ import annotations

import csv
import io
import math
import re
import tomllib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import Field, StrictFloat, StrictInt, StrictStr, ValidationError, field_validator

from forecast.data.errors import InputError, Problem
from forecast.data.evidence import COLUMNS, NUMBER_RE, _parse_date, evidence_files
from forecast.data.files import replace_atomically
from forecast.data.inputs import (
    DEFAULT_SCENARIO,
    LOCK_TIMEOUT,
    load_snapshot_evidence,
    scenario_lock,
    scenario_paths,
)
from forecast.data.months import month_end, month_label
from forecast.data.questions import CROWD_COLUMNS, _probability, _read_table, _stamp
from forecast.data.scenario import (
    MONTH_RE,
    NAME_PATTERN,
    Name,
    Scenario,
    Text,
    _loc,
    _message,
    _Strict,
    decode_utf8,
    load_scenario,
)
from forecast.data.target import Target

IMPORT_KINDS = ("acled", "ucdp", "series", "crowd")
IMPORT_PREFIX = "import_"  # data/<scenario>/import_<name>.csv
DAYS_PER_MONTH = 365.25 / 12
Aggregate = Literal["sum", "max", "min", "mean"]
Cell = StrictStr | StrictInt | StrictFloat


# --- the mapping file ---------------------------------------------------------------------------


class _Source(_Strict):
    """Keys every source table has: what to read, the provenance its rows carry, and where
    they go."""

    kind: str
    file: Text  # relative to the mapping file's folder, or absolute
    source: Text
    source_url: Text
    target: Text
    start: str | None = None  # first month to import (YYYY-MM)
    end: str | None = None  # last month to import (YYYY-MM)

    @field_validator("start", "end")
    @classmethod
    def _month(cls, v: str | None) -> str | None:
        if v is not None:
            m = MONTH_RE.match(v)
            if not m or not 1 <= int(m.group(2)) <= 12:
                raise ValueError(f"expected a month as YYYY-MM, got {v!r}")
        return v


class _Filtered(_Source):
    """A table read row by row: rows whose ``filter`` columns hold one of the given values."""

    filter: dict[str, Cell | list[Cell]] = Field(default_factory=dict)
    levels: dict[str, Name] | None = None  # rating targets: export value -> level


class AcledSource(_Source):
    """ACLED-style country-month counts (columns country, month, [event_type,] events,
    fatalities) → one count row a month."""

    kind: Literal["acled"]
    country: Text
    event_type: list[Text] | None = None
    measure: Literal["events", "fatalities"] = "events"

    @field_validator("event_type", mode="before")
    @classmethod
    def _one_or_many(cls, v: object) -> object:
        return [v] if isinstance(v, str) else v


class UcdpSource(_Filtered):
    """UCDP-style conflict-years → one row a year (``aggregate`` of the matching conflicts)."""

    kind: Literal["ucdp"]
    value_column: Text = "intensity_level"
    year_column: Text = "year"
    month: int = 12
    aggregate: Aggregate = "max"
    key_column: Text | None = None  # named in each row's key; default conflict_id if present

    @field_validator("month")
    @classmethod
    def _calendar_month(cls, v: int) -> int:
        if not 1 <= v <= 12:
            raise ValueError(f"a calendar month 1..12, got {v}")
        return v


class SeriesSource(_Filtered):
    """Any dated numeric column (dates YYYY-MM or YYYY-MM-DD) → one row per date."""

    kind: Literal["series"]
    date_column: Text
    value_column: Text
    aggregate: Aggregate | None = None  # rows sharing a date: an error unless aggregated
    observed_until_column: Text | None = None  # count targets: last day the count covers


class CrowdSource(_Source):
    """A crowd probability history (platform, id, date, prob_yes) → forecast rows."""

    kind: Literal["crowd"]
    source_url: Text | None = None  # default: the question's url in the questions file
    questions: Text | None = None  # question file: close_date (and url) of the question
    platform: Text
    id: StrictStr | StrictInt
    close_date: date | None = None
    forecaster: Text | None = None  # default: the platform
    every: Literal["day", "month"] = "day"  # keep the last point of each day or month
    invert: bool = False  # the question's yes is the outcome's no


SOURCE_MODELS: dict[str, type[_Source]] = {
    "acled": AcledSource,
    "ucdp": UcdpSource,
    "series": SeriesSource,
    "crowd": CrowdSource,
}
TOP_KEYS = ("scenario", "sources")


@dataclass(frozen=True)
class ImportMapping:
    """A checked mapping file: its path, the scenario it names (if any) and its sources by name."""

    file: Path
    scenario: str | None
    sources: dict[str, _Source]

    def path_of(self, relative: str) -> Path:
        """A file named in the mapping: relative to the mapping file's folder, or absolute."""
        return (self.file.parent / relative).expanduser()


def read_mapping_toml(path: Path) -> dict:
    """The mapping file's TOML as a dict; ``InputError`` (located) if unreadable or malformed."""
    name = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError([Problem(name, "(file)", "file", exc.strerror or str(exc))]) from None
    text, where = decode_utf8(data)
    if text is None:
        raise InputError([Problem(name, "(file)", "encoding", f"not UTF-8 text: {where}")])
    try:
        return tomllib.loads(text)
    except (tomllib.TOMLDecodeError, ValueError, RecursionError) as exc:
        why = "values nested too deeply" if isinstance(exc, RecursionError) else exc
        raise InputError([Problem(name, "(toml)", "syntax", f"malformed TOML: {why}")]) from None


def parse_mapping(raw: dict, file: Path, scenario: Scenario | None = None) -> ImportMapping:
    """Check a mapping's tables (unknown or missing keys, types) and, given the scenario, that
    every target exists and suits its kind and that every named file exists; raises
    ``InputError`` with every problem, located at the mapping file, the table and the key."""
    name = str(file)
    problems: list[Problem] = []

    def add(where: str, key: str, message: str) -> None:
        problems.append(Problem(name, where, key, message))

    for key in raw:
        if key not in TOP_KEYS:
            add("(top)", key, "unknown key (a mapping has 'scenario' and [sources.<name>] tables)")
    scen = raw.get("scenario")
    if scen is not None and not (isinstance(scen, str) and re.match(NAME_PATTERN, scen)):
        add("(top)", "scenario", f"not a scenario name: {scen!r}")
    tables = raw.get("sources")
    if not isinstance(tables, dict) or not tables:
        add("(top)", "sources", "required: at least one [sources.<name>] table")
        tables = {}
    sources: dict[str, _Source] = {}
    for sname, table in tables.items():
        if not re.match(NAME_PATTERN, sname) or len(sname) > 64:
            add("sources", sname, "not a valid source name: use lowercase letters, digits and _")
            continue
        where = f"sources.{sname}"
        if not isinstance(table, dict):
            add("sources", sname, "expected a table")
            continue
        kind = table.get("kind")
        if not isinstance(kind, str) or kind not in SOURCE_MODELS:
            add(where, "kind", f"required: one of {', '.join(IMPORT_KINDS)} (got {kind!r})")
            continue
        try:
            sources[sname] = SOURCE_MODELS[kind].model_validate(table)
        except ValidationError as exc:
            for e in exc.errors(include_url=False):
                w, key = _loc(("sources", sname, *e["loc"]))
                problems.append(Problem(name, w, key, _message(e)))
    mapping = ImportMapping(file, scen if isinstance(scen, str) else None, sources)
    if scenario is not None:
        for sname, src in sources.items():
            for key, msg in _target_problems(src, scenario):
                add(f"sources.{sname}", key, msg)
            for key, rel in (("file", src.file), ("questions", getattr(src, "questions", None))):
                if rel is not None and not mapping.path_of(rel).is_file():
                    add(f"sources.{sname}", key, f"no such file: {mapping.path_of(rel)}")
    if problems:
        raise InputError(problems)
    return mapping


def load_mapping(path: str | Path, scenario: Scenario | None = None) -> ImportMapping:
    """Read and check a mapping file (see ``parse_mapping``)."""
    path = Path(path)
    return parse_mapping(read_mapping_toml(path), path, scenario)


def _target_problems(src: _Source, s: Scenario) -> list[tuple[str, str]]:
    """(key, message) for a target the scenario lacks or that does not suit the source's kind."""
    if isinstance(src, CrowdSource):
        try:
            outcome, candidate = Target.parse(src.target)
        except ValueError as exc:
            return [("target", str(exc))]
        o = s.outcomes.get(outcome)
        if o is None:
            return [("target", f"unknown outcome {outcome!r} (known: {', '.join(s.outcomes)})")]
        if o.kind == "state":
            return [("target", f"{outcome!r} is a state outcome: forecasts need a hazard")]
        if candidate and candidate not in o.candidates:
            known = ", ".join(o.candidates) or "none"
            return [("target", f"{outcome!r} has no candidate {candidate!r} (known: {known})")]
        return []
    allowed = {
        "acled": ("count",),
        "ucdp": ("normal", "rating"),
        "series": ("normal", "count", "rating"),
    }[src.kind]
    ind = s.indicators.get(src.target)
    want = " or ".join(allowed)
    if ind is None:
        known = ", ".join(n for n, i in s.indicators.items() if i.likelihood in allowed)
        return [("target", f"unknown {want} indicator {src.target!r} (known: {known or 'none'})")]
    if ind.likelihood not in allowed:
        return [
            (
                "target",
                f"{src.kind} imports need a {want} indicator; {src.target!r} is a"
                f" {ind.likelihood} indicator",
            )
        ]
    levels = getattr(src, "levels", None)
    if ind.likelihood == "rating":
        if levels is None:
            return [("levels", f"required for the rating indicator {src.target!r}")]
        assert ind.levels is not None
        bad = sorted(set(levels.values()) - set(ind.levels))
        if bad:
            return [
                ("levels", f"{bad[0]!r} is not a level of {src.target} ({', '.join(ind.levels)})")
            ]
    elif levels is not None:
        return [
            ("levels", f"only rating indicators take levels; {src.target!r} is {ind.likelihood}")
        ]
    return []


# --- exports → rows -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Row:
    """One evidence row made from an export, with where it came from."""

    cells: dict[str, str]  # evidence column -> text
    key: str  # the natural key in the note (``Lebanon 2023-10``)
    lines: tuple[int, ...]  # the export rows it was made from
    fields: dict[str, str]  # evidence column -> the export column it came from


@dataclass
class _Read:
    """What reading one export gave: rows, rows left out (reason -> count) and problems."""

    rows: list[_Row] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)
    problems: list[Problem] = field(default_factory=list)


def _decimal(text: str) -> Decimal | None:
    if not NUMBER_RE.match(text):
        return None
    d = Decimal(text)
    return d if d.is_finite() else None


def _text(d: Decimal) -> str:
    """A number written exactly and the same way every time: ``59``, ``0.9735``, ``2.5``."""
    if d == d.to_integral_value():
        return str(int(d))
    return format(d.normalize(), "f")


def _same(cell: str, want: object) -> bool:
    """An export cell equals a mapping value: as text, or as numbers (``666.0`` is ``666``)."""
    if cell == str(want):
        return True
    a, b = _decimal(cell), _decimal(str(want))
    return a is not None and b is not None and a == b


def _aggregate(how: str, values: list[Decimal]) -> Decimal:
    if how == "sum":
        return sum(values, Decimal(0))
    if how == "max":
        return max(values)
    if how == "min":
        return min(values)
    return sum(values, Decimal(0)) / len(values)


class _Reader:
    """Turns one source's export into rows; problems go to ``out.problems``."""

    def __init__(self, name: str, src: _Source, mapping: ImportMapping, scenario: Scenario):
        self.name, self.src, self.mapping, self.s = name, src, mapping, scenario
        self.path = mapping.path_of(src.file)
        self.file = str(self.path)
        self.out = _Read()
        self.where = f"sources.{name}"

    # located problems
    def at_export(self, line: int | str, column: str, message: str) -> None:
        self.out.problems.append(Problem(self.file, line, column, message))

    def at_mapping(self, key: str, message: str) -> None:
        self.out.problems.append(Problem(str(self.mapping.file), self.where, key, message))

    def table(self) -> list[tuple[int, dict[str, str]]]:
        """The export's clean rows as (line, {column: text}); a file without data rows is a
        problem (columns the mapping names are checked by ``columns_present``)."""
        ok, rows = _read_table(self.path, (), self.out.problems)
        if not ok:
            return []
        if not rows:
            self.at_export("(file)", "rows", "no data rows")
            return []
        return [(line, rec) for line, rec, clean in rows if clean]

    def columns_present(self, rows, wanted: dict[str, str]) -> bool:
        """Whether the export has every column in ``wanted`` (mapping key -> column)."""
        header = list(rows[0][1]) if rows else []
        ok = True
        for key, col in wanted.items():
            if col not in header:
                self.at_mapping(
                    key, f"no column {col!r} in {self.file} (columns: {', '.join(header)})"
                )
                ok = False
        return ok

    def filtered(self, rows, filters: dict[str, list]) -> list[tuple[int, dict[str, str]]]:
        """The rows whose every filter column holds one of its values; a value no row holds is a
        mapping problem (a typo must not silently import nothing)."""
        header = list(rows[0][1]) if rows else []
        for col in filters:
            if col not in header:
                self.at_mapping(
                    "filter" if col not in ("country", "event_type") else col,
                    f"no column {col!r} in {self.file} (columns: {', '.join(header)})",
                )
                return []
        for col, wanted in filters.items():
            for w in wanted:
                if not any(_same(rec[col], w) for _, rec in rows):
                    key = col if col in ("country", "event_type") else f"filter.{col}"
                    self.at_mapping(key, f"no row of {self.file} has {col} = {w!r}")
        return [
            (line, rec)
            for line, rec in rows
            if all(any(_same(rec[c], w) for w in ws) for c, ws in filters.items())
        ]

    def in_range(self, d: date) -> bool:
        """Whether a row dated ``d`` is imported: inside the mapping's start..end and the
        scenario's span (rows outside are counted, not errors: an export covers more)."""
        month = month_label(d)
        src = self.src
        if (src.start and month < src.start) or (src.end and month > src.end):
            self.out.skipped["outside the mapping's start..end"] += 1
            return False
        if not self.s.start_date <= d <= self.s.end_date:
            self.out.skipped["outside the scenario span"] += 1
            return False
        return True

    def note(self, key: str) -> str:
        return f"import {self.name}: {self.path.name} {key}"

    def indicator_row(
        self,
        d: date,
        date_text: str,
        key: str,
        value: Decimal,
        value_text: str,
        lines: tuple[int, ...],
        fields: dict[str, str],
        exposure_end: date | None = None,
    ) -> _Row | None:
        """An indicator, count or rating row on the target (a rating's value through ``levels``)."""
        ind = self.s.indicators[self.src.target]
        kind = {"normal": "indicator", "count": "count", "rating": "rating"}[ind.likelihood]
        cells = dict.fromkeys(COLUMNS, "")
        cells.update(
            date=date_text,
            kind=kind,
            target=self.src.target,
            source=self.src.source,
            source_url=self.src.source_url or "",
            note=self.note(key),
        )
        if kind == "rating":
            levels = getattr(self.src, "levels", None) or {}
            level = next((lv for v, lv in levels.items() if _same(value_text, v)), None)
            if level is None:
                self.at_export(
                    lines[0],
                    fields["value"],
                    f"{value_text!r} has no level in the mapping's levels"
                    f" ({', '.join(levels)}; import {self.name})",
                )
                return None
            cells["value"] = level
        else:
            cells["value"] = _text(value)
        if kind == "count":
            end = exposure_end or month_end(d)
            cells["exposure_days"] = str((end - d).days + 1)
        return _Row(cells, key, lines, fields)


def _read_acled(r: _Reader) -> None:
    src = r.src
    assert isinstance(src, AcledSource)
    rows = r.table()
    need = {"country": "country", "measure": src.measure}
    if src.event_type:
        need["event_type"] = "event_type"
    if not rows or not r.columns_present(rows, need):
        return
    if "month" not in rows[0][1]:
        r.at_export(1, "month", "required column is missing")
        return
    filters: dict[str, list] = {"country": [src.country]}
    if src.event_type:
        filters["event_type"] = list(src.event_type)
    by_month: dict[str, list[tuple[int, Decimal]]] = {}
    seen: dict[tuple[str, str], int] = {}
    for line, rec in r.filtered(rows, filters):
        month = rec["month"]
        m = MONTH_RE.match(month)
        if not m or not 1 <= int(m.group(2)) <= 12:
            r.at_export(line, "month", f"not a month (YYYY-MM): {month!r}")
            continue
        ident = (month, rec.get("event_type", ""))
        if ident in seen:
            r.at_export(
                line,
                "month",
                f"repeats row {seen[ident]} (same country, month and event type)",
            )
            continue
        seen[ident] = line
        v = _decimal(rec[src.measure])
        if v is None:
            r.at_export(line, src.measure, f"not a number: {rec[src.measure]!r}")
            continue
        by_month.setdefault(month, []).append((line, v))
    for month, parts in sorted(by_month.items()):
        d = date(int(month[:4]), int(month[5:7]), 1)
        if not r.in_range(d):
            continue
        lines = tuple(line for line, _ in parts)
        total = sum((v for _, v in parts), Decimal(0))
        row = r.indicator_row(
            d,
            month,
            f"{src.country} {month}",
            total,
            _text(total),
            lines,
            {"date": "month", "value": src.measure, "exposure_days": "month"},
        )
        if row is not None:
            r.out.rows.append(row)


def _filters(src: _Filtered) -> dict[str, list]:
    return {c: (v if isinstance(v, list) else [v]) for c, v in src.filter.items()}


def _single_values(src: _Filtered) -> str:
    """The filter's one-value columns, as words of a row's natural key (``Lebanon``)."""
    words = []
    for v in src.filter.values():
        if not isinstance(v, list):
            words.append(_text(Decimal(str(v))) if not isinstance(v, str) else v)
    return " ".join(words)


def _grouped(
    r: _Reader,
    rows,
    date_of: Callable[[int, dict[str, str]], tuple[date, str] | None],
    value_column: str,
    aggregate: str | None,
    date_column: str,
) -> dict[str, tuple[date, list[tuple[int, str, Decimal, dict[str, str]]]]]:
    """Rows grouped by their date text: (date, [(line, value text, value, record)])."""
    groups: dict[str, tuple[date, list]] = {}
    for line, rec in rows:
        when = date_of(line, rec)
        if when is None:
            continue
        d, text = when
        raw = rec[value_column]
        v = _decimal(raw)
        if v is None:
            r.at_export(line, value_column, f"not a number: {raw!r} (import {r.name})")
            continue
        if text in groups and aggregate is None:
            first = groups[text][1][0][0]
            r.at_export(
                line,
                date_column,
                f"another row ({first}) has the date {text} and the mapping sets no aggregate"
                f" (sum, max, min or mean; import {r.name})",
            )
            continue
        groups.setdefault(text, (d, []))[1].append((line, raw, v, rec))
    return groups


def _read_ucdp(r: _Reader) -> None:
    src = r.src
    assert isinstance(src, UcdpSource)
    rows = r.table()
    need = {"value_column": src.value_column, "year_column": src.year_column}
    if src.key_column is not None:
        need["key_column"] = src.key_column
    if not rows or not r.columns_present(rows, need):
        return
    key_column = src.key_column or ("conflict_id" if "conflict_id" in rows[0][1] else None)

    def year_of(line: int, rec: dict[str, str]) -> tuple[date, str] | None:
        y = _decimal(rec[src.year_column])
        if y is None or y != y.to_integral_value() or not 1 <= y <= 9999:
            r.at_export(line, src.year_column, f"not a year: {rec[src.year_column]!r}")
            return None
        first = date(int(y), src.month, 1)
        return first, month_label(first)

    groups = _grouped(
        r,
        r.filtered(rows, _filters(src)),
        year_of,
        src.value_column,
        src.aggregate,
        src.year_column,
    )
    for text, (d, parts) in sorted(groups.items()):
        if not r.in_range(d):
            continue
        value = _aggregate(src.aggregate, [v for _, _, v, _ in parts])
        key = f"{d.year}"
        if key_column is not None:
            ids = sorted({_key_text(rec[key_column]) for _, _, _, rec in parts}, key=_natural)
            key += f" {key_column} {'+'.join(ids)}"
        raw = parts[0][1] if len(parts) == 1 else _text(value)
        row = r.indicator_row(
            d,
            text,
            key,
            value,
            raw,
            tuple(line for line, *_ in parts),
            {"date": src.year_column, "value": src.value_column},
        )
        if row is not None:
            r.out.rows.append(row)


def _key_text(cell: str) -> str:
    d = _decimal(cell)
    return _text(d) if d is not None else cell


def _natural(text: str) -> tuple:
    d = _decimal(text)
    return (0, d, "") if d is not None else (1, Decimal(0), text)


def _read_series(r: _Reader) -> None:
    src = r.src
    assert isinstance(src, SeriesSource)
    rows = r.table()
    need = {"date_column": src.date_column, "value_column": src.value_column}
    if src.observed_until_column is not None:
        need["observed_until_column"] = src.observed_until_column
    if not rows or not r.columns_present(rows, need):
        return

    def date_of(line: int, rec: dict[str, str]) -> tuple[date, str] | None:
        text = rec[src.date_column]
        d = _parse_date(text)
        if d is None:
            r.at_export(line, src.date_column, f"not a date (YYYY-MM or YYYY-MM-DD): {text!r}")
            return None
        return d, text

    groups = _grouped(
        r,
        r.filtered(rows, _filters(src)),
        date_of,
        src.value_column,
        src.aggregate,
        src.date_column,
    )
    words = _single_values(src)
    for text, (d, parts) in sorted(groups.items()):
        if not r.in_range(d):
            continue
        value = _aggregate(src.aggregate or "sum", [v for _, _, v, _ in parts])
        lines = tuple(line for line, *_ in parts)
        until = None
        if src.observed_until_column is not None:
            col = src.observed_until_column
            ends = {rec[col] for *_, rec in parts}
            until = _parse_date(next(iter(ends))) if len(ends) == 1 else None
            last = month_end(d)
            if until is None or not d <= until <= last or len(ends) != 1:
                r.at_export(
                    lines[0],
                    col,
                    f"not a date from {d} to {last} (the month the count covers):"
                    f" {', '.join(sorted(ends))!r} (import {r.name})",
                )
                continue
        raw = parts[0][1] if len(parts) == 1 else _text(value)
        fields = {"date": src.date_column, "value": src.value_column}
        fields["exposure_days"] = src.observed_until_column or src.date_column
        row = r.indicator_row(d, text, f"{words} {text}".strip(), value, raw, lines, fields, until)
        if row is not None:
            r.out.rows.append(row)


def _read_crowd(r: _Reader) -> None:
    src = r.src
    assert isinstance(src, CrowdSource)
    qid = str(src.id)
    close, url = src.close_date, src.source_url
    if src.questions is not None:
        qpath = r.mapping.path_of(src.questions)
        ok, qrows = _read_table(qpath, ("platform", "id"), r.out.problems)
        found = [
            (line, rec)
            for line, rec, clean in qrows
            if clean and rec["platform"] == src.platform and rec["id"] == qid
        ]
        if ok and not found:
            r.at_mapping("id", f"no question {src.platform}:{qid} in {qpath}")
            return
        if found:
            qline, q = found[0]
            text = q.get("close_date", "")
            if close is None and text:
                close = _parse_date(text)
                if close is None or len(text) != 10:
                    r.out.problems.append(
                        Problem(str(qpath), qline, "close_date", f"not a date: {text!r}")
                    )
                    return
            url = url or q.get("url") or None
    if close is None:
        r.at_mapping("close_date", "required: the question's close (or a questions file giving it)")
    if not url:
        r.at_mapping("source_url", "required (or a questions file with the question's url)")
    if close is None or not url:
        return
    ok, rows = _read_table(r.path, CROWD_COLUMNS, r.out.problems)
    points = []
    for line, rec, clean in rows:
        if not clean or rec["platform"] != src.platform or rec["id"] != qid:
            continue
        when, p = _stamp(rec["date"]), _probability(rec["prob_yes"])
        if when is None:
            r.at_export(line, "date", f"not a date (YYYY-MM-DD[ HH:MM[:SS]]): {rec['date']!r}")
        if p is None:
            r.at_export(line, "prob_yes", f"not a probability in [0, 1]: {rec['prob_yes']!r}")
        if when is not None and p is not None:
            points.append((when, line, rec["prob_yes"]))
    if ok and not points and not r.out.problems:
        r.at_mapping("id", f"no crowd point of {src.platform}:{qid} in {r.file}")
        return
    # points before the close and in range; of those, the last of each day (or month) counts:
    # sorted by time, file order within a time
    last: dict[str, tuple] = {}
    for when, line, text in sorted(points, key=lambda p: (p[0], p[1])):
        day = when.date()
        if (close - day).days <= 0:
            r.out.skipped["on or after the question's close"] += 1
            continue
        if not r.in_range(day):
            continue
        period = day.isoformat() if src.every == "day" else month_label(day)
        if period in last:
            r.out.skipped[f"earlier points of the same {src.every}"] += 1
        last[period] = (day, line, text)
    forecaster = src.forecaster or src.platform
    for day, line, text in sorted(last.values()):
        days = (close - day).days
        p = Decimal(text)
        value = Decimal(1) - p if src.invert else p
        cells = dict.fromkeys(COLUMNS, "")
        key = f"{src.platform}:{qid} {day.isoformat()}"
        cells.update(
            date=day.isoformat(),
            kind="forecast",
            target=src.target,
            value=_text(value),
            source=src.source,
            source_url=url,
            horizon_months=str(max(1, math.floor(days / DAYS_PER_MONTH + 0.5))),
            forecaster=forecaster,
            note=r.note(key),
        )
        r.out.rows.append(
            _Row(
                cells, key, (line,), {"date": "date", "value": "prob_yes", "horizon_months": "date"}
            )
        )


READERS: dict[str, Callable[[_Reader], None]] = {
    "acled": _read_acled,
    "ucdp": _read_ucdp,
    "series": _read_series,
    "crowd": _read_crowd,
}


def _csv_text(rows: list[_Row]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS)
    for row in rows:
        w.writerow([row.cells[c] for c in COLUMNS])
    return buf.getvalue()


# --- the result ---------------------------------------------------------------------------------


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
    try:
        table = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error:
        raise refuse("(file)", "malformed CSV") from None
    if not table:
        return {}
    header = [h.strip() for h in table[0]]
    if "note" not in header:
        raise refuse(1, "no note column")
    out = {}
    for i, cells in enumerate(table[1:], start=2):
        if not any(c.strip() for c in cells):
            continue
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


# --- the import ---------------------------------------------------------------------------------


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

    reads: dict[str, tuple[_Reader, list[_Row]]] = {}
    problems: list[Problem] = []
    for sname, src in mapping.sources.items():
        reader = _Reader(sname, src, mapping, s)
        READERS[src.kind](reader)
        problems.extend(reader.out.problems)
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
